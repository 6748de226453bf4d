"""Many servers on one PostgreSQL: each claims its node name with a lease, records itself on the
sessions it starts, adopts only its own after a restart, and an operator can drain one."""

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from conftest import drop_postgres_database, end_sessions_of, fresh_postgres_database, start_server
from test_sessions import member, session_state, start_session


def nodes(server, http: requests.Session) -> dict[str, dict]:
    response = http.get(f"{server.url}/api/v1/nodes", timeout=10)
    assert response.status_code == 200, response.text
    return {node["name"]: node for node in response.json()["items"]}


def events(server, http: requests.Session, session_id: str) -> list[str]:
    response = http.get(f"{server.url}/api/v1/sessions/{session_id}/events", timeout=10)
    assert response.status_code == 200, response.text
    return [event["type"] for event in response.json()]


def wait_until(check, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (result := check()):
            return result
        time.sleep(0.2)
    raise AssertionError(message)


def serve_refused(binary: Path, data_dir: Path, database: str, *extra: str) -> str:
    """Starts a server that must refuse to start; returns what it printed."""
    result = subprocess.run(
        [str(binary), "serve", "--data-dir", str(data_dir), "--database", database, "--port", "0", *extra],
        capture_output=True, text=True, timeout=60)
    assert result.returncode != 0, f"the server started:\n{result.stdout}{result.stderr}"
    return result.stdout + result.stderr


def test_nodes_on_one_database_keep_to_their_own_sessions(binary: Path):
    database, cluster = fresh_postgres_database()
    with tempfile.TemporaryDirectory(prefix="holdfast-e2e-") as directory:
        root = Path(directory)
        a = b = None
        try:
            a = start_server(binary, root / "a", database, ("--node", "node-a"))
            b = start_server(binary, root / "b", database, ("--node", "node-b"))
            operator = a.operator()
            listed = nodes(a, operator)
            assert set(listed) == {"node-a", "node-b"}
            # With --port 0 a node advertises the port it got.
            assert listed["node-a"]["url"] == a.url and listed["node-b"]["url"] == b.url
            assert all(node["state"] == "up" for node in listed.values())

            # A second server under a name in use refuses to start and says which server holds it.
            said = serve_refused(binary, root / "c", database, "--node", "node-a")
            assert "Another server is running as node 'node-a'" in said and a.url in said, said
            assert "--node" in serve_refused(binary, root / "c", database, "--node", "bad name!")

            ann = member(a, email="ann@acme.test")
            bob = member(a, email="bob@acme.test")
            on_a = start_session(a, ann)
            on_b = start_session(b, bob)
            assert session_state(a, ann, on_a)["node"] == "node-a"
            assert session_state(a, bob, on_b)["node"] == "node-b"
            response = ann.get(f"{a.url}/api/v1/nodes", timeout=10)
            assert response.status_code == 403, response.text

            # node-b dies and comes back: it adopts its own session and leaves node-a's alone.
            state_on_a = session_state(a, ann, on_a)["state"]
            b.stop(signal.SIGKILL)
            b = start_server(binary, root / "b", database, ("--node", "node-b"))
            assert "adopted" in events(b, bob, on_b)
            assert "adopted" not in events(a, ann, on_a)
            assert session_state(a, ann, on_a)["state"] == state_on_a

            # An operator drains node-b through node-a: node-b refuses new sessions within a lease
            # renewal, node-a still starts them; lifting the drain lets node-b start them again.
            response = operator.post(f"{a.url}/api/v1/nodes/node-b/drain", timeout=10)
            assert response.status_code == 200 and response.json()["state"] == "draining", response.text

            def refused():
                answer = bob.post(f"{b.url}/api/v1/sessions", json={"kind": "terminal"}, timeout=30)
                if answer.status_code == 201:
                    bob.delete(f"{b.url}/api/v1/sessions/{answer.json()['id']}", timeout=30)
                    return None
                return (answer,)  # in a tuple: a 503 response is falsy

            answer, = wait_until(refused, 10, "node-b kept starting sessions after its drain")
            assert answer.status_code == 503 and answer.json()["error"]["code"] == "node_draining", answer.text
            carol = member(a, email="carol@acme.test")
            assert session_state(a, carol, start_session(a, carol))["node"] == "node-a"
            assert nodes(b, operator)["node-b"]["liveSessions"] >= 1
            audit = operator.get(f"{a.url}/api/v1/audit", timeout=10).json()["items"]
            assert any(event["action"] == "node.drained" and event["target"] == "node-b" for event in audit)
            assert operator.delete(f"{a.url}/api/v1/nodes/node-b/drain", timeout=10).json()["state"] == "up"
            wait_until(lambda: refused() is None, 10, "node-b still refused sessions after the drain was lifted")
            assert operator.post(f"{a.url}/api/v1/nodes/nowhere/drain", timeout=10).status_code == 404

            # A clean stop gives the lease up at once: the others see the node down.
            a.stop()
            assert nodes(b, operator)["node-a"]["state"] == "down"
        finally:
            for server in (a, b):
                if server is not None and server.process.poll() is None:
                    server.stop()
            for name in ("a", "b", "c"):
                end_sessions_of(root / name)
        # A database a newer release has upgraded is refused, naming the schema version needed.
        subprocess.run(["psql", database, "-q", "-c",
                        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)"], check=True)
        with tempfile.TemporaryDirectory(prefix="holdfast-e2e-") as other:
            said = serve_refused(binary, Path(other) / "d", database, "--node", "node-d")
            assert "schema is at version 999" in said, said
    drop_postgres_database(database, cluster)


DUTIES = {"mailer", "breach-warnings", "maintenance-clock", "plan-keeper", "node-watch", "usage-recorder", "retention", "drills"}


def duty_holders(server, http: requests.Session) -> dict[str, str]:
    """Which node runs each once-only duty, as the nodes list says."""
    return {duty: name for name, node in nodes(server, http).items() for duty in node["duties"]}


def file_ticket(server, http: requests.Session, subject: str) -> None:
    response = http.post(f"{server.url}/api/v1/tickets", timeout=10, json={
        "kind": "bug", "subject": subject, "description": "It broke.", "occurredAt": "2026-12-01T10:00:00Z",
        "whatHappened": "I pressed the button."})
    assert response.status_code == 201, response.text


def test_each_once_only_duty_runs_on_one_node_and_moves_when_it_dies(binary: Path):
    from mailserver import MailServer

    database, cluster = fresh_postgres_database()
    mail = MailServer()
    with tempfile.TemporaryDirectory(prefix="holdfast-e2e-") as directory:
        root = Path(directory)
        servers = {}
        try:
            for name in ("node-a", "node-b"):
                servers[name] = start_server(binary, root / name, database, ("--node", name, "--smtp", mail.url))
            first = servers["node-a"]
            operator = first.operator()
            def every_duty_held():
                held = duty_holders(first, operator)
                return held if set(held) == DUTIES else None

            holders = wait_until(every_duty_held, 30, "not every once-only duty found a node")
            assert set(holders.values()) <= {"node-a", "node-b"}

            # Both nodes share the outbox: a ticket's mail is sent once, by the node running the mailer.
            ann = member(first, email="ann@acme.test")
            file_ticket(first, ann, "Printer on fire")
            mail.wait_for(lambda m: "Printer on fire" in str(m["Subject"]))
            time.sleep(5)  # time enough for a second mailer to send it again, were there one
            sent = [str(m["Message-ID"]) for m in mail.collector.messages if "Printer on fire" in str(m["Subject"])]
            assert len(sent) == 1, sent

            # The node running the mailer dies: within a lease (15 s) and a renewal the other node
            # runs every duty, and the next ticket's mail goes out.
            dead = holders["mailer"]
            alive = "node-b" if dead == "node-a" else "node-a"
            servers[dead].stop(signal.SIGKILL)
            survivor = servers[alive]
            started = time.monotonic()
            wait_until(lambda: duty_holders(survivor, operator) == {duty: alive for duty in DUTIES}, 40,
                       "the duties did not move to the surviving node")
            moved_after = time.monotonic() - started
            assert moved_after <= 2 * 15 + 3, moved_after
            file_ticket(survivor, ann, "Printer still on fire")
            mail.wait_for(lambda m: "Printer still on fire" in str(m["Subject"]))
        finally:
            for server in servers.values():
                if server.process.poll() is None:
                    server.stop()
            for name in servers:
                end_sessions_of(root / name)
            mail.stop()
    drop_postgres_database(database, cluster)


def test_a_node_gone_for_good_closes_its_sessions_as_host_lost_and_the_files_come_back_elsewhere(binary: Path, monkeypatch):
    from objectstore import CREDENTIALS, MotoServer
    from test_sessions import wait_for_state

    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    database, cluster = fresh_postgres_database()
    moto = MotoServer()
    moto.create_bucket("cluster")
    with tempfile.TemporaryDirectory(prefix="holdfast-e2e-") as directory:
        root = Path(directory)
        # Every node: the same store, the same bucket, the same backup passwords.
        shared = ("--backup-repository", f"s3:{moto.url}/cluster/holdfast", "--secrets-dir", str(root / "secrets"),
                  "--grace", "60s", "--snapshot-interval", "10s")
        servers = {}
        try:
            servers["node-a"] = start_server(binary, root / "a", database, ("--node", "node-a", *shared))
            servers["node-b"] = start_server(binary, root / "b", database, ("--node", "node-b", *shared))
            a, b = servers["node-a"], servers["node-b"]
            bob = member(a, email="bob@acme.test")
            lost = start_session(b, bob)
            response = bob.put(f"{b.url}/api/v1/workspace/files", params={"path": "thesis.txt"}, data=b"chapter one\n", timeout=30)
            assert response.status_code == 201, response.text
            # The change is in a snapshot in the shared bucket within the RPO (10 s here).
            wait_until(lambda: bob.get(f"{b.url}/api/v1/workspace/snapshots", timeout=120).json()["items"], 90,
                       "the upload was never snapshotted")

            # node-b is gone for good: killed, its sessions' processes too.
            b.stop(signal.SIGKILL)
            end_sessions_of(root / "b")
            held = wait_for_state(a, bob, lost, "held", timeout=60)
            assert held["node"] == "node-b" and held["expiresAt"], held
            closed = wait_for_state(a, bob, lost, "closed", timeout=120)
            assert closed["closeReason"] == "hostLost", closed

            # Bob's next session starts on node-a with his files from the bucket.
            again = start_session(a, bob)
            assert session_state(a, bob, again)["node"] == "node-a"
            response = bob.get(f"{a.url}/api/v1/workspace/files", params={"path": "thesis.txt"}, timeout=30)
            assert response.status_code == 200 and response.content == b"chapter one\n", response.text
            assert "restored" in events(a, bob, again)
        finally:
            for server in servers.values():
                if server.process.poll() is None:
                    server.stop()
            for name in ("a", "b"):
                end_sessions_of(root / name)
            moto.stop()
    drop_postgres_database(database, cluster)


def node_auth(secret: str, method: str, path: str, node: str, user_id: str, at: float) -> str:
    """The header a node vouches with (NodeCredential): for checking that forgeries are refused."""
    import hashlib
    import hmac
    stamp = int(at)
    message = "\n".join([method, path, node, user_id, str(stamp)]).encode()
    return f"v1;{node};{user_id};{stamp};{hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()}"


def test_a_session_is_attached_and_closed_through_any_node(binary: Path):
    from terminal import Terminal
    from test_sessions import PROMPT

    database, cluster = fresh_postgres_database()
    with tempfile.TemporaryDirectory(prefix="holdfast-e2e-") as directory:
        root = Path(directory)
        secret = os.urandom(32).hex()
        secret_file = root / "cluster-secret"
        secret_file.write_text(secret + "\n")
        secret_file.chmod(0o600)
        servers = {}
        try:
            for name in ("node-a", "node-b"):
                servers[name] = start_server(binary, root / name, database,
                                             ("--node", name, "--cluster-secret-file", str(secret_file)))
            a, b = servers["node-a"], servers["node-b"]
            ann = member(a, email="ann@acme.test")
            session_id = start_session(a, ann)
            assert session_state(b, ann, session_id)["node"] == "node-a"

            # Attached through node-b (the ticket too comes from node-b): the shell is node-a's.
            term = Terminal.open(ann, b.url, session_id)
            term.wait_for(PROMPT)
            term.run("export MARK=forwarded-$((6*7))")
            term.drop()
            # Straight to node-a: the same shell.
            term = Terminal.open(ann, a.url, session_id)
            term.wait_for(PROMPT)
            term.run("echo $MARK")
            term.wait_for("forwarded-42")
            term.close()
            assert "attached" in events(a, ann, session_id)

            # A new session goes to the node with the fewest (node-b here), whichever node was asked;
            # a drained node gets none, even when it is the one asked.
            bob = member(a, email="bob@acme.test")
            response = bob.post(f"{a.url}/api/v1/sessions", json={"kind": "terminal"}, timeout=30)
            assert response.status_code == 201 and response.json()["node"] == "node-b", response.text
            operator = a.operator()
            assert operator.post(f"{a.url}/api/v1/nodes/node-b/drain", timeout=10).json()["state"] == "draining"
            carol = member(a, email="carol@acme.test")
            response = carol.post(f"{b.url}/api/v1/sessions", json={"kind": "terminal"}, timeout=30)
            assert response.status_code == 201 and response.json()["node"] == "node-a", response.text
            operator.delete(f"{a.url}/api/v1/nodes/node-b/drain", timeout=10)

            # Forged node-to-node requests are refused: a made-up header, one signed with another
            # secret, and a genuine one replayed ten minutes later.
            me = ann.get(f"{a.url}/api/v1/auth/me", timeout=10).json()["user"]["id"]
            path = f"/api/v1/sessions/{session_id}"
            for header in ("v1;node-b;nobody;0;00",
                           node_auth("not-the-cluster-secret-at-all-0123456789", "DELETE", path, "node-b", me, time.time()),
                           node_auth(secret, "DELETE", path, "node-b", me, time.time() - 600)):
                response = requests.delete(f"{a.url}{path}", headers={"X-Holdfast-Node-Auth": header}, timeout=10)
                assert response.status_code == 401, response.text
                assert response.json()["error"]["code"] == "invalid_node_credential"
            assert session_state(a, ann, session_id)["state"] != "closed"

            # Closed through node-b: node-a closes it.
            response = ann.delete(f"{b.url}{path}", timeout=30)
            assert response.status_code in (200, 202), response.text
            assert response.json()["node"] == "node-a"
            from test_sessions import wait_for_state
            wait_for_state(a, ann, session_id, "closed", timeout=60)

            # A node stopped (a rolling upgrade) while a viewer is attached to it through another
            # node stops on time, and the viewer hears the close.
            second = start_session(a, ann)
            term = Terminal.open(ann, b.url, second)
            term.wait_for(PROMPT)
            a.stop()
            assert term.closed.wait(10), "the forwarded viewer was not told its node stopped"
        finally:
            for server in servers.values():
                if server.process.poll() is None:
                    server.stop()
            for name in servers:
                end_sessions_of(root / name)
    drop_postgres_database(database, cluster)
