"""A small RFB 3.8 viewer over the attach WebSocket, as the e2e tests and benchmarks drive a desktop.

It speaks what noVNC speaks to Holdfast's gateway: the version and security None handshake,
ClientInit/ServerInit, SetEncodings (raw, DesktopSize and ExtendedDesktopSize), full and
incremental FramebufferUpdateRequests, ClientCutText and SetDesktopSize. Server messages are
read as they come; framebuffer rectangles in raw encoding are kept, so a test can compare what
two connections see.
"""

from __future__ import annotations

import json
import socket
import struct
import time
import zlib

import requests
import websocket

RAW = 0
DESKTOP_SIZE = -223
EXTENDED_DESKTOP_SIZE = -308
# The extended clipboard (UTF-8 text, announced then fetched), as noVNC and TigerVNC speak it:
# a cut-text message whose length is negative carries flags, then what the flags call for.
EXTENDED_CLIPBOARD = -1063131698  # 0xc0a1e5ce
CLIP_TEXT = 1
CLIP_CAPS, CLIP_REQUEST, CLIP_PEEK, CLIP_NOTIFY, CLIP_PROVIDE = (1 << 24, 1 << 25, 1 << 26, 1 << 27, 1 << 28)


class RFBError(AssertionError):
    pass


class Viewer:
    def __init__(self, base_url: str, session_id: str, ticket: str, timeout: float = 15):
        url = base_url.replace("http://", "ws://") + f"/api/v1/sessions/{session_id}/attach?ticket={ticket}"
        self.ws = websocket.create_connection(url, timeout=timeout)
        self.buffer = bytearray()
        self.notices: list[dict] = []
        self.close_code: int | None = None
        self.close_reason = ""
        self.width = self.height = 0
        self.name = ""
        self.framebuffer = bytearray()
        self.cut_text: list[bytes] = []
        self.screens: list[tuple[int, int]] = []
        self.clipboard: list[str] = []  # texts the desktop provided, newest last
        self.server_clipboard_flags = 0
        self.pixels_updated = False

    @classmethod
    def open(cls, http: requests.Session, base_url: str, session_id: str, **kwargs) -> "Viewer":
        ticket = http.post(f"{base_url}/api/v1/sessions/{session_id}/tickets", timeout=10)
        assert ticket.status_code == 201, ticket.text
        return cls(base_url, session_id, ticket.json()["ticket"], **kwargs)

    # --- transport -----------------------------------------------------------------------------

    def _fill(self, deadline: float) -> None:
        """Reads one more WebSocket frame into the buffer (text frames are notices). Pings come
        back here too (answered by the library), so a caller's deadline holds while the server
        pings every heartbeat."""
        self.ws.settimeout(max(0.05, deadline - time.monotonic()))
        opcode, data = self.ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_BINARY:
            self.buffer.extend(data)
        elif opcode == websocket.ABNF.OPCODE_TEXT:
            self.notices.append(json.loads(data))
        elif opcode == websocket.ABNF.OPCODE_CLOSE:
            if len(data) >= 2:
                self.close_code = int.from_bytes(data[:2], "big")
                self.close_reason = data[2:].decode(errors="replace")
            raise ConnectionError(f"the server closed the connection ({self.close_code} {self.close_reason})")

    def read(self, count: int, timeout: float = 15) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self.buffer) < count:
            if time.monotonic() > deadline:
                raise RFBError(f"wanted {count} bytes, have {len(self.buffer)} after {timeout} s")
            self._fill(deadline)
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data

    def send(self, data: bytes) -> None:
        self.ws.send_binary(data)

    def wait_closed(self, timeout: float = 10) -> None:
        """Reads until the server closes; what it sent is kept (notices, close code and reason)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self._fill(deadline)
            except ConnectionError:
                return
            except (websocket.WebSocketTimeoutException, socket.timeout):
                continue
            except (websocket.WebSocketConnectionClosedException, OSError):
                return
        raise RFBError("the server did not close the connection")

    # --- handshake -----------------------------------------------------------------------------

    def handshake(self, shared: bool = True, extended_clipboard: bool = False) -> "Viewer":
        version = self.read(12)
        if version != b"RFB 003.008\n":
            raise RFBError(f"unexpected server version {version!r}")
        self.send(b"RFB 003.008\n")
        (count,) = struct.unpack("B", self.read(1))
        if count == 0:
            (length,) = struct.unpack(">I", self.read(4))
            raise RFBError(f"server refused: {self.read(length)!r}")
        types = list(self.read(count))
        if 1 not in types:
            raise RFBError(f"security None not offered: {types}")
        self.security_types = types
        self.send(b"\x01")
        (result,) = struct.unpack(">I", self.read(4))
        if result != 0:
            raise RFBError(f"security result {result}")
        self.send(b"\x01" if shared else b"\x00")
        self.width, self.height = struct.unpack(">HH", self.read(4))
        self.pixel_format = self.read(16)
        (length,) = struct.unpack(">I", self.read(4))
        self.name = self.read(length).decode()
        self.framebuffer = bytearray(self.width * self.height * 4)
        # 32 bits per pixel, true colour, little-endian: raw rectangles are width × height × 4 bytes.
        self.send(struct.pack(">B3xBBBBHHHBBB3x", 0, 32, 24, 0, 1, 255, 255, 255, 16, 8, 0))
        encodings = [RAW, DESKTOP_SIZE, EXTENDED_DESKTOP_SIZE] + ([EXTENDED_CLIPBOARD] if extended_clipboard else [])
        self.send(struct.pack(">BxH", 2, len(encodings)) + b"".join(struct.pack(">i", e) for e in encodings))
        return self

    # --- requests ------------------------------------------------------------------------------

    def request_update(self, incremental: bool = False) -> None:
        self.send(struct.pack(">BBHHHH", 3, 1 if incremental else 0, 0, 0, self.width, self.height))

    def cut_text_to_server(self, text: bytes) -> None:
        self.send(struct.pack(">B3xI", 6, len(text)) + text)

    def set_desktop_size(self, width: int, height: int) -> None:
        self.send(struct.pack(">BxHHBx", 251, width, height, 1) + struct.pack(">IHHHHI", 0, 0, 0, width, height, 0))

    def _clipboard_message(self, flags: int, payload: bytes = b"") -> None:
        body = struct.pack(">I", flags) + payload
        self.send(struct.pack(">B3xi", 6, -len(body)) + body)

    def paste(self, text: str) -> None:
        """What noVNC does on a paste, with the extended clipboard: announce UTF-8 text, then
        provide it (TigerVNC keeps it for every X program that asks)."""
        data = text.encode() + b"\0"
        self._clipboard_message(CLIP_NOTIFY | CLIP_TEXT)
        self._clipboard_message(CLIP_PROVIDE | CLIP_TEXT, zlib.compress(struct.pack(">I", len(data)) + data))

    def _extended_clipboard(self, message: bytes) -> str:
        (flags,) = struct.unpack(">I", message[:4])
        if flags & CLIP_CAPS:
            self.server_clipboard_flags = flags
            # Ours: UTF-8 text up to 10 MiB, every action.
            actions = CLIP_CAPS | CLIP_REQUEST | CLIP_PEEK | CLIP_NOTIFY | CLIP_PROVIDE
            self._clipboard_message(actions | CLIP_TEXT, struct.pack(">I", 10 << 20))
            return "clipboard-caps"
        if flags & CLIP_NOTIFY:
            if flags & CLIP_TEXT:
                self._clipboard_message(CLIP_REQUEST | CLIP_TEXT)
            return "clipboard-notify"
        if flags & CLIP_PROVIDE:
            unpacked = zlib.decompressobj().decompress(message[4:])
            if flags & CLIP_TEXT and len(unpacked) >= 4:
                (length,) = struct.unpack(">I", unpacked[:4])
                self.clipboard.append(unpacked[4 : 4 + length].rstrip(b"\0").decode())
            return "clipboard"
        if flags & CLIP_REQUEST:
            return "clipboard-request"  # we provided with the notify already
        return "clipboard-other"

    # --- server messages -----------------------------------------------------------------------

    def pump(self, seconds: float) -> None:
        """Reads and applies whatever the server sends for `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                self.next_message(max(0.05, deadline - time.monotonic()))
            except (RFBError, websocket.WebSocketTimeoutException, socket.timeout):
                return

    def wait_for_clipboard(self, text: str, timeout: float = 15) -> str:
        """Reads until the desktop's clipboard arrives holding `text` (extended or legacy cut
        text), and returns the last text seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.clipboard or text.encode("latin-1", "replace") in self.cut_text:
                return text
            try:
                self.next_message(max(0.1, deadline - time.monotonic()))
            except (RFBError, websocket.WebSocketTimeoutException, socket.timeout):
                pass
        seen = self.clipboard[-1] if self.clipboard else (self.cut_text[-1].decode("latin-1") if self.cut_text else "")
        return seen


    def next_message(self, timeout: float = 15) -> str:
        """Reads one server message, applies it, and says which it was."""
        (kind,) = struct.unpack("B", self.read(1, timeout))
        timeout = max(timeout, 15)  # once a message has begun, its rest follows: never stop halfway
        if kind == 0:
            self._framebuffer_update(timeout)
            return "update"
        if kind == 1:
            _, _, count = struct.unpack(">xHH", self.read(5, timeout))
            self.read(count * 6, timeout)
            return "colours"
        if kind == 2:
            return "bell"
        if kind == 3:
            (length,) = struct.unpack(">3xi", self.read(7, timeout))
            if length >= 0:
                self.cut_text.append(self.read(length, timeout))
                return "cut"
            return self._extended_clipboard(self.read(-length, timeout))
        if kind == 150:
            return "end-of-continuous-updates"
        if kind == 248:
            _, length = struct.unpack(">3xIB", self.read(8, timeout))
            self.read(length, timeout)
            return "fence"
        raise RFBError(f"unknown server message {kind}")

    def _framebuffer_update(self, timeout: float) -> None:
        (count,) = struct.unpack(">xH", self.read(3, timeout))
        self.pixels_updated = False
        for _ in range(count):
            x, y, w, h, encoding = struct.unpack(">HHHHi", self.read(12, timeout))
            if encoding == RAW:
                data = self.read(w * h * 4, timeout)
                for row in range(h):
                    start = ((y + row) * self.width + x) * 4
                    self.framebuffer[start : start + w * 4] = data[row * w * 4 : (row + 1) * w * 4]
                self.pixels_updated = True
            elif encoding == DESKTOP_SIZE:
                self._resized(w, h)
            elif encoding == EXTENDED_DESKTOP_SIZE:
                (screens,) = struct.unpack(">B3x", self.read(4, timeout))
                self.screens = [struct.unpack(">IHHHHI", self.read(16, timeout))[3:5] for _ in range(screens)]
                self._resized(w, h)
            else:
                raise RFBError(f"unexpected encoding {encoding}")

    def _resized(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.framebuffer = bytearray(width * height * 4)

    def full_frame(self, timeout: float = 20) -> bytes:
        """Asks for the whole screen and returns it once an update has brought it. Xvnc answers a
        full request from a viewer that knows ExtendedDesktopSize with the screen layout alone and
        keeps the pixels (marked changed) for the next request, which must then be incremental:
        another full request would only bring the layout again. noVNC does the same."""
        deadline = time.monotonic() + timeout
        incremental = False
        while True:
            if time.monotonic() > deadline:
                raise RFBError(f"no framebuffer update with pixels within {timeout} s")
            self.request_update(incremental=incremental)
            while self.next_message(max(0.1, deadline - time.monotonic())) != "update":
                pass
            if self.pixels_updated:
                return bytes(self.framebuffer)
            incremental = True

    def wait_for(self, kind: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.next_message(max(0.1, deadline - time.monotonic())) == kind:
                return
        raise RFBError(f"no {kind} message within {timeout} s")

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass

    def drop(self) -> None:
        """An abrupt loss: the TCP connection is reset, no WebSocket close frame."""
        sock = self.ws.sock
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
