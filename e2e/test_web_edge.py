"""The web edge holds against another site's pages (issue 14), against the real binary."""

from __future__ import annotations

import select
import socket
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import websocket

from conftest import Server, start_server
from test_sessions import PROMPT, member, start_session
from terminal import Terminal


def attach_url(server: Server, session_id: str, ticket: str | None = None) -> str:
    url = server.url.replace("http://", "ws://") + f"/api/v1/sessions/{session_id}/attach"
    return url + (f"?ticket={ticket}" if ticket else "")


def new_ticket(server: Server, http: requests.Session, session_id: str) -> str:
    response = http.post(f"{server.url}/api/v1/sessions/{session_id}/tickets", timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["ticket"]


def cookie_of(server: Server, email: str) -> str:
    response = requests.post(f"{server.url}/api/v1/auth/login", json={"email": email, "password": "correct horse"}, timeout=10)
    assert response.status_code == 200, response.text
    return response.cookies["holdfast_session"]


def test_another_sites_upgrade_and_a_cookie_only_attach_get_no_terminal_byte(server: Server):
    ann = member(server, "acme", "ann@acme.test")
    session_id = start_session(server, ann)
    term = Terminal.open(ann, server.url, session_id)
    term.wait_for(PROMPT)
    term.drop()
    cookie = f"holdfast_session={cookie_of(server, 'ann@acme.test')}"
    ticket = new_ticket(server, ann, session_id)

    # Another site's page, with the victim's cookie and even a valid ticket: refused before the
    # upgrade (an HTTP 4xx, no WebSocket at all), and the server log says why.
    foreign = ["https://evil.example", "null", "http://", server.url.replace("127.0.0.1", "localhost")]
    for origin in foreign:
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(attach_url(server, session_id, ticket), header=[f"Cookie: {cookie}"],
                                        origin=origin, timeout=10)
        assert 400 <= refused.value.status_code < 500, origin
    deadline = time.monotonic() + 10  # the server's log arrives through a pipe, a moment later
    while len(refusals := [line for line in server.output if "cross-origin terminal attach refused" in line]) < len(foreign):
        assert time.monotonic() < deadline, "".join(server.output[-20:])
        time.sleep(0.1)
    assert len(refusals) == len(foreign), "".join(server.output[-20:])
    assert "origin=https://evil.example" in refusals[0]

    # Our own origin with the cookie alone: upgraded, told to get a ticket, closed; not one byte of the terminal.
    lone = websocket.create_connection(attach_url(server, session_id), header=[f"Cookie: {cookie}"],
                                       origin=server.url, timeout=10)
    frames = []
    while True:
        opcode, data = lone.recv_data(control_frame=True)
        frames.append((opcode, data))
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            break
    assert not [data for opcode, data in frames if opcode == websocket.ABNF.OPCODE_BINARY]
    assert any(b"ticket_required" in data for opcode, data in frames if opcode == websocket.ABNF.OPCODE_TEXT)
    assert int.from_bytes(frames[-1][1][:2], "big") == 4401

    # The refused upgrades spent nothing: the ticket still opens the terminal from our own origin.
    own = websocket.create_connection(attach_url(server, session_id, ticket), origin=server.url, timeout=10)
    opcode, data = own.recv_data()
    assert opcode == websocket.ABNF.OPCODE_BINARY and data
    own.close()


def test_another_sites_form_post_with_the_cookie_changes_nothing(server: Server):
    ann = member(server, "acme", "ann@acme.test")
    browser = requests.Session()
    browser.cookies.set("holdfast_session", cookie_of(server, "ann@acme.test"))
    before = ann.get(f"{server.url}/api/v1/sessions", timeout=10).json()["items"]

    # What a hidden form or fetch on evil.example would send: the cookie rides along, the Origin betrays it.
    forged = browser.post(f"{server.url}/api/v1/sessions", json={"kind": "terminal"},
                          headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, timeout=10)
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "cross_origin"
    # Without any Origin (an old browser, a stripped header) the cookie alone does not do it either.
    bare = browser.post(f"{server.url}/api/v1/sessions", json={"kind": "terminal"}, timeout=10)
    assert bare.status_code == 403 and bare.json()["error"]["code"] == "origin_required"
    # A same-site but other-origin page (Sec-Fetch-Site: same-site) is another origin too.
    sibling = browser.post(f"{server.url}/api/v1/sessions", json={"kind": "terminal"},
                           headers={"Sec-Fetch-Site": "same-site"}, timeout=10)
    assert sibling.status_code == 403
    assert ann.get(f"{server.url}/api/v1/sessions", timeout=10).json()["items"] == before

    # A forged sign-in (into the attacker's account) from another site: refused, no cookie set.
    login = requests.post(f"{server.url}/api/v1/auth/login", json={"email": "ann@acme.test", "password": "correct horse"},
                          headers={"Origin": "https://evil.example"}, timeout=10)
    assert login.status_code == 403 and "Set-Cookie" not in login.headers

    # Our own page's request, and a script's bearer token, still work.
    own = browser.post(f"{server.url}/api/v1/sessions", json={"kind": "terminal"}, headers={"Origin": server.url}, timeout=30)
    assert own.status_code == 201, own.text
    ended = ann.delete(f"{server.url}/api/v1/sessions/{own.json()['id']}", timeout=30)
    assert ended.status_code == 202, ended.text  # the close started; it runs on its own


def test_pages_forbid_framing_and_inline_script_and_a_sign_in_stays_on_the_site(server: Server):
    for path in ["/login", "/status", "/api/v1/auth/me", "/no-such-page", "/static/portal.js"]:
        response = requests.get(f"{server.url}{path}", timeout=10, allow_redirects=False)
        policy = response.headers.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy, (path, policy)
        assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0], policy
        assert response.headers.get("X-Frame-Options") == "DENY", path
        assert response.headers.get("X-Content-Type-Options") == "nosniff", path
        assert response.headers.get("Referrer-Policy") == "same-origin", path
        # Served over plain http without an https public URL: no HSTS.
        assert "Strict-Transport-Security" not in response.headers, path

    # `next=` leads only to paths on this site; each of these a browser would read as another site.
    for sneaky in ["//evil.example", "/%5Cevil.example", "/%5C%5Cevil.example", "/%09/evil.example", "%2F%2Fevil.example",
                   "https://evil.example", "https:evil.example", "/%0A/evil.example"]:
        page = requests.get(f"{server.url}/login?next={sneaky}", timeout=10).text
        assert 'data-next="/"' in page, (sneaky, page[:400])
    page = requests.get(f"{server.url}/login?next=/support", timeout=10).text
    assert 'data-next="/support"' in page


