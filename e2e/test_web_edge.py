"""The web edge holds against another site's pages (issue 14), against the real binary."""

from __future__ import annotations

import pytest
import requests
import websocket

from conftest import Server
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
    refusals = [line for line in server.output if "cross-origin terminal attach refused" in line]
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
    assert ended.status_code == 200, ended.text


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
