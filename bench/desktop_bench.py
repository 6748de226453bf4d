"""Desktop sessions (issue 16): the gateway beside Debian's websockify, and what a desktop costs.

Runs against the release build, side by side in one run (the machine is shared and noisy, so
compare the ratios):

1. **Throughput server → client**: one source, a program inside a desktop's sandbox (as its user)
   that takes the place of Xvnc's socket and writes `--megabytes` as fast as the socket takes them;
   read three ways by the same client: straight from the Unix socket (the ceiling), through
   Holdfast's attach WebSocket, and through `websockify --unix-target` on the same socket.
   Interleaved rounds, median MB/s of each (targets: gateway >= 2x websockify and >= 50 % of the
   direct read).
2. **Memory per held connection** at 100 and 1,000 idle viewers (RFB handshake done, then
   silent): the server's RSS growth per connection, and websockify's (its parent and the
   process it forks per connection, PSS) for the same viewers (target: <= 64 KiB each).
3. **Desktop start -> first framebuffer update** (`POST /sessions {"kind":"desktop"}`, ticket,
   attach, RFB handshake, update requests as noVNC makes them, until pixels arrive), and
   **resume** (a new WebSocket on a running desktop -> first update with pixels), p50/p99
   (targets: start <= 1.5 s, resume p99 <= 100 ms).
4. **Idle desktop memory**: PSS of every process in an idle desktop's sandbox (Xvnc, openbox,
   xterm, bash, tmux, bwrap) (target: <= 64 MiB).

    .venv/bin/python bench/desktop_bench.py [--megabytes 1024] [--rounds 5] [--resumes 200]

Results go to bench/results/desktop.json.
"""

from __future__ import annotations

import argparse
import base64
import os
import socket
import statistics
import struct
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from common import BINARY, ROOT, Server, loadavg, pss_kib, rss_mib, summary, write_result

sys.path.insert(0, str(ROOT / "e2e"))
from rfb import Viewer  # noqa: E402  (the e2e suite's RFB viewer)

JAIL = BINARY.parent / "holdfast-jail"  # beside the server, as the server finds it

# The source: takes the place of Xvnc's socket inside the sandbox. Every connection gets the RFB
# version, then `total` bytes (mode blast) or nothing more (mode idle), and is closed after.
SOURCE = textwrap.dedent("""
    import os, socket, sys, threading
    path, mode, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".new")
    os.chmod(path + ".new", 0o600)
    listener.listen(2048)
    os.rename(path + ".new", path)
    print("ready", flush=True)
    chunk = memoryview(b"\\xa5" * (1 << 20))
    def serve(connection):
        with connection:
            connection.sendall(b"RFB 003.008\\n")
            if mode == "idle":
                connection.recv(1)  # until the reader goes
                return
            left = total
            while left > 0:
                left -= connection.send(chunk[: min(left, len(chunk))])
            connection.shutdown(socket.SHUT_WR)
            connection.recv(1)
    while True:
        connection, _ = listener.accept()
        threading.Thread(target=serve, args=(connection,), daemon=True).start()
""")


def sandbox_pid(server: Server, session_id: str) -> str:
    leader = (server.data_dir / "sessions" / session_id / "sandbox.pid").read_text().strip()
    return Path(f"/proc/{leader}/task/{leader}/children").read_text().split()[0]


