"""Files in and out of a workspace (issue 17): Holdfast's files API beside nginx, in one run.

The same file (random bytes, made once) goes up and comes down with curl, to and from Holdfast and
to and from Debian's nginx on the same machine (a minimal config in a temp dir: WebDAV `PUT`, the
body's temp files on the same filesystem as its root, `sendfile on` as Debian ships it). The
machine is shared and noisy, so the two sides are interleaved, round after round, in an order that
turns each round; the figures are medians of the rounds and the ratio of the medians.

1. **Upload**: `curl -T FILE` (PUT) to `/api/v1/workspace/files` and to nginx; and the tus path
   (`POST /api/v1/workspace/uploads`, then the whole file in one `curl -X PATCH -T FILE`).
   Target: Holdfast >= 80 % of nginx.
2. **Download**: `curl -o /dev/null` of the same file from `/api/v1/workspace/files` and from
   nginx (a static file). Target: >= 80 % of nginx.
3. **Server RSS** during each transfer: VmRSS every 50 ms, idle just before, peak during, peak
   minus idle (nginx's worker beside it). Target: <= 32 MiB above idle.

Every timed transfer starts after a `sync` (no writeback of the previous one pending). Holdfast
puts a finished upload in place only after `fdatasync` (the file appears whole or not at all);
nginx's PUT does not sync, so the upload rows compare a durable write with a page-cache one; a
line beside them adds the time of an `fdatasync` of nginx's file to nginx's. Holdfast's files live
on the user's quota volume (ext4 in a loop-mounted image), nginx's straight on /tmp's filesystem.
curl sends `Expect: 100-continue` before a large body, as a user's curl does; the run also times
a 4 MiB PUT with and without it, and `--no-expect` leaves it out of every upload.
Holdfast snapshots the workspace 30 s after a change: the file downloaded is uploaded first and
its snapshot waited for, every uploaded file is removed from the disk at once (so no snapshot
reads it), and a transfer during which restic ran is counted in the output.

    .venv/bin/python bench/files_bench.py [--binary PATH] [--size-mib 1024] [--rounds 5] [--json]
    .venv/bin/python bench/files_bench.py --size-mib 64 --rounds 2     # a quick check

The binary: `--binary`, else HOLDFAST_BINARY, else `.build-release/release/holdfast` if present,
else `.build/debug/holdfast`. Needs nginx (`apt-get install nginx`) and curl; runs as root (the
server mounts each workspace's quota volume). Results go to bench/results/files.json; `--json`
prints them on stdout instead of the table (progress goes to stderr either way).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urljoin

import requests

from common import ROOT, Server, loadavg, write_result
from desktop_bench import free_port
from sandbox_cost import children

sys.path.insert(0, str(ROOT / "e2e"))
from conftest import unmount_under  # noqa: E402  (the e2e suite's: lazily, innermost first)

MIB = 1 << 20
TUS = {"Tus-Resumable": "1.0.0"}
EMAIL, PASSWORD = "ann@acme.test", "correct horse"
# What curl prints after each transfer: status, speeds (bytes/s over the whole transfer), times.
CURL_FORMAT = "%{http_code} %{speed_upload} %{speed_download} %{time_total} %{size_upload} %{size_download}"
TARGET_RATIO = 0.80
TARGET_RSS_GROWTH_MIB = 32.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def default_binary() -> Path:
    if "HOLDFAST_BINARY" in os.environ:
        return Path(os.environ["HOLDFAST_BINARY"])
    release = ROOT / ".build-release" / "release" / "holdfast"
    return release if release.exists() else ROOT / ".build" / "debug" / "holdfast"


# --- nginx, the peer -----------------------------------------------------------------------------

NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
user root root;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    default_type application/octet-stream;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {prefix}/root;
        location / {{
            dav_methods PUT;
            client_max_body_size 0;
        }}
    }}
}}
"""


