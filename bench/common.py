"""Shared plumbing for the Holdfast benchmarks: a real `holdfast serve` on a throwaway data
directory, a signed-in member, timed attaches, percentiles, and a cleanup that leaves no
tmux or bubblewrap process behind.

Not a test fixture: the benchmarks are plain scripts (`python bench/resume_latency.py`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import requests
import websocket

ROOT = Path(__file__).resolve().parent.parent
BINARY = Path(os.environ.get("HOLDFAST_BINARY", ROOT / ".build-release" / "release" / "holdfast"))
PASSWORD = "bench-password-123"


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))  # ceil(p/100 * n)
    return ordered[rank - 1]


def summary(values_ms: list[float]) -> dict:
    return {
        "n": len(values_ms),
        "p50": round(percentile(values_ms, 50), 2),
        "p90": round(percentile(values_ms, 90), 2),
        "p99": round(percentile(values_ms, 99), 2),
        "max": round(max(values_ms), 2),
        "min": round(min(values_ms), 2),
    }


def rss_mib(pid: int) -> dict:
    """VmRSS (now) and VmHWM (peak) of a process, in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = round(int(value.split()[0]) / 1024, 1)
    return fields


def pss_kib(pid: int) -> int:
    """A process's proportional set size (its share of every page it maps), in KiB; 0 when gone."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Server:
    """`holdfast serve` on a fresh data directory, with a member of one tenant signed in.

    `data_dir` serves a directory prepared beforehand instead (it is removed by `cleanup` all the
    same); `member=False` skips the tenant and member (`self.http` is then not signed in).
    """

    def __init__(self, heartbeat: str = "1s", grace: str = "30m", extra: tuple[str, ...] = (),
                 data_dir: Path | None = None, member: bool = True, binary: Path | None = None):
        self.binary = binary or BINARY
        if not self.binary.exists():
            raise SystemExit(f"{BINARY} is missing; build it with `make bench` or "
                             "`swift build -c release --scratch-path .build-release --product holdfast`")
        # A short path: tmux socket paths must fit in a sockaddr_un.
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="hfb-", dir="/tmp"))
        self.output: list[str] = []
        self.process = subprocess.Popen(
            [str(self.binary), "serve", "--data-dir", str(self.data_dir), "--port", "0",
             "--heartbeat", heartbeat, "--grace", grace, "--log-level", "warning", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.url = self._wait_for_address()
        threading.Thread(target=self._drain, args=(self.process.stderr,), daemon=True).start()
        self.http = requests.Session()
        self.session_ids: list[str] = []
        # Who started each session: its ticket, state and close go through its owner.
        self.owners: dict[str, requests.Session] = {}
        if member:
            self.cli("admin", "create-tenant", "--name", "Bench", "--slug", "bench")
            self.cli("admin", "create-user", "--tenant", "bench", "--email", "member@bench.test",
                     "--password", PASSWORD, "--role", "member")
            self.http.headers["Authorization"] = "Bearer " + self.login("member@bench.test", PASSWORD)

    def login(self, email: str, password: str) -> str:
        """Signs in through the API; returns the token (a bearer token, and the portal's session cookie)."""
        response = requests.post(f"{self.url}/api/v1/auth/login", json={"email": email, "password": password}, timeout=30)
        response.raise_for_status()
        return response.json()["token"]

    def first_operator(self, timeout: float = 10) -> tuple[str, str]:
        """The e-mail and password `serve` prints after `listening on` when it creates the first operator."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = "".join(self.output)
            email = re.search(r"e-mail:\s+(\S+)", text)
            password = re.search(r"password:\s+(\S+)", text)
            if email and password:
                return email.group(1), password.group(1)
            time.sleep(0.05)
        raise RuntimeError("holdfast serve printed no first operator (was the store used before?)")

    def _wait_for_address(self) -> str:
        deadline = time.monotonic() + 60
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"holdfast serve exited ({self.process.poll()}): {self.process.stderr.read()}")
            self.output.append(line)
            found = re.search(r"listening on (http://\S+)", line)
            if found:
                threading.Thread(target=self._drain, args=(self.process.stdout,), daemon=True).start()
                return found.group(1)
        raise RuntimeError("holdfast serve did not print its address within 60 s")

    def _drain(self, stream) -> None:
        for line in stream:
            self.output.append(line)

    def cli(self, *args: str) -> None:
        subprocess.run([str(self.binary), *args, "--data-dir", str(self.data_dir), "--log-level", "warning"],
                       check=True, capture_output=True, text=True, timeout=60)

    # API

    def add_members(self, count: int, slug: str = "bench") -> list[requests.Session]:
        """`count` more members of the tenant, each signed in: a user may hold only a few live
        sessions (`sessionsPerUser`), so a benchmark of many sessions spreads them over users."""
        members = []
        for _ in range(count):
            email = f"member{len(self.session_ids)}-{len(members)}-{time.monotonic_ns()}@bench.test"
            self.cli("admin", "create-user", "--tenant", slug, "--email", email, "--password", PASSWORD, "--role", "member")
            http = requests.Session()
            http.headers["Authorization"] = "Bearer " + self.login(email, PASSWORD)
            members.append(http)
        return members

    def start_session(self, http: requests.Session | None = None) -> str:
        response = (http or self.http).post(f"{self.url}/api/v1/sessions", json={"kind": "terminal"}, timeout=30)
        assert response.status_code == 201, response.text
        session_id = response.json()["id"]
        self.session_ids.append(session_id)
        self.owners[session_id] = http or self.http
        return session_id

    def owner(self, session_id: str) -> requests.Session:
        return self.owners.get(session_id, self.http)

    def ticket(self, session_id: str) -> str:
        response = self.owner(session_id).post(f"{self.url}/api/v1/sessions/{session_id}/tickets", timeout=30)
        assert response.status_code == 201, response.text
        return response.json()["ticket"]

    def state(self, session_id: str) -> dict:
        response = self.owner(session_id).get(f"{self.url}/api/v1/sessions/{session_id}", timeout=30)
        response.raise_for_status()
        return response.json()

    def events(self, session_id: str) -> list[dict]:
        response = self.owner(session_id).get(f"{self.url}/api/v1/sessions/{session_id}/events", timeout=30)
        response.raise_for_status()
        body = response.json()
        return body["events"] if isinstance(body, dict) else body

    def wait_for_state(self, session_id: str, wanted: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while True:
            state = self.state(session_id)["state"]
            if state == wanted:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"session {session_id} is {state}, not {wanted}, after {timeout} s")
            time.sleep(0.01)

    def attach_url(self, session_id: str, ticket: str, cols: int = 120, rows: int = 36) -> str:
        return (self.url.replace("http://", "ws://")
                + f"/api/v1/sessions/{session_id}/attach?ticket={ticket}&cols={cols}&rows={rows}")

    def timed_attach(self, session_id: str, ticket: str) -> tuple[float, float, websocket.WebSocket]:
        """Opens the WebSocket and waits for the first terminal bytes.

        Returns (handshake done, first byte), both in ms from the start of the handshake, and the socket.
        """
        url = self.attach_url(session_id, ticket)
        started = time.perf_counter()
        ws = websocket.create_connection(url, timeout=15, enable_multithread=False)
        upgraded = time.perf_counter()
        while True:
            opcode, data = ws.recv_data(control_frame=False)
            if opcode == websocket.ABNF.OPCODE_BINARY and data:
                first = time.perf_counter()
                break
            if opcode == websocket.ABNF.OPCODE_TEXT:
                raise AssertionError(f"refused: {data!r}")
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                raise AssertionError(f"closed before the first byte: {data!r}")
        return (upgraded - started) * 1000, (first - started) * 1000, ws

    # Teardown

    def close_all(self) -> None:
        """DELETE every session (ends tmux and bwrap), then wait until each is closed."""
        for session_id in self.session_ids:
            try:
                self.owner(session_id).delete(f"{self.url}/api/v1/sessions/{session_id}", timeout=60)
            except requests.RequestException:
                pass
        deadline = time.monotonic() + 60
        for session_id in self.session_ids:
            while time.monotonic() < deadline:
                try:
                    if self.state(session_id)["state"] == "closed":
                        break
                except requests.RequestException:
                    break
                time.sleep(0.05)

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def leftovers(self) -> list[str]:
        """Processes that still mention this server's data directory (its tmux and bwrap)."""
        found = subprocess.run(["pgrep", "-af", str(self.data_dir)], capture_output=True, text=True)
        return [line for line in found.stdout.splitlines() if line.strip()]

    def kill_leftovers(self) -> None:
        """Last resort after a crash: only the processes of *this* run's data directory."""
        for line in self.leftovers():
            pid = int(line.split()[0])
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def cleanup(self) -> dict:
        """Closes the sessions, stops the server, and reports what is left running."""
        try:
            self.close_all()
        finally:
            code = self.stop()
        time.sleep(0.2)
        left = self.leftovers()
        if left:
            self.kill_leftovers()
        global_tmux = subprocess.run(["pgrep", "-f", "tmux.sock"], capture_output=True, text=True).stdout.split()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        return {"server_exit": code, "leftover_processes_of_this_run": left,
                "pgrep_tmux_sock_anywhere": len(global_tmux)}


def loadavg() -> str:
    """The 1-, 5- and 15-minute load averages: on a shared 2-core machine, the noise to note."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def write_result(name: str, result: dict) -> Path:
    """Saves a benchmark's figures as JSON next to the scripts (bench/results/NAME.json)."""
    result.setdefault("loadavg_at_end", loadavg())
    folder = ROOT / "bench" / "results"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path