def in_sandbox(server: Server, session_id: str, *command: str, background: bool = False):
    """Runs a command in the session's sandbox as its user, as the server runs its tmux clients."""
    folder = server.data_dir / "sessions" / session_id
    uid, gid = (folder / "account").read_text().strip().split(":")
    argv = [str(JAIL), "enter", "--target", sandbox_pid(server, session_id), "--uid", uid, "--gid", gid,
            "--seccomp", str(folder / "seccomp.bpf"), "--chdir", "/home/user", "--", *command]
    environment = {"PATH": "/usr/bin:/bin", "HOME": "/home/user", "LANG": "C.UTF-8"}
    if background:
        return subprocess.Popen(argv, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(argv, env=environment, capture_output=True, text=True, timeout=30, check=True)


def start_desktop(server: Server, http=None) -> str:
    http = http or server.http
    response = http.post(f"{server.url}/api/v1/sessions", json={"kind": "desktop"}, timeout=60)
    assert response.status_code == 201, response.text + "\n" + "".join(server.output[-10:])
    session_id = response.json()["id"]
    server.session_ids.append(session_id)
    server.owners[session_id] = http
    return session_id


def replace_socket(server: Server, session_id: str, mode: str, total: int = 0) -> tuple[subprocess.Popen, Path]:
    """Puts the source in place of the desktop's Xvnc socket; returns it and the socket's host path."""
    in_sandbox(server, session_id, "/usr/bin/python3", "-c", f"open('/tmp/source.py','w').write({SOURCE!r})")
    in_sandbox(server, session_id, "/bin/sh", "-c", "mv /run/holdfast/vnc.sock /run/holdfast/xvnc.sock")
    process = in_sandbox(server, session_id, "/usr/bin/python3", "/tmp/source.py", "/run/holdfast/vnc.sock", mode,
                         str(total), background=True)
    assert process.stdout.readline().strip() == "ready", process.stderr.read()
    return process, server.data_dir / "sessions" / session_id / "socket" / "vnc.sock"


# --- a WebSocket reader fast enough not to be the bottleneck ------------------------------------

def ws_connect(host: str, port: int, path: str, headers: dict[str, str]) -> tuple[socket.socket, bytes]:
    """Upgrades a TCP connection; returns it and the bytes that came after the 101 answer."""
    sock = socket.create_connection((host, port), timeout=30)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13", *(f"{k}: {v}" for k, v in headers.items())]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    response = b""
    while b"\r\n\r\n" not in response:
        data = sock.recv(4096)
        if not data:
            raise ConnectionError(f"no upgrade: {response!r}")
        response += data
    head, _, rest = response.partition(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n")[0]:
        raise ConnectionError(f"no upgrade: {head!r}")
    return sock, rest


def read_ws_payload(connection: tuple[socket.socket, bytes], wanted: int) -> int:
    """Reads binary frames until `wanted` payload bytes arrived (or the peer closes); returns the
    payload bytes read. Frames are parsed, payloads counted and dropped."""
    sock, leftover = connection
    buffer = bytearray(leftover)
    chunk = bytearray(1 << 20)
    view = memoryview(chunk)
    got = 0
    skip = 0  # payload bytes of the current frame still to come
    closed = False
    while got < wanted and not closed:
        if skip == 0:
            while True:  # a header: 2 bytes, then 2 or 8 of length
                if len(buffer) >= 2:
                    length = buffer[1] & 0x7F
                    need = 2 + (2 if length == 126 else 8 if length == 127 else 0)
                    if len(buffer) >= need:
                        break
                count = sock.recv_into(view)
                if count == 0:
                    return got
                buffer += view[:count]
            opcode = buffer[0] & 0x0F
            length = buffer[1] & 0x7F
            start = 2
            if length == 126:
                length, start = struct.unpack(">H", buffer[2:4])[0], 4
            elif length == 127:
                length, start = struct.unpack(">Q", buffer[2:10])[0], 10
            del buffer[:start]
            if opcode == 8:
                closed = True
            if opcode != 2:  # text, ping, close: not payload
                while len(buffer) < length:
                    count = sock.recv_into(view)
                    if count == 0:
                        return got
                    buffer += view[:count]
                del buffer[:length]
                continue
            skip = length
        if buffer:
            taken = min(skip, len(buffer))
            del buffer[:taken]
            skip -= taken
            got += taken
            continue
        count = sock.recv_into(view, min(len(chunk), skip) if skip > 0 else len(chunk))
        if count == 0:
            return got
        if count <= skip:
            skip -= count
            got += count
        else:
            got += skip
            buffer += view[skip:count]
            skip = 0
    return got


def read_direct(path: Path, wanted: int) -> int:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(path))
    view = memoryview(bytearray(1 << 20))
    got = 0
    with sock:
        while got < wanted:
            count = sock.recv_into(view)
            if count == 0:
                break
            got += count
    return got


# --- the benchmarks ------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_websockify(target: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(["websockify", "--unix-target", str(target), f"127.0.0.1:{port}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("websockify did not listen")


def throughput(server: Server, megabytes: int, rounds: int) -> dict:
    session_id = start_desktop(server)
    total = megabytes << 20
    source, socket_path = replace_socket(server, session_id, "blast", total)
    websockify, port = start_websockify(socket_path)
    host, server_port = server.url.removeprefix("http://").split(":")
    rates: dict[str, list[float]] = {"direct": [], "gateway": [], "websockify": []}
    lost = {name: 0 for name in rates}
    try:
        for round_ in range(rounds):
            for name in ("direct", "gateway", "websockify"):
                started = time.perf_counter()
                if name == "direct":
                    got = read_direct(socket_path, total + 12)
                elif name == "gateway":
                    ticket = server.ticket(session_id)
                    connection = ws_connect(host, int(server_port), f"/api/v1/sessions/{session_id}/attach?ticket={ticket}", {})
                    with connection[0]:
                        got = read_ws_payload(connection, total + 12)
                else:
                    connection = ws_connect("127.0.0.1", port, "/", {"Sec-WebSocket-Protocol": "binary"})
                    with connection[0]:
                        got = read_ws_payload(connection, total + 12)
                seconds = time.perf_counter() - started
                # What the source sent and the reader never got (the proxy dropped it at the close).
                lost[name] += max(0, total + 12 - got)
                rates[name].append(got / seconds / 1e6)
            print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.0f} MB/s" for k, v in rates.items()), flush=True)
    finally:
        websockify.terminate()
        websockify.wait()
        source.kill()
    medians = {name: round(statistics.median(values), 1) for name, values in rates.items()}
    return {
        "megabytes": megabytes, "rounds": rounds, "mb_per_s": {k: [round(v, 1) for v in vs] for k, vs in rates.items()},
        "median_mb_per_s": medians,
        "bytes_lost_at_close": lost,
        "gateway_vs_websockify": round(medians["gateway"] / medians["websockify"], 2),
        "gateway_vs_direct": round(medians["gateway"] / medians["direct"], 2),
    }