def trickle_until_closed(connection: socket.socket, limit: float) -> float | None:
    """Sends one more header line a second; returns how long until the server closed, or None."""
    started = time.monotonic()
    try:
        while time.monotonic() - started < limit:
            readable, _, _ = select.select([connection], [], [], 1.0)
            if readable and connection.recv(4096) == b"":
                return time.monotonic() - started
            connection.sendall(b"X-Slow: still-coming\r\n")
    except (BrokenPipeError, ConnectionResetError):
        return time.monotonic() - started
    return None


def slowloris(address: tuple[str, int], opening: bytes) -> float | None:
    with socket.create_connection(address, timeout=5) as connection:
        connection.sendall(opening)
        return trickle_until_closed(connection, limit=20)


def test_a_client_trickling_its_header_is_cut_off_while_others_are_served(binary: Path, data_dir: Path):
    server = start_server(binary, data_dir, extra=("--header-timeout", "3s", "--idle-timeout", "4s"))
    try:
        parts = urlsplit(server.url)
        address = (parts.hostname, parts.port)
        # Slowloris on a new connection: a header line every second never completes the header.
        first = slowloris(address, b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        assert first is not None, "the server kept a connection whose header never ended"
        assert first < 10, first
        # The server's log reaches us through a pipe a moment after the connection closed.
        deadline = time.monotonic() + 10
        while not any("request header not complete in time" in line for line in server.output):
            assert time.monotonic() < deadline, "".join(server.output[-20:])
            time.sleep(0.1)

        # Blank lines before the request line do not stop the clock.
        assert slowloris(address, b"\r\n\r\n\r\nGET /healthz HTTP/1.1\r\n") is not None

        # On a kept-alive connection the next request's header is held to the idle timeout.
        with socket.create_connection(address, timeout=5) as connection:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert connection.recv(4096).startswith(b"HTTP/1.1 200")
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            later = trickle_until_closed(connection, limit=20)
            assert later is not None and later < 12, later

        # Meanwhile, and after, ordinary clients are served.
        assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
    finally:
        server.stop()


def test_a_flood_of_guesses_is_slowed_while_the_owner_signs_in_from_another_address(binary: Path, data_dir: Path):
    # The test client stands for a proxy we run: it names the caller in X-Forwarded-For.
    server = start_server(binary, data_dir, extra=("--trusted-proxy", "127.0.0.1/32"))
    try:
        url = f"{server.url}/api/v1/auth/login"
        attacker = {"X-Forwarded-For": "203.0.113.7"}

        def guess(index: int) -> requests.Response:
            return requests.post(url, json={"email": server.operator_email, "password": f"guess-{index}"}, headers=attacker,
                                 timeout=120)

        with ThreadPoolExecutor(max_workers=100) as pool:
            guesses = [pool.submit(guess, index) for index in range(100)]
            owner = requests.post(url, json={"email": server.operator_email, "password": server.operator_password},
                                  headers={"X-Forwarded-For": "198.51.100.1"}, timeout=120)
            answers = [future.result() for future in guesses]

        assert owner.status_code == 200, owner.text
        statuses = Counter(answer.status_code for answer in answers)
        # Each guess counts before its password is checked: only the first few reach bcrypt (5 when
        # the hundred arrive within the first 2 s delay; a host that stalls longer lets one or two more).
        assert statuses[401] <= 8 and statuses[429] >= 92 and statuses[401] + statuses[429] == 100, statuses
        for answer in answers:
            if answer.status_code == 429:
                assert answer.json()["error"]["code"] == "too_many_attempts"
                assert int(answer.headers["Retry-After"]) >= 1
        # The attacker's address is told to wait even with the right password.
        right = {"email": server.operator_email, "password": server.operator_password}
        assert requests.post(url, json=right, headers=attacker, timeout=30).status_code == 429
    finally:
        server.stop()


def test_a_forwarded_for_from_a_peer_we_do_not_trust_is_ignored(server: Server):
    url = f"{server.url}/api/v1/auth/login"
    for attempt in range(5):
        spoofed = {"X-Forwarded-For": f"198.51.100.{attempt}"}
        wrong = requests.post(url, json={"email": server.operator_email, "password": f"wrong-{attempt}"}, headers=spoofed,
                              timeout=30)
        assert wrong.status_code == 401
    # A fresh address in the header does not make this client someone else.
    fresh = {"X-Forwarded-For": "192.0.2.200"}
    right = requests.post(url, json={"email": server.operator_email, "password": server.operator_password}, headers=fresh,
                          timeout=30)
    assert right.status_code == 429 and right.json()["error"]["code"] == "too_many_attempts"


def test_metrics_answer_this_host_or_the_metrics_token_only(binary: Path, data_dir: Path, tmp_path: Path):
    token_file = tmp_path / "metrics-token"
    token_file.write_text("scrape-" + "x" * 24 + "\n")
    token_file.chmod(0o644)
    refused = subprocess.run([str(binary), "serve", "--data-dir", str(data_dir), "--port", "0",
                              "--metrics-token-file", str(token_file)], capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "chmod 600" in refused.stderr, refused.stderr

    token_file.chmod(0o600)
    server = start_server(binary, data_dir, extra=("--trusted-proxy", "127.0.0.1/32", "--metrics-token-file", str(token_file)))
    try:
        metrics = f"{server.url}/metrics"
        assert "holdfast_info" in requests.get(metrics, timeout=10).text  # this host
        outside = {"X-Forwarded-For": "203.0.113.7"}
        denied = requests.get(metrics, headers=outside, timeout=10)
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "metrics_forbidden"
        assert "holdfast_info" not in denied.text
        wrong = requests.get(metrics, headers={**outside, "Authorization": "Bearer not-the-token"}, timeout=10)
        assert wrong.status_code == 401
        scraped = requests.get(metrics, headers={**outside, "Authorization": "Bearer scrape-" + "x" * 24}, timeout=10)
        assert scraped.status_code == 200 and "holdfast_info" in scraped.text
        assert not any("scrape-xxxx" in line for line in server.output)
    finally:
        server.stop()
