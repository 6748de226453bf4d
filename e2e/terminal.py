"""A terminal client over the attach WebSocket, as a script or a test would drive one."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid

import requests
import websocket


ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][0-9A-Za-z]|[=>])")


class Terminal:
    """One attached client: collects screen bytes in the background, sends keystrokes."""

    def __init__(self, base_url: str, session_id: str, ticket: str, cols: int = 100, rows: int = 30, via: str | None = None):
        url = (via or base_url).replace("http://", "ws://") + f"/api/v1/sessions/{session_id}/attach?ticket={ticket}&cols={cols}&rows={rows}"
        self.ws = websocket.create_connection(url, timeout=15)
        self.screen = bytearray()
        self.notices: list[dict] = []
        self.close_code: int | None = None
        self.closed = threading.Event()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @classmethod
    def open(cls, http: requests.Session, base_url: str, session_id: str, **kwargs) -> "Terminal":
        ticket = http.post(f"{base_url}/api/v1/sessions/{session_id}/tickets", timeout=10)
        assert ticket.status_code == 201, ticket.text
        return cls(base_url, session_id, ticket.json()["ticket"], **kwargs)

    def _read(self) -> None:
        try:
            while True:
                opcode, data = self.ws.recv_data(control_frame=False)
                if opcode == websocket.ABNF.OPCODE_BINARY:
                    with self._lock:
                        self.screen.extend(data)
                elif opcode == websocket.ABNF.OPCODE_TEXT:
                    self.notices.append(json.loads(data))
                elif opcode == websocket.ABNF.OPCODE_CLOSE:
                    if len(data) >= 2:
                        self.close_code = int.from_bytes(data[:2], "big")
                    break
        except Exception:  # the socket went away: that is what some tests do on purpose
            pass
        finally:
            self.closed.set()

    def text(self) -> str:
        with self._lock:
            return self.screen.decode("utf-8", errors="replace")

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.text())
            if match:
                return match
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} did not appear within {timeout}s; the screen holds:\n{self.text()[-2000:]}")

    def type(self, keys: str) -> None:
        self.ws.send_binary(keys.encode())

    def run(self, command: str, timeout: float = 30) -> str:
        """Types a command, waits until it has finished, and returns what it printed.

        The output is framed by two markers that are typed split in two (`"hf-b""egin"`), so the
        echo of the command line never matches; only what the shell prints does.
        """
        run = uuid.uuid4().hex[:8]  # unique even across clients: a redraw shows earlier runs
        begin, end = f"hf-begin-{run}", f"hf-end-{run}"
        split = lambda word: f'"{word[:4]}""{word[4:]}"'
        self.type(f"echo {split(begin)}; {command}\recho {split(end)}\r")
        self.wait_for(re.escape(end) + r"(?!\")", timeout)
        output = ANSI.sub("", self.text()).replace("\r", "")
        found = re.search(re.escape(begin) + r"(?!\")(.*?)" + re.escape(end) + r"(?!\")", output, re.S)
        assert found, f"no output between the markers:\n{output[-2000:]}"
        # What follows the begin marker up to the end marker, minus the echoed `echo` line.
        return found.group(1).rsplit("echo", 1)[0] if "echo" in found.group(1) else found.group(1)

    def resize(self, cols: int, rows: int) -> None:
        self.ws.send(json.dumps({"type": "resize", "cols": cols, "rows": rows}))

    def close(self) -> None:
        """A polite goodbye: a WebSocket close frame."""
        try:
            self.ws.close()
        except Exception:
            pass

    def drop(self) -> None:
        """An abrupt loss: the TCP connection is reset at once, no WebSocket close frame.

        The read side is shut first: Linux keeps a socket that another thread is blocked in
        `recv` on (and sends nothing) until that `recv` returns, so a bare close reset the
        connection only when the server's next ping arrived, seconds later."""
        sock = self.ws.sock
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        try:
            sock.shutdown(socket.SHUT_RD)
        except OSError:
            pass
        self._reader.join(timeout=5)
        sock.close()


class Relay:
    """A TCP relay in front of the server that can go silent: it stops forwarding in both
    directions but keeps the connections open (no FIN, no RST), like a dead Wi-Fi link."""

    def __init__(self, target_port: int):
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.port = self.listener.getsockname()[1]
        self.silent = threading.Event()
        self.refusing = threading.Event()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refusing.is_set():
                client.close()  # the link is down: nothing gets through
                continue
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                return
            if not data:
                return
            while self.silent.is_set():
                time.sleep(0.05)  # hold the bytes: nothing crosses a dead link
            try:
                sink.sendall(data)
            except OSError:
                return

    def cut(self) -> None:
        """The link dies: every connection through the relay is reset, and new ones are refused
        until `restore()`."""
        self.refusing.set()
        for sock in self.sockets:
            try:
                # shutdown wakes the pump threads blocked in recv; a bare close would not.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            except OSError:
                pass
        self.sockets.clear()

    def restore(self) -> None:
        self.refusing.clear()

    def close(self) -> None:
        self.listener.close()
        for sock in self.sockets:
            try:
                sock.close()
            except OSError:
                pass
