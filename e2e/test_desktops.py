"""Desktop sessions: Xvnc, openbox and xterm in the session's sandbox, streamed through Holdfast's
own WebSocket⇄VNC gateway, with the terminal's lifecycle (held on drop, resumed, re-adopted after
`kill -9`, expired through a verified snapshot), against the real binary and real X programs."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import time
from pathlib import Path

import requests
import websocket
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready

from browser import settled
from conftest import Server, start_server
from terminal import Relay
from rfb import Viewer
from test_portal_browser import sign_in
from test_sessions import fast_server, member, timeline, wait_for_state  # noqa: F401 (fast_server: a fixture)


def start_desktop(server: Server, http: requests.Session) -> str:
    response = http.post(f"{server.url}/api/v1/sessions", json={"kind": "desktop"}, timeout=60)
    assert response.status_code == 201, response.text
    assert response.json()["kind"] == "desktop"
    return response.json()["id"]


def sandbox_pid(server: Server, session_id: str) -> str:
    """The host pid of the sandbox's first process inside its namespaces (bwrap's leader, whose
    pid the server records, stays outside them)."""
    leader = (server.data_dir / "sessions" / session_id / "sandbox.pid").read_text().strip()
    return Path(f"/proc/{leader}/task/{leader}/children").read_text().split()[0]


def in_sandbox(server: Server, session_id: str, *command: str, timeout: float = 20) -> subprocess.CompletedProcess:
    """Runs a command inside the session's sandbox as its user, as the server runs tmux clients:
    through `holdfast-jail enter` (namespaces, seccomp filter, the session's uid)."""
    folder = server.data_dir / "sessions" / session_id
    inner = sandbox_pid(server, session_id)
    uid, gid = (folder / "account").read_text().strip().split(":")
    jail = server.binary.parent / "holdfast-jail"
    environment = {"PATH": "/usr/bin:/bin", "HOME": "/home/user", "DISPLAY": ":0", "LANG": "C.UTF-8"}
    return subprocess.run(
        [str(jail), "enter", "--target", inner, "--uid", uid, "--gid", gid, "--seccomp", str(folder / "seccomp.bpf"),
         "--chdir", "/home/user", "--", *command],
        capture_output=True, timeout=timeout, env=environment,
    )


def windows(server: Server, session_id: str) -> str:
    result = in_sandbox(server, session_id, "/usr/bin/xwininfo", "-root", "-tree")
    assert result.returncode == 0, result.stderr
    return result.stdout.decode()


def wait_for_window(server: Server, session_id: str, title: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if f'"{title}"' in windows(server, session_id):
            return
        time.sleep(0.2)
    raise AssertionError(f"no window {title!r} on the desktop:\n{windows(server, session_id)}")


def colours(frame: bytes) -> int:
    """How many colours a sample of the screen holds (one pixel in 97)."""
    return len(set(frame[i : i + 4] for i in range(0, len(frame), 4 * 97)))


def settled_frame(viewer: Viewer) -> bytes:
    """The whole screen once windows are drawn (more than black and white) and two full updates
    a moment apart agree (nothing still mapping or drawing)."""
    previous = b""
    for _ in range(40):
        frame = viewer.full_frame()
        if frame == previous and colours(frame) > 3:
            return frame
        previous = frame
        viewer.pump(0.3)
    raise AssertionError(f"the desktop never settled (colours in the last frame: {colours(previous)})")


def test_a_desktop_answers_rfb_and_the_same_desktop_comes_back_after_a_drop(fast_server: Server):
    http = member(fast_server)
    session_id = start_desktop(fast_server, http)
    viewer = Viewer.open(http, fast_server.url, session_id).handshake()
    assert viewer.security_types == [1]  # None: the user is signed in to Holdfast already
    assert (viewer.width, viewer.height) == (1280, 800)
    assert viewer.name == f"Holdfast desktop {session_id[:8]}"
    wait_for_window(fast_server, session_id, "Terminal")  # the xterm the desktop starts with
    # A window the user opened before the connection dies.
    opened = in_sandbox(fast_server, session_id, "/bin/sh", "-c", "xterm -title kept-window-4242 >/dev/null 2>&1 &")
    assert opened.returncode == 0, opened.stderr
    wait_for_window(fast_server, session_id, "kept-window-4242")
    before = settled_frame(viewer)

    viewer.drop()
    wait_for_state(fast_server, http, session_id, "held")

    again = Viewer.open(http, fast_server.url, session_id).handshake()
    assert again.name == viewer.name
    assert (again.width, again.height) == (1280, 800)
    assert again.full_frame() == before  # the very same screen, pixel for pixel
    assert "kept-window-4242" in windows(fast_server, session_id)
    assert wait_for_state(fast_server, http, session_id, "connected")
    events = [event for event in timeline(fast_server, http, session_id) if event != "snapshot"]
    assert events[:4] == ["started", "attached", "lost", "resumed"]
    again.close()


def test_a_desktop_socket_swapped_for_a_link_to_another_desktop_leads_nowhere(server: Server):
    """Ann's user owns her socket folder: she points `vnc.sock` at Bob's desktop, by its host path.
    The server refuses to follow the link, so her next attach never reaches Bob's screen; and no
    desktop listens on TCP, even inside its own sandbox's network."""
    ann = member(server)
    bob = member(server, email="bob@acme.test")
    ann_desktop, bob_desktop = start_desktop(server, ann), start_desktop(server, bob)
    Viewer.open(bob, server.url, bob_desktop).handshake().close()
    for session_id in (ann_desktop, bob_desktop):
        inside = sandbox_pid(server, session_id)
        sockets = [line.split() for table in ("tcp", "tcp6") for line in Path(f"/proc/{inside}/net/{table}").read_text().splitlines()[1:]]
        listening = [fields[1] for fields in sockets if fields[3] == "0A"]  # 0A: LISTEN
        assert listening == [], f"something listens on TCP in the desktop's sandbox: {listening}"

    bobs_socket = server.data_dir / "sessions" / bob_desktop / "socket" / "vnc.sock"
    swapped = in_sandbox(
        server, ann_desktop, "/bin/sh", "-c",
        f"mv /run/holdfast/vnc.sock /run/holdfast/mine && ln -s {bobs_socket} /run/holdfast/vnc.sock && ls -l /run/holdfast")
    assert swapped.returncode == 0 and b"vnc.sock ->" in swapped.stdout, swapped
    intruder = Viewer.open(ann, server.url, ann_desktop)
    intruder.wait_closed(15)
    assert f"Holdfast desktop {bob_desktop[:8]}".encode() not in bytes(intruder.buffer)
    assert intruder.buffer == bytearray(), "the attach read from a socket it should have refused"
    assert any(notice.get("type") == "error" for notice in intruder.notices), intruder.notices
    # Bob's desktop is untouched and still his alone.
    again = Viewer.open(bob, server.url, bob_desktop).handshake()
    assert again.name == f"Holdfast desktop {bob_desktop[:8]}"
    again.close()


def test_a_desktop_survives_kill_9_of_the_server(binary, data_dir, store):
    first = start_server(binary, data_dir, database=store, extra=("--heartbeat", "1s"))
    http = member(first)
    session_id = start_desktop(first, http)
    viewer = Viewer.open(http, first.url, session_id).handshake()
    wait_for_window(first, session_id, "Terminal")
    in_sandbox(first, session_id, "/bin/sh", "-c", "xterm -title before-the-crash >/dev/null 2>&1 &")
    wait_for_window(first, session_id, "before-the-crash")
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)

    second = start_server(binary, data_dir, database=store, extra=("--heartbeat", "1s"))
    try:
        http = second.login("ann@acme.test", "correct horse")
        assert http.get(f"{second.url}/api/v1/sessions/{session_id}", timeout=10).json()["state"] == "held"
        assert "adopted" in timeline(second, http, session_id)
        again = Viewer.open(http, second.url, session_id).handshake()
        assert again.name == viewer.name
        assert "before-the-crash" in windows(second, session_id)
        again.full_frame()
        again.close()
    finally:
        second.stop()


def test_clipboard_text_crosses_both_ways_in_utf8(server: Server):
    http = member(server)
    session_id = start_desktop(server, http)
    viewer = Viewer.open(http, server.url, session_id).handshake(extended_clipboard=True)
    wait_for_window(server, session_id, "Terminal")
    viewer.full_frame()

    # Browser → desktop: the X clipboard holds the text, UTF-8 intact.
    sent = "Grüße aus dem Browser — 你好 ✓"
    viewer.paste(sent)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        selection = in_sandbox(server, session_id, "/usr/bin/xclip", "-o", "-selection", "clipboard")
        if selection.stdout.decode(errors="replace") == sent:
            break
        viewer.pump(0.2)
    assert selection.stdout.decode(errors="replace") == sent, selection

    # Desktop → browser: text copied on the desktop arrives at the viewer.
    copied = "copié sur le bureau ☃"
    copy = in_sandbox(
        server, session_id, "/bin/sh", "-c",
        f"printf '%s' '{copied}' | xclip -i -selection clipboard -loops 1 >/dev/null 2>&1 &")
    assert copy.returncode == 0, copy.stderr
    assert viewer.wait_for_clipboard(copied, timeout=15) == copied
    viewer.close()


def test_remote_resize_and_bad_input_leave_the_desktop_unharmed(server: Server):
    http = member(server)
    session_id = start_desktop(server, http)

    # A viewer's own size: SetDesktopSize within bounds resizes the X screen.
    viewer = Viewer.open(http, server.url, session_id).handshake()
    viewer.full_frame()
    viewer.set_desktop_size(1024, 640)
    deadline = time.monotonic() + 15
    while (viewer.width, viewer.height) != (1024, 640) and time.monotonic() < deadline:
        viewer.request_update(incremental=True)
        viewer.next_message()
    assert (viewer.width, viewer.height) == (1024, 640)
    root = in_sandbox(server, session_id, "/usr/bin/xwininfo", "-root").stdout.decode()
    assert "Width: 1024" in root and "Height: 640" in root, root
    viewer.close()

    def refused(send, reason: str) -> None:
        bad = Viewer.open(http, server.url, session_id)
        send(bad)
        bad.wait_closed(15)
        assert bad.close_reason == reason or any(n.get("code") == reason for n in bad.notices), (bad.close_code, bad.close_reason, bad.notices)

    # Garbage instead of a protocol version.
    refused(lambda v: (v.read(12), v.send(b"GET / HTTP/1.1\r\n\r\n")), "not_rfb")
    # An absurd desktop size: refused before Xvnc could allocate 3.6 GB for it.
    refused(lambda v: (v.handshake(), v.set_desktop_size(30000, 30000)), "desktop_size_refused")
    # A clipboard of 100 MB, announced: refused at its header.
    refused(lambda v: (v.handshake(), v.send(struct.pack(">B3xI", 6, 100 << 20) + b"x" * 65536)), "clipboard_too_large")
    # A single 64 MiB WebSocket frame: closed as too big (1009), never buffered.
    big = Viewer.open(http, server.url, session_id)
    big.handshake()
    try:
        big.send(b"\x00" * (64 << 20))
    except (OSError, websocket.WebSocketException):
        pass  # the server may close while the frame is still going out
    big.wait_closed(20)
    assert big.close_code in (1009, None), big.close_code

    # A flood of input events: taken at the desktop's pace, and the desktop still answers.
    flood = Viewer.open(http, server.url, session_id).handshake()
    events = b"".join(struct.pack(">BBHH", 5, 0, i % 1000, i % 600) for i in range(20000))
    for start in range(0, len(events), 60000):
        flood.send(events[start : start + 60000])
    flood.full_frame()
    flood.close()

    after = Viewer.open(http, server.url, session_id).handshake()
    assert after.name == f"Holdfast desktop {session_id[:8]}"
    after.full_frame()
    after.close()
    assert http.get(f"{server.url}/api/v1/sessions/{session_id}", timeout=10).json()["state"] in ("connected", "held")


def test_the_desktop_viewer_shows_the_desktop_in_chromium(server: Server, browser, artifacts):
    server.cli("admin", "create-tenant", "--name", "Acme", "--slug", "acme")
    server.cli("admin", "create-user", "--tenant", "acme", "--email", "ann@acme.test", "--password", "correct horse", "--role", "member")
    sign_in(browser, server, "ann@acme.test", "correct horse")
    settled(browser).until(ready.element_to_be_clickable((By.CSS_SELECTOR, "[data-action=new-session][data-kind=desktop]"))).click()
    settled(browser, 30).until(ready.url_contains("/sessions/"))
    session_id = browser.current_url.rstrip("/").rsplit("/", 1)[1]
    settled(browser, 20).until(ready.text_to_be_present_in_element((By.ID, "status-text"), "Connected"))
    wait_for_window(server, session_id, "Terminal")
    # The canvas holds the desktop: many colours (openbox's frame, the xterm's text), not one.
    colours = """
        const canvas = document.querySelector('#desktop canvas');
        if (!canvas || canvas.width < 100) return 0;
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        const seen = new Set();
        for (let i = 0; i < data.length; i += 4 * 53) seen.add(data[i] << 16 | data[i + 1] << 8 | data[i + 2]);
        return seen.size;
    """
    settled(browser, 20).until(lambda driver: driver.execute_script(colours) > 3, "the desktop's canvas stayed blank")
    assert browser.execute_script("return document.body.dataset.desktopName") == f"Holdfast desktop {session_id[:8]}"
    browser.save_screenshot(str(artifacts / "desktop-viewer.png"))

    # Text in the clipboard panel reaches the desktop's X clipboard.
    browser.find_element(By.ID, "clipboard-toggle").click()
    panel = browser.find_element(By.ID, "clipboard-text")
    panel.send_keys("aus dem Browser ✓")
    browser.find_element(By.ID, "clipboard-send").click()
    deadline = time.monotonic() + 15
    text = ""
    while time.monotonic() < deadline and text != "aus dem Browser ✓":
        text = in_sandbox(server, session_id, "/usr/bin/xclip", "-o", "-selection", "clipboard").stdout.decode(errors="replace")
        time.sleep(0.2)
    assert text == "aus dem Browser ✓"


def test_the_desktop_viewer_survives_a_dropped_connection(server: Server, browser, artifacts):
    """Chromium through a relay: the link is cut, the overlay says the desktop is held, the link
    comes back, and the viewer reconnects by itself to the same desktop."""
    server.cli("admin", "create-tenant", "--name", "Acme", "--slug", "acme")
    server.cli("admin", "create-user", "--tenant", "acme", "--email", "ann@acme.test", "--password", "correct horse", "--role", "member")
    relay = Relay(int(server.url.rsplit(":", 1)[1]))
    try:
        sign_in(browser, server, "ann@acme.test", "correct horse", base_url=relay.url)
        settled(browser).until(ready.element_to_be_clickable((By.CSS_SELECTOR, "[data-action=new-session][data-kind=desktop]"))).click()
        settled(browser, 30).until(ready.url_contains("/sessions/"))
        session_id = browser.current_url.rstrip("/").rsplit("/", 1)[1]
        settled(browser, 20).until(ready.text_to_be_present_in_element((By.ID, "status-text"), "Connected"))
        name = f"Holdfast desktop {session_id[:8]}"
        settled(browser, 20).until(lambda driver: driver.execute_script("return document.body.dataset.desktopName") == name)

        relay.cut()
        overlay = settled(browser).until(ready.visibility_of_element_located((By.ID, "overlay")))
        settled(browser, 10).until(ready.text_to_be_present_in_element((By.ID, "overlay-text"), "held until"))
        assert "min left" in browser.find_element(By.ID, "overlay-text").text
        browser.save_screenshot(str(artifacts / "desktop-connection-lost.png"))

        relay.restore()
        settled(browser, 30).until(ready.invisibility_of_element(overlay))
        settled(browser, 10).until(ready.text_to_be_present_in_element((By.ID, "status-text"), "Connected"))
        assert browser.execute_script("return document.body.dataset.desktopName") == name
        assert "Terminal" in windows(server, session_id)
        browser.save_screenshot(str(artifacts / "desktop-resumed.png"))
    finally:
        relay.close()


def test_a_desktop_session_expires_through_a_verified_snapshot(binary, data_dir, store):
    server = start_server(binary, data_dir, database=store, extra=("--grace", "3s", "--heartbeat", "1s"))
    try:
        http = member(server)
        session_id = start_desktop(server, http)
        viewer = Viewer.open(http, server.url, session_id).handshake()
        wrote = in_sandbox(server, session_id, "/bin/sh", "-c", "mkdir -p ~/drawings && echo 'made on the desktop' > ~/drawings/plan.txt && sync")
        assert wrote.returncode == 0, wrote.stderr
        viewer.close()
        closed = wait_for_state(server, http, session_id, "closed", timeout=90)
        assert closed["closeReason"] == "expired"
        events = timeline(server, http, session_id)
        assert events[-2:] == ["snapshot", "closed"], events
        newest = http.get(f"{server.url}/api/v1/workspace/snapshots", timeout=120).json()["items"][0]
        assert newest["sessionId"] == session_id
        listed = http.get(f"{server.url}/api/v1/workspace/snapshots/{newest['id']}/files", params={"path": "drawings"}, timeout=120)
        assert {entry["name"]: entry["size"] for entry in listed.json()["items"]} == {"plan.txt": len("made on the desktop\n")}
        # Nothing of the desktop is left on the host.
        assert not (server.data_dir / "sessions" / session_id).exists()
        assert subprocess.run(["pgrep", "-f", f"sessions/{session_id}"], capture_output=True).returncode == 1
    finally:
        server.stop()