def tree_pss_kib(root: int) -> int:
    """PSS of a process and every descendant (websockify forks one per connection)."""
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += pss_kib(pid)
        stack.extend(children.get(pid, []))
    return total


def open_idle(count: int, connect) -> list[socket.socket]:
    held = []
    for index in range(count):
        sock, data = connect(index)
        # The RFB version the source sends: the connection is through and idle.
        while len(data) < 14:  # a 2-byte frame header + "RFB 003.008\n"
            data += sock.recv(64)
        held.append(sock)
    return held


def memory_per_connection(counts: list[int]) -> dict:
    """Idle viewers through the gateway and through websockify, at each count."""
    # Up to 64 viewers per session (the tenant's highest clientsPerSession), 4 sessions per user.
    server = Server(heartbeat="1h", grace="30m")
    report: dict = {}
    try:
        operator = server.first_operator()
        admin = server.login(*operator)
        server.http.patch(f"{server.url}/api/v1/tenants/bench", json={"limits": {"clientsPerSession": 64}},
                          headers={"Authorization": f"Bearer {admin}"}, timeout=30).raise_for_status()
        needed = -(-max(counts) // 64)
        members = server.add_members(-(-needed // 4))
        sessions = [start_desktop(server, members[index // 4]) for index in range(needed)]
        sources = [replace_socket(server, session_id, "idle") for session_id in sessions]
        host, server_port = server.url.removeprefix("http://").split(":")
        time.sleep(2)
        for count in counts:
            before = rss_mib(server.process.pid)["VmRSS"]

            def through_gateway(index: int) -> tuple[socket.socket, bytes]:
                session_id = sessions[index // 64]
                ticket = server.ticket(session_id)
                return ws_connect(host, int(server_port), f"/api/v1/sessions/{session_id}/attach?ticket={ticket}", {})

            held = open_idle(count, through_gateway)
            time.sleep(2)
            after = rss_mib(server.process.pid)["VmRSS"]
            for sock in held:
                sock.close()
            # websockify: one listener per desktop socket, the same number of viewers.
            proxies = [start_websockify(path) for _, path in sources[: -(-count // 64)]]
            time.sleep(1)
            base = sum(tree_pss_kib(process.pid) for process, _ in proxies)
            held = open_idle(count, lambda index: ws_connect("127.0.0.1", proxies[index // 64][1], "/",
                                                             {"Sec-WebSocket-Protocol": "binary"}))
            time.sleep(2)
            loaded = sum(tree_pss_kib(process.pid) for process, _ in proxies)
            for sock in held:
                sock.close()
            for process, _ in proxies:
                process.terminate()
                process.wait()
            report[str(count)] = {
                "gateway_rss_mib": {"before": before, "after": after},
                "gateway_kib_per_connection": round((after - before) * 1024 / count, 1),
                "websockify_pss_mib": {"before": round(base / 1024, 1), "after": round(loaded / 1024, 1)},
                "websockify_kib_per_connection": round((loaded - base) / count, 1),
            }
            print(f"{count} idle viewers: {report[str(count)]}", flush=True)
            time.sleep(3)  # the closes settle before the next count
        for process, _ in sources:
            process.kill()
    finally:
        report["cleanup"] = server.cleanup()
    return report


def first_pixels(viewer: Viewer) -> None:
    """Requests updates as noVNC does until one brings pixels (see `Viewer.full_frame`)."""
    viewer.full_frame(timeout=30)


def start_and_resume(starts: int, resumes: int) -> dict:
    server = Server(heartbeat="10s", grace="30m")
    report: dict = {}
    try:
        members = server.add_members(-(-(starts + 2) // 4))
        start_ms, first_update_ms, desktops = [], [], []
        for index in range(starts + 2):  # two untimed warm-ups
            began = time.perf_counter()
            http = members[index // 4]
            session_id = start_desktop(server, http)
            created = time.perf_counter()
            viewer = Viewer.open(http, server.url, session_id).handshake()
            first_pixels(viewer)
            done = time.perf_counter()
            viewer.close()
            if index >= 2:
                start_ms.append((created - began) * 1000)
                first_update_ms.append((done - began) * 1000)
                desktops.append((http, session_id))
        report["start_post_ms"] = summary(start_ms)
        report["start_to_first_update_ms"] = summary(first_update_ms)
        print(f"start -> first update: {report['start_to_first_update_ms']}", flush=True)

        # Resume: a new WebSocket on a running desktop (held, its viewer gone) -> first pixels.
        http, session_id = desktops[0]
        resume_ms = []
        for _ in range(resumes):
            began = time.perf_counter()
            viewer = Viewer.open(http, server.url, session_id).handshake()
            first_pixels(viewer)
            resume_ms.append((time.perf_counter() - began) * 1000)
            viewer.close()
        report["resume_to_first_update_ms"] = summary(resume_ms)
        print(f"resume -> first update: {report['resume_to_first_update_ms']}", flush=True)

        # Idle desktop memory: everything in one idle desktop's sandbox, after a quiet while.
        time.sleep(10)
        from density import sandbox_processes  # noqa: PLC0415 (shared with the terminal density benchmark)

        per_session = []
        for _, session_id in desktops[:3]:
            folder = server.data_dir / "sessions" / session_id
            leader = int((folder / "sandbox.pid").read_text().strip())
            pids = [pid for pid in sandbox_processes(server.data_dir) if pid == leader or is_below(pid, leader)]
            per_session.append({"processes": len(pids), "pss_mib": round(sum(pss_kib(pid) for pid in pids) / 1024, 1)})
        report["idle_desktop_pss"] = per_session
        print(f"idle desktop PSS: {per_session}", flush=True)
    finally:
        report["cleanup"] = server.cleanup()
    return report


def is_below(pid: int, ancestor: int) -> bool:
    while pid > 1:
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
        if pid == ancestor:
            return True
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--starts", type=int, default=10)
    parser.add_argument("--resumes", type=int, default=200)
    parser.add_argument("--connections", default="100,1000")
    parser.add_argument("--only", choices=["throughput", "memory", "latency"], action="append")
    options = parser.parse_args()
    only = set(options.only or ["throughput", "memory", "latency"])

    report: dict = {"loadavg_at_start": loadavg()}
    if "throughput" in only:
        server = Server(heartbeat="10s", grace="30m")
        try:
            report["throughput"] = throughput(server, options.megabytes, options.rounds)
        finally:
            report["throughput_cleanup"] = server.cleanup()
    if "latency" in only:
        report["latency"] = start_and_resume(options.starts, options.resumes)
    if "memory" in only:
        report["memory"] = memory_per_connection([int(n) for n in options.connections.split(",")])
    path = write_result("desktop", report)
    print(f"results in {path}")


if __name__ == "__main__":
    main()