class Nginx:
    """nginx in the foreground on a free loopback port, everything under `prefix`."""

    def __init__(self, prefix: Path):
        binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
        if binary is None:
            raise SystemExit("nginx is missing: `apt-get install nginx` (Debian's package; it is in the set-up "
                             "script's TEST_PACKAGES)")
        built = subprocess.run([binary, "-V"], capture_output=True, text=True).stderr
        if "--with-http_dav_module" not in built:
            raise SystemExit(f"{binary} has no WebDAV module (PUT); install Debian's `nginx`")
        self.prefix = prefix
        self.root = prefix / "root"
        self.root.mkdir(parents=True)
        self.port = free_port()
        config = prefix / "nginx.conf"
        config.write_text(NGINX_CONF.format(prefix=prefix, port=self.port))
        self.process = subprocess.Popen([binary, "-c", str(config), "-p", str(prefix), "-e", str(prefix / "error.log")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 20
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"nginx exited ({self.process.returncode}): {self.process.stderr.read()}"
                                 f"{(prefix / 'error.log').read_text() if (prefix / 'error.log').exists() else ''}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("nginx did not listen within 20 s") from None
                time.sleep(0.05)
        workers = children(self.process.pid)
        self.worker = workers[0] if workers else self.process.pid

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: the worker finishes, then both exit
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


# --- measuring -----------------------------------------------------------------------------------

def vm_rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def restic_running(server_pid: int) -> bool:
    """Whether the server has a restic child now (a snapshot or its repository's set-up)."""
    for child in children(server_pid):
        try:
            if Path(f"/proc/{child}/comm").read_text().strip() == "restic":
                return True
        except OSError:
            pass
    return False


class Sampler:
    """VmRSS of some processes every `interval` while a transfer runs; the peak of each, and
    whether the server ran restic meanwhile."""

    def __init__(self, pids: dict[str, int], server_pid: int, interval: float = 0.05):
        self.pids = pids
        self.server_pid = server_pid
        self.interval = interval
        self.idle = {name: vm_rss_kib(pid) for name, pid in pids.items()}
        self.peak = dict(self.idle)
        self.samples = 0
        self.restic = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], vm_rss_kib(pid))
            self.restic = self.restic or restic_running(self.server_pid)
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        self._thread.join()
        for name, pid in self.pids.items():  # one last look: the end of the transfer
            self.peak[name] = max(self.peak[name], vm_rss_kib(pid))

    def report(self) -> dict:
        return {name: {"idle_mib": round(self.idle[name] / 1024, 1), "peak_mib": round(self.peak[name] / 1024, 1),
                       "growth_mib": round((self.peak[name] - self.idle[name]) / 1024, 1)} for name in self.pids}


