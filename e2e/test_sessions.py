"""Terminal sessions that survive the drop, against the real binary, tmux and bubblewrap."""

from __future__ import annotations

import signal
import time
from datetime import datetime, timezone

import pytest
import requests
import websocket

from conftest import Server, start_server
from terminal import Relay, Terminal

PROMPT = r"user@holdfast"


def member(server: Server, slug: str = "acme", email: str = "ann@acme.test") -> requests.Session:
    created = server.cli("admin", "create-tenant", "--name", slug.title(), "--slug", slug, check=False)
    assert created.returncode == 0 or "already taken" in created.stderr, created.stderr
    server.cli("admin", "create-user", "--tenant", slug, "--email", email, "--password", "correct horse", "--role", "member")
    return server.login(email, "correct horse")


def start_session(server: Server, http: requests.Session) -> str:
    response = http.post(f"{server.url}/api/v1/sessions", json={"kind": "terminal"}, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def session_state(server: Server, http: requests.Session, session_id: str) -> dict:
    response = http.get(f"{server.url}/api/v1/sessions/{session_id}", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_state(server: Server, http: requests.Session, session_id: str, state: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        session = session_state(server, http, session_id)
        if session["state"] == state:
            return session
        time.sleep(0.1)
    raise AssertionError(f"session {session_id} did not become {state}: {session}")


def timeline(server: Server, http: requests.Session, session_id: str) -> list[str]:
    return [event["type"] for event in http.get(f"{server.url}/api/v1/sessions/{session_id}/events", timeout=10).json()]


def parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def prepare_shell(term: Terminal) -> None:
    """Leaves state a user would hate to lose: a variable, a directory, a running job."""
    term.wait_for(PROMPT)
    term.run("export HOLDFAST_E2E=kept; cd /tmp; sleep 4242 &")


def assert_shell_state(term: Terminal) -> None:
    screen = term.run('echo "state:$HOLDFAST_E2E:$PWD"; jobs')
    assert "state:kept:/tmp" in screen
    assert "sleep 4242" in screen


@pytest.fixture
def fast_server(binary, data_dir, store):
    """A server with a 1 s heartbeat, so silence is noticed after 2 s; on each store."""
    running = start_server(binary, data_dir, database=store, extra=("--heartbeat", "1s"))
    yield running
    running.stop()


def test_shell_state_survives_an_abrupt_drop(fast_server: Server):
    http = member(fast_server)
    session_id = start_session(fast_server, http)
    term = Terminal.open(http, fast_server.url, session_id)
    prepare_shell(term)
    term.drop()

    held = wait_for_state(fast_server, http, session_id, "held")
    grace = parse(held["expiresAt"]) - parse(held["lostAt"])
    assert grace.total_seconds() == 30 * 60

    again = Terminal.open(http, fast_server.url, session_id)
    again.wait_for("sleep 4242 &")  # the full redraw shows the screen as it was
    assert_shell_state(again)
    assert session_state(fast_server, http, session_id)["state"] == "connected"
    again.close()
    # The snapshot taken on loss lands on the timeline too, whenever it finishes.
    events = [event for event in timeline(fast_server, http, session_id) if event != "snapshot"]
    assert events[:4] == ["started", "attached", "lost", "resumed"]


def test_a_silent_link_is_noticed_and_dated_by_the_last_traffic(fast_server: Server):
    http = member(fast_server)
    session_id = start_session(fast_server, http)
    port = int(fast_server.url.rsplit(":", 1)[1])
    relay = Relay(port)
    try:
        term = Terminal.open(http, fast_server.url, session_id, via=relay.url)
        prepare_shell(term)
        time.sleep(1.5)  # let a ping and its pong cross, so the last traffic is a pong, not a keystroke
        went_silent = datetime.now(timezone.utc)
        relay.silent.set()
        held = wait_for_state(fast_server, http, session_id, "held", timeout=15)
        noticed = datetime.now(timezone.utc)
        lost_at = parse(held["lostAt"])
        # lostAt is the last traffic before the link died, not when the server noticed (2 s later)
        assert lost_at <= went_silent
        assert (went_silent - lost_at).total_seconds() < 2.5
        assert (noticed - lost_at).total_seconds() >= 2
    finally:
        relay.close()
    resumed = Terminal.open(http, fast_server.url, session_id)
    assert_shell_state(resumed)
    resumed.close()


def test_sessions_survive_kill_9_of_the_server(binary, data_dir, store):
    first = start_server(binary, data_dir, database=store, extra=("--heartbeat", "1s"))
    http = member(first)
    session_id = start_session(first, http)
    term = Terminal.open(http, first.url, session_id)
    prepare_shell(term)
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)

    second = start_server(binary, data_dir, database=store, extra=("--heartbeat", "1s"))
    try:
        http = second.login("ann@acme.test", "correct horse")
        adopted = session_state(second, http, session_id)
        assert adopted["state"] == "held"
        assert "adopted" in timeline(second, http, session_id)
        again = Terminal.open(http, second.url, session_id)
        assert_shell_state(again)
        again.close()
    finally:
        second.stop()


def test_a_held_session_closes_after_the_grace(binary, data_dir, store):
    server = start_server(binary, data_dir, database=store, extra=("--grace", "3s", "--heartbeat", "1s"))
    try:
        http = member(server)
        session_id = start_session(server, http)
        term = Terminal.open(http, server.url, session_id)
        term.wait_for(PROMPT)
        term.close()
        held = wait_for_state(server, http, session_id, "held")
        # Closing waits for the verified final snapshot (the first one also creates the repository).
        closed = wait_for_state(server, http, session_id, "closed", timeout=60)
        assert closed["closeReason"] == "expired"
        events = http.get(f"{server.url}/api/v1/sessions/{session_id}/events", timeout=10).json()
        types = [e["type"] for e in events]
        # A fresh workspace is empty (nothing to back up, so no snapshot); test_backups covers the rest.
        assert [t for t in types if t != "snapshot"] == ["started", "attached", "lost", "expired", "closed"]
        expired_at = parse(next(e["at"] for e in events if e["type"] == "expired"))
        assert (expired_at - parse(held["expiresAt"])).total_seconds() < 1.5
        ticket = http.post(f"{server.url}/api/v1/sessions/{session_id}/tickets", timeout=10)
        assert ticket.status_code == 409 and ticket.json()["error"]["code"] == "session_closed"
    finally:
        server.stop()


def test_the_sandbox_keeps_users_apart(server: Server):
    ann = member(server, "acme", "ann@acme.test")
    bob = member(server, "globex", "bob@globex.test")
    ann_session = start_session(server, ann)
    bob_session = start_session(server, bob)
    ann_term = Terminal.open(ann, server.url, ann_session)
    ann_term.wait_for(PROMPT)
    ann_term.run("echo secret > ~/diary.txt")
    bob_term = Terminal.open(bob, server.url, bob_session)
    bob_term.wait_for(PROMPT)
    assert int(bob_term.run("id -u").split()[0]) >= 200000
    assert "No such file" in bob_term.run("cat /etc/shadow")
    assert "No such file" in bob_term.run(f"ls {server.data_dir}")
    assert bob_term.run("find / -name 'diary*' 2>/dev/null | wc -l").split()[0] == "0"
    assert "secret" in ann_term.run("cat ~/diary.txt")
    # the other user's ticket does not open ann's session
    assert bob.post(f"{server.url}/api/v1/sessions/{ann_session}/tickets", timeout=10).status_code == 404


def test_a_ticket_works_once(server: Server):
    http = member(server)
    session_id = start_session(server, http)
    ticket = http.post(f"{server.url}/api/v1/sessions/{session_id}/tickets", timeout=10).json()["ticket"]
    first = Terminal(server.url, session_id, ticket)
    first.wait_for(PROMPT)
    reused = Terminal(server.url, session_id, ticket)
    assert reused.closed.wait(10)
    assert reused.notices == [{"type": "error", "code": "invalid_ticket", "message": reused.notices[0]["message"]}]
    assert "new one" in reused.notices[0]["message"]
    assert reused.close_code == 4401
    first.close()


def test_exit_closes_the_session(server: Server):
    http = member(server)
    session_id = start_session(server, http)
    term = Terminal.open(http, server.url, session_id)
    term.wait_for(PROMPT)
    term.type("exit\r")
    closed = wait_for_state(server, http, session_id, "closed", timeout=60)
    assert closed["closeReason"] == "processesDied"


def test_a_tenant_admin_extends_a_held_session_and_sees_it_in_the_admin_page(fast_server: Server):
    http = member(fast_server)
    fast_server.cli("admin", "create-user", "--tenant", "acme", "--email", "boss@acme.test", "--password", "correct horse", "--role", "tenant-admin")
    admin = fast_server.login("boss@acme.test", "correct horse")
    session_id = start_session(fast_server, http)
    term = Terminal.open(http, fast_server.url, session_id)
    term.wait_for(PROMPT)
    term.drop()
    held = wait_for_state(fast_server, http, session_id, "held")

    extended = admin.post(f"{fast_server.url}/api/v1/sessions/{session_id}/extend", json={"minutes": 30}, timeout=10)
    assert extended.status_code == 200, extended.text
    assert (parse(extended.json()["expiresAt"]) - parse(held["expiresAt"])).total_seconds() == 30 * 60
    assert timeline(fast_server, http, session_id)[-1] == "extended"

    page = admin.get(f"{fast_server.url}/admin", timeout=10).text
    assert f'data-session="{session_id}"' in page and "ann@acme.test" in page and "+30 min" in page


def test_bad_attaches_and_frames_are_refused_and_the_session_is_unharmed(server: Server):
    ann = member(server, "acme", "ann@acme.test")
    bob = member(server, "globex", "bob@globex.test")
    session_id = start_session(server, ann)
    term = Terminal.open(ann, server.url, session_id)
    prepare_shell(term)

    # someone else's session, with their own bearer token: refused, nothing learned
    bob_token = bob.headers["Authorization"]
    intruder = websocket.create_connection(
        server.url.replace("http://", "ws://") + f"/api/v1/sessions/{session_id}/attach", header=[f"Authorization: {bob_token}"], timeout=10
    )
    opcode, data = intruder.recv_data()
    assert b"not_found" in data
    # a session that does not exist
    ghost = websocket.create_connection(
        server.url.replace("http://", "ws://") + "/api/v1/sessions/00000000-0000-0000-0000-000000000000/attach",
        header=[f"Authorization: {ann.headers['Authorization']}"], timeout=10,
    )
    assert b"not_found" in ghost.recv_data()[1]

    # impossible sizes are refused with a notice; the terminal keeps its size
    term.resize(0, 0)
    term.resize(100000, 100000)
    deadline = time.monotonic() + 10
    while len([n for n in term.notices if n.get("code") == "invalid_size"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [n["code"] for n in term.notices] == ["invalid_size", "invalid_size"]
    assert term.run("stty size").split()[:2] == ["30", "100"]

    # a 64 MiB frame is refused: that connection ends, the session is held, nothing is lost
    try:
        term.ws.send_binary(b"x" * (64 << 20))
    except Exception:
        pass
    assert term.closed.wait(20)
    wait_for_state(server, ann, session_id, "held")
    again = Terminal.open(ann, server.url, session_id)
    assert_shell_state(again)
    again.close()
