"""One fault stays in its place: a slow client, a store that goes away (issue 15)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import requests
import websocket

from conftest import Server, drop_postgres_database, fresh_postgres_database, start_server
from terminal import Relay, Terminal
from test_sessions import PROMPT, member, session_state, start_session, timeline, wait_for_state

MiB = 1 << 20


def rss(pid: int) -> int:
    """The process's resident memory in bytes, as the kernel counts it."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


class TailReader:
    """A client that reads everything as fast as it can but keeps only the last bytes: a test
    of 400 MB of output must not hold them all, nor search them."""

    def __init__(self, ws: websocket.WebSocket):
        self.ws = ws
        self.total = 0
        self.tail = bytearray()
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            while True:
                opcode, data = self.ws.recv_data(control_frame=False)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    return
                if opcode == websocket.ABNF.OPCODE_BINARY:
                    with self.lock:
                        self.total += len(data)
                        self.tail = (self.tail + data)[-65536:]
        except Exception:
            return

    def saw(self, text: str) -> bool:
        with self.lock:
            return text.encode() in self.tail


def metric(server: Server, name: str) -> float:
    """A value from `/metrics` (the test runs on the loopback, which may read it)."""
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.split(" ")[0] == name:
            return float(line.split(" ")[1])
    return 0.0


def attach_url(server: Server, http: requests.Session, session_id: str) -> str:
    ticket = http.post(f"{server.url}/api/v1/sessions/{session_id}/tickets", timeout=10)
    assert ticket.status_code == 201, ticket.text
    return server.url.replace("http://", "ws://") + f"/api/v1/sessions/{session_id}/attach?ticket={ticket.json()['ticket']}&cols=250&rows=80"


def test_a_client_that_stops_reading_costs_the_server_a_fixed_window_and_slows_no_other(binary, data_dir):
    # A heartbeat of 60 s: a client that reads nothing is not dropped as silent during the test.
    server = start_server(binary, data_dir, extra=("--heartbeat", "60s"))
    try:
        http = member(server)
        session_id = start_session(server, http)
        driver = Terminal.open(http, server.url, session_id)
        driver.wait_for(PROMPT)
        # A client that never reads again: its socket buffers fill and stay full.
        stalled = websocket.create_connection(
            attach_url(server, http, session_id), timeout=15, sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),)
        )
        fast = TailReader(websocket.create_connection(attach_url(server, http, session_id), timeout=60))
        driver.close()
        time.sleep(1)
        before = rss(server.process.pid)
        pauses_before = metric(server, "holdfast_terminal_output_pauses_total")

        # About 400 MB of output; the marker is built by the shell, so only its output matches.
        command = "head -c 600M /dev/urandom | base64 -w 180; echo flood-$((6*7))-done\r"
        fast.ws.send_binary(command.encode())
        peak = before
        deadline = time.monotonic() + 300
        while not fast.saw("flood-42-done"):
            assert time.monotonic() < deadline, f"the reading client saw no end of the output in 300 s ({fast.total} bytes)"
            peak = max(peak, rss(server.process.pid))
            time.sleep(0.2)
        peak = max(peak, rss(server.process.pid))

        # The stalled client's window filled (so the test saw backpressure at work), and held.
        assert metric(server, "holdfast_terminal_output_pauses_total") > pauses_before, (
            f"the output window never filled: tmux sent {fast.total} bytes to the reading client, too few to test it; "
            + " ".join(line for line in requests.get(f"{server.url}/metrics", timeout=10).text.splitlines() if "terminal_output" in line)
        )
        held = metric(server, "holdfast_terminal_output_waiting_bytes_peak")
        assert held <= 1.5 * MiB, f"{held / MiB:.1f} MiB waited for one client; the window is 1 MiB (plus a few reads)"
        grown = peak - before
        assert grown < 64 * MiB, f"the server's memory grew by {grown // MiB} MiB for a client that reads nothing"
        # The stalled client is still attached and, once it reads again, gets a screen back.
        stalled.settimeout(30)
        opcode, _ = stalled.recv_data(control_frame=False)
        assert opcode in (websocket.ABNF.OPCODE_BINARY, websocket.ABNF.OPCODE_TEXT)
        stalled.close()
        fast.ws.close()
    finally:
        server.stop()


def test_a_database_outage_of_a_minute_loses_no_session_transition_or_timeline_row(binary, data_dir):
    database, base = fresh_postgres_database()
    port = int(database.rsplit(":", 1)[1].split("/")[0])
    relay = Relay(port)  # the server reaches PostgreSQL only through it
    through_relay = database.replace(f":{port}/", f":{relay.port}/")
    server = start_server(binary, data_dir, database=through_relay, extra=("--grace", "30s", "--heartbeat", "2s"))
    try:
        http = member(server)
        dropped_id = start_session(server, http)
        kept_id = start_session(server, http)
        dropped = Terminal.open(http, server.url, dropped_id)
        dropped.wait_for(PROMPT)
        kept = Terminal.open(http, server.url, kept_id)
        kept.wait_for(PROMPT)

        relay.cut()  # every connection to the database is reset; new ones are refused
        outage_began = time.monotonic()
        dropped.drop()  # lost while the store is down, and expires (30 s) before it is back
        # A connected session works on: the terminal needs no database.
        assert "kept-42" in kept.run("echo kept-$((6*7))", timeout=20)
        time.sleep(max(0.0, 60 - (time.monotonic() - outage_began)))
        assert "still-42" in kept.run("echo still-$((6*7))", timeout=20)
        relay.restore()

        # Without a restart: the expired session closes, and its whole story is on the timeline.
        wait_for_state(server, http, dropped_id, "closed", timeout=120)
        story = [kind for kind in timeline(server, http, dropped_id) if kind != "snapshot"]
        assert story == ["started", "attached", "lost", "expired", "closed"], story
        assert session_state(server, http, kept_id)["state"] == "connected"
        # New sessions start again.
        again = http.post(f"{server.url}/api/v1/sessions", json={"kind": "terminal"}, timeout=30)
        assert again.status_code == 201, again.text
        kept.close()
    finally:
        print("".join(server.output[-60:]))
        server.stop()
        relay.close()
        drop_postgres_database(database, base)