def curl(*args: str) -> dict:
    """One curl transfer; its status, time and speed (bytes/s over the whole transfer, as curl counts)."""
    result = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", CURL_FORMAT, *args],
                            capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise RuntimeError(f"curl {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    code, speed_up, speed_down, total, size_up, size_down = result.stdout.split()
    return {"status": int(code), "seconds": float(total), "speed_upload": float(speed_up),
            "speed_download": float(speed_down), "size_upload": int(size_up), "size_download": int(size_down)}


class Bench:
    """The two servers, the file, and one timed transfer of each kind."""

    def __init__(self, server: Server, nginx: Nginx, source: Path, auth: Path, workspace: Path, token: str,
                 expect: bool):
        self.server = server
        self.nginx = nginx
        self.source = source
        self.size = source.stat().st_size
        self.auth = auth  # a curl header file: the token stays off the command line
        self.workspace = workspace
        self.token = token
        # curl sends `Expect: 100-continue` before a large body; `--no-expect` sends none.
        self.expect_args = () if expect else ("-H", "Expect:")

    def files_url(self, path: str) -> str:
        return f"{self.server.url}/api/v1/workspace/files?path={path}"

    def timed(self, run) -> dict:
        os.sync()  # the previous transfer's writeback is not this one's
        with Sampler({"holdfast": self.server.process.pid, "nginx": self.nginx.worker},
                     self.server.process.pid) as sampler:
            measured = run()
        measured["rss"] = sampler.report()
        measured["restic_during"] = sampler.restic
        return measured

    def check(self, measured: dict, status: int, what: str) -> dict:
        moved = measured["size_upload"] if measured["speed_upload"] else measured["size_download"]
        if measured["status"] != status or moved != self.size:
            raise RuntimeError(f"{what}: HTTP {measured['status']}, {moved} bytes of {self.size} "
                               f"(server says: {''.join(self.server.output[-5:])})")
        return measured

    def put(self, name: str) -> dict:
        path = f"bench/{name}"
        measured = self.timed(lambda: curl("-T", str(self.source), "-H", f"@{self.auth}", *self.expect_args,
                                           self.files_url(path)))
        (self.workspace / path).unlink(missing_ok=True)  # before the snapshot 30 s later could read it
        return self.check(measured, 201, f"PUT {path}")

    def tus(self, name: str) -> dict:
        path = f"bench/{name}"
        created = requests.post(f"{self.server.url}/api/v1/workspace/uploads", timeout=60, headers={
            **TUS, "Authorization": f"Bearer {self.token}", "Upload-Length": str(self.size),
            "Upload-Metadata": "path " + base64.b64encode(path.encode()).decode()})
        if created.status_code != 201:
            raise RuntimeError(f"tus POST {path}: {created.status_code} {created.text}")
        location = urljoin(self.server.url + "/", created.headers["Location"])
        measured = self.timed(lambda: curl("-X", "PATCH", "-T", str(self.source), "-H", f"@{self.auth}",
                                           "-H", "Tus-Resumable: 1.0.0", "-H", "Upload-Offset: 0",
                                           "-H", "Content-Type: application/offset+octet-stream",
                                           *self.expect_args, location))
        (self.workspace / path).unlink(missing_ok=True)
        return self.check(measured, 204, f"tus PATCH {path}")

    def nginx_put(self, name: str) -> dict:
        measured = self.timed(lambda: curl("-T", str(self.source), *self.expect_args, f"{self.nginx.url}/{name}"))
        # What making nginx's file durable costs (Holdfast's PUT includes its fdatasync): untimed
        # by curl, added to its time for the "nginx PUT + fdatasync" line.
        started = time.perf_counter()
        descriptor = os.open(self.nginx.root / name, os.O_RDONLY)
        try:
            os.fdatasync(descriptor)
        finally:
            os.close(descriptor)
        measured["fdatasync_seconds"] = time.perf_counter() - started
        (self.nginx.root / name).unlink(missing_ok=True)
        return self.check(measured, 201, f"nginx PUT {name}")

    def get(self) -> dict:
        measured = self.timed(lambda: curl("-H", f"@{self.auth}", self.files_url("bench/download.bin")))
        return self.check(measured, 200, "GET bench/download.bin")

    def nginx_get(self) -> dict:
        return self.check(self.timed(lambda: curl(f"{self.nginx.url}/download.bin")), 200, "nginx GET download.bin")


def expect_probe(bench: Bench, scratch: Path) -> dict:
    """A 4 MiB PUT with and without `Expect: 100-continue`, to both: does each answer it at once?
    (curl waits up to 1 s for `100 Continue` before it sends the body anyway.)"""
    small = scratch / "probe.bin"
    small.write_bytes(os.urandom(4 * MIB))
    found = {}
    for label, extra in (("with_expect", ()), ("without_expect", ("-H", "Expect:"))):
        hf = curl("-T", str(small), "-H", f"@{bench.auth}", *extra, bench.files_url(f"bench/probe-{label}.bin"))
        (bench.workspace / "bench" / f"probe-{label}.bin").unlink(missing_ok=True)
        ng = curl("-T", str(small), *extra, f"{bench.nginx.url}/probe-{label}.bin")
        (bench.nginx.root / f"probe-{label}.bin").unlink(missing_ok=True)
        found[label] = {"holdfast_s": round(hf["seconds"], 3), "nginx_s": round(ng["seconds"], 3),
                        "holdfast_status": hf["status"], "nginx_status": ng["status"]}
    small.unlink()
    found["holdfast_waits_for_curl_timeout"] = (found["with_expect"]["holdfast_s"]
                                                - found["without_expect"]["holdfast_s"]) > 0.5
    found["nginx_waits_for_curl_timeout"] = (found["with_expect"]["nginx_s"] - found["without_expect"]["nginx_s"]) > 0.5
    return found


def wait_for_snapshots(server: Server, token: str, timeout: float) -> float:
    """Waits until the workspace has a snapshot and no restic runs (the first one reads the whole
    download file); returns the seconds waited."""
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {token}"}
    while time.monotonic() - started < timeout:
        listed = requests.get(f"{server.url}/api/v1/workspace/snapshots", headers=headers, timeout=120)
        if listed.status_code == 200 and listed.json()["items"] and not restic_running(server.process.pid):
            activity = requests.get(f"{server.url}/api/v1/workspace/activity", headers=headers, timeout=30)
            if activity.status_code == 200 and not activity.json()["items"]:
                return time.monotonic() - started
        time.sleep(1)
    log(f"no finished snapshot after {timeout:.0f} s; going on (restic may run during the first rounds)")
    return time.monotonic() - started


def make_source(path: Path, size: int) -> None:
    with path.open("wb") as out:
        left = size
        while left:
            chunk = min(left, 16 * MIB)
            out.write(os.urandom(chunk))
            left -= chunk


# --- the run -------------------------------------------------------------------------------------

def run(options: argparse.Namespace) -> dict:
    binary = options.binary.absolute()
    if not binary.exists():
        raise SystemExit(f"{binary} is missing; `make bench` builds the release binary")
    size = options.size_mib * MIB
    scratch = Path(tempfile.mkdtemp(prefix="hf-files-", dir="/tmp"))
    free = shutil.disk_usage(scratch).free
    if free < 6 * size + 2 * 1024 * MIB:
        shutil.rmtree(scratch)
        raise SystemExit(f"{free / 2**30:.1f} GiB free in /tmp; this run needs ~{6 * size / 2**30 + 2:.0f} GiB "
                         "(the file, nginx's copy, Holdfast's copy, its snapshot, the uploads in flight)")
    log(f"binary: {binary}")
    result: dict = {"binary": str(binary), "size_mib": options.size_mib, "rounds": options.rounds,
                    "expect_100_continue": options.expect, "loadavg_at_start": loadavg()}
    server = nginx = None
    try:
        log(f"making {options.size_mib} MiB of random bytes in {scratch}")
        source = scratch / "source.bin"
        make_source(source, size)
        nginx = Nginx(scratch / "nginx")
        server = Server(member=False, binary=binary)
        server.first_operator()  # printed by the first start of a fresh store: the server is whole
        options_answer = requests.options(f"{server.url}/api/v1/workspace/uploads", timeout=30)
        if options_answer.status_code != 204 or "Tus-Version" not in options_answer.headers:
            raise SystemExit(f"{binary} has no files API (OPTIONS /api/v1/workspace/uploads: "
                             f"{options_answer.status_code}); build this tree first")
        server.cli("admin", "create-tenant", "--name", "Acme", "--slug", "acme")
        server.cli("admin", "create-user", "--tenant", "acme", "--email", EMAIL, "--password", PASSWORD,
                   "--role", "member")
        token = server.login(EMAIL, PASSWORD)
        auth = scratch / "auth.header"
        auth.touch(mode=0o600)
        auth.write_text(f"Authorization: Bearer {token}\n")
        user = requests.get(f"{server.url}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"},
                            timeout=30).json()["user"]
        # The first call of the files API mounts the user's quota volume; then the folder is there.
        listing = requests.get(f"{server.url}/api/v1/workspace/files", params={"path": "", "list": "1"},
                               headers={"Authorization": f"Bearer {token}"}, timeout=120)
        listing.raise_for_status()
        workspace = server.data_dir / "workspaces" / user["tenantId"] / user["id"]
        bench = Bench(server, nginx, source, auth, workspace, token, options.expect)

        result["expect_probe"] = expect_probe(bench, scratch)
        log(f"Expect: 100-continue, 4 MiB PUT: {result['expect_probe']}")

        # The file to download: uploaded once (untimed), and nginx's own copy.
        placed = curl("-T", str(source), "-H", f"@{auth}", "-H", "Expect:", bench.files_url("bench/download.bin"))
        if placed.get("status") != 201:
            raise RuntimeError(f"could not place the download file: HTTP {placed['status']}")
        shutil.copyfile(source, nginx.root / "download.bin")
        log("waiting for the server's snapshot of the download file (it snapshots a change after 30 s)")
        result["snapshot_wait_s"] = round(wait_for_snapshots(server, token, options.snapshot_timeout), 1)
        log(f"  done after {result['snapshot_wait_s']} s")

        time.sleep(1)
        idle_start = vm_rss_kib(server.process.pid) / 1024
        runs: dict[str, list[dict]] = {"put": [], "tus": [], "nginx_put": [], "get": [], "nginx_get": []}
        uploads = ["put", "nginx_put", "tus"]
        downloads = ["get", "nginx_get"]
        for round_ in range(options.rounds):
            # Each round starts with a different side, so neither always follows the other.
            order = uploads[round_ % 3:] + uploads[:round_ % 3] + downloads[round_ % 2:] + downloads[:round_ % 2]
            for kind in order:
                name = f"{kind}-{round_}.bin"
                measured = {"put": lambda: bench.put(name), "tus": lambda: bench.tus(name),
                            "nginx_put": lambda: bench.nginx_put(name), "get": bench.get,
                            "nginx_get": bench.nginx_get}[kind]()
                runs[kind].append(measured)
            log(f"round {round_ + 1}/{options.rounds}: " + ", ".join(
                f"{kind} {mb_per_s(runs[kind][-1]):.0f} MB/s" for kind in uploads + downloads)
                + "; Holdfast RSS +" + "/+".join(f"{runs[k][-1]['rss']['holdfast']['growth_mib']:.0f}"
                                                 for k in ("put", "tus", "get")) + " MiB (put/tus/get)")
        time.sleep(2)
        result["holdfast_idle_rss_mib"] = {"before_first_transfer": round(idle_start, 1),
                                           "after_last_transfer": round(vm_rss_kib(server.process.pid) / 1024, 1)}
        result["holdfast_vmhwm_mib"] = vm_hwm_mib(server.process.pid)
        result["runs"] = runs
        result.update(summarise(runs))
        return result
    finally:
        if server is not None:
            server.stop()
            unmount_under(server.data_dir)
            result["cleanup"] = server.cleanup()
            # What the server said after it listened (not the first operator's password before it).
            said = "".join(server.output).partition("listening on")[2].splitlines()[1:]
            result["server_log_tail"] = said[-20:]
        if nginx is not None:
            result["nginx_exit"] = nginx.stop()
        shutil.rmtree(scratch, ignore_errors=True)
        result["loadavg_at_end"] = loadavg()


def vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def mb_per_s(measured: dict) -> float:
    return (measured["speed_upload"] or measured["speed_download"]) / 1e6


def summarise(runs: dict[str, list[dict]]) -> dict:
    median = {kind: round(statistics.median(mb_per_s(m) for m in values), 1) for kind, values in runs.items()}
    median["nginx_put_synced"] = round(statistics.median(
        m["size_upload"] / (m["seconds"] + m["fdatasync_seconds"]) / 1e6 for m in runs["nginx_put"]), 1)
    rss = {}
    for kind in ("put", "tus", "get"):
        growth = [m["rss"]["holdfast"]["growth_mib"] for m in runs[kind]]
        peer = "nginx_get" if kind == "get" else "nginx_put"
        rss[kind] = {
            "idle_mib": statistics.median(m["rss"]["holdfast"]["idle_mib"] for m in runs[kind]),
            "peak_mib": statistics.median(m["rss"]["holdfast"]["peak_mib"] for m in runs[kind]),
            "growth_median_mib": round(statistics.median(growth), 1), "growth_max_mib": max(growth),
            "nginx_worker_growth_median_mib": round(statistics.median(
                m["rss"]["nginx"]["growth_mib"] for m in runs[peer]), 1),
            "nginx_worker_peak_mib": statistics.median(m["rss"]["nginx"]["peak_mib"] for m in runs[peer]),
        }
    return {
        "median_mb_per_s": median,
        "ratio": {"put": round(median["put"] / median["nginx_put"], 2),
                  "tus": round(median["tus"] / median["nginx_put"], 2),
                  "put_vs_nginx_put_synced": round(median["put"] / median["nginx_put_synced"], 2),
                  "get": round(median["get"] / median["nginx_get"], 2)},
        "rss": rss,
        "transfers_with_restic_running": sum(m["restic_during"] for values in runs.values() for m in values),
    }


def table(result: dict) -> str:
    median, ratio, rss = result["median_mb_per_s"], result["ratio"], result["rss"]

    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**missed**"

    rows = [
        ("upload, `curl -T` (PUT), MB/s", f"{median['put']:,.0f}", f"{median['nginx_put']:,.0f}",
         f"{ratio['put']:.2f}", "≥ 0.80", verdict(ratio["put"] >= TARGET_RATIO)),
        ("upload, tus: one `PATCH -T` of the whole file, MB/s (peer: nginx PUT)", f"{median['tus']:,.0f}",
         f"{median['nginx_put']:,.0f}", f"{ratio['tus']:.2f}", "≥ 0.80", verdict(ratio["tus"] >= TARGET_RATIO)),
        ("— beside nginx PUT + `fdatasync` of its file (durable, as Holdfast's PUT is), MB/s",
         f"{median['put']:,.0f}", f"{median['nginx_put_synced']:,.0f}", f"{ratio['put_vs_nginx_put_synced']:.2f}",
         "—", "—"),
        ("download, `curl -o /dev/null` (GET), MB/s", f"{median['get']:,.0f}", f"{median['nginx_get']:,.0f}",
         f"{ratio['get']:.2f}", "≥ 0.80", verdict(ratio["get"] >= TARGET_RATIO)),
    ]
    for kind, label in (("put", "PUT"), ("tus", "tus PATCH"), ("get", "GET")):
        figures = rss[kind]
        rows.append((f"server RSS during a {label}: idle → peak (+growth; worst round), MiB",
                     f"{figures['idle_mib']:.1f} → {figures['peak_mib']:.1f} (+{figures['growth_median_mib']:.1f};"
                     f" worst +{figures['growth_max_mib']:.1f})",
                     f"worker {figures['nginx_worker_peak_mib']:.1f} (+{figures['nginx_worker_growth_median_mib']:.1f})",
                     "—", "≤ +32", verdict(figures["growth_max_mib"] <= TARGET_RSS_GROWTH_MIB)))
    lines = [f"| metric ({result['size_mib']} MiB, median of {result['rounds']}) | Holdfast | nginx | ratio | target | met? |",
             "|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    idle = result["holdfast_idle_rss_mib"]
    probe = result["expect_probe"]
    lines += [
        "",
        f"binary {result['binary']}; load {result['loadavg_at_start']} → {result['loadavg_at_end']}; "
        f"Expect: 100-continue sent: {'yes' if result['expect_100_continue'] else 'no'}",
        f"Holdfast idle RSS before the first / after the last transfer: {idle['before_first_transfer']} / "
        f"{idle['after_last_transfer']} MiB (VmHWM {result['holdfast_vmhwm_mib']} MiB)",
        f"transfers during which restic ran: {result['transfers_with_restic_running']}; "
        f"waited {result['snapshot_wait_s']} s for the first snapshot",
        f"4 MiB PUT with / without `Expect: 100-continue`: Holdfast {probe['with_expect']['holdfast_s']} / "
        f"{probe['without_expect']['holdfast_s']} s, nginx {probe['with_expect']['nginx_s']} / "
        f"{probe['without_expect']['nginx_s']} s"
        + (" (Holdfast does not answer `Expect: 100-continue`: curl waits 1 s before sending)"
           if probe["holdfast_waits_for_curl_timeout"] else ""),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", type=Path, default=default_binary())
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-expect", dest="expect", action="store_false",
                        help="send uploads without `Expect: 100-continue` (curl sends it by default)")
    parser.add_argument("--snapshot-timeout", type=float, default=600,
                        help="how long to wait for the snapshot of the download file (seconds)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of the table")
    options = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the server mounts each workspace's quota volume")
    result = run(options)
    path = write_result("files", result)
    if options.json:
        print(json.dumps(result, indent=2))
    else:
        print(table(result))
        print(f"\nresults in {path}")


if __name__ == "__main__":
    main()
