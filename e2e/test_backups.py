"""Workspace data is never lost: restic snapshots to S3 (moto) or a local repository, restores
anywhere, and the versions page, against the real binary, restic, tmux and Chromium."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready

from browser import settled
from conftest import Server, start_server, unmount_under
from objectstore import CREDENTIALS, MotoServer
from terminal import Relay, Terminal
from test_portal_browser import sign_in
from test_sessions import PROMPT, member, start_session, timeline, wait_for_state


@pytest.fixture(scope="module")
def moto():
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture
def s3_env(monkeypatch):
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)


def workspace_of(server: Server, http: requests.Session) -> Path:
    me = http.get(f"{server.url}/api/v1/auth/me", timeout=10).json()
    return server.data_dir / "workspaces" / me["user"]["tenantId"] / me["user"]["id"]


def wipe_workspace(server: Server, http: requests.Session) -> None:
    """A new host, or a cleaned disk: the workspace and its quota volume are gone (unmounted,
    the image deleted), as on a machine that never had them."""
    me = http.get(f"{server.url}/api/v1/auth/me", timeout=10).json()["user"]
    workspace = workspace_of(server, http)
    volume = server.data_dir / "volumes" / me["tenantId"] / me["id"]
    for mountpoint in (workspace, Path(f"{volume}.mnt")):
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)
    unmount_under(server.data_dir / "workspaces")
    shutil.rmtree(workspace)
    shutil.rmtree(f"{volume}.mnt", ignore_errors=True)
    Path(f"{volume}.img").unlink(missing_ok=True)


def snapshots(server: Server, http: requests.Session) -> list[dict]:
    response = http.get(f"{server.url}/api/v1/workspace/snapshots", timeout=120)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def files(server: Server, http: requests.Session, snapshot: str, path: str = "") -> dict[str, dict]:
    response = http.get(f"{server.url}/api/v1/workspace/snapshots/{snapshot}/files", params={"path": path}, timeout=120)
    assert response.status_code == 200, response.text
    return {entry["name"]: entry for entry in response.json()["items"]}


def write_in_session(server: Server, http: requests.Session, session_id: str, command: str) -> Terminal:
    term = Terminal.open(http, server.url, session_id)
    term.wait_for(PROMPT)
    term.run(command)
    return term


def test_a_file_written_in_a_session_is_in_s3_after_expiry_and_comes_back_on_a_clean_host(binary, data_dir, moto, s3_env, store):
    bucket = "expiry-postgres" if store else "expiry"
    moto.create_bucket(bucket)
    server = start_server(
        binary,
        data_dir,
        database=store,
        extra=("--grace", "2s", "--heartbeat", "1s", "--backup-repository", f"s3:{moto.url}/{bucket}/holdfast"),
    )
    try:
        http = member(server)
        session_id = start_session(server, http)
        term = write_in_session(server, http, session_id, "mkdir -p ~/thesis && echo 'chapter one' > ~/thesis/draft.txt && sync")
        term.drop()
        wait_for_state(server, http, session_id, "closed", timeout=90)
        events = timeline(server, http, session_id)
        assert events[-2:] == ["snapshot", "closed"], events
        assert "expired" in events

        me = http.get(f"{server.url}/api/v1/auth/me", timeout=10).json()
        keys = moto.keys(bucket, f"holdfast/{me['user']['tenantId']}/")
        assert any("/snapshots/" in key for key in keys), keys
        assert any("/data/" in key for key in keys), keys
        newest = snapshots(server, http)[0]
        assert newest["sessionId"] == session_id
        assert files(server, http, newest["id"], "thesis")["draft.txt"]["size"] == len("chapter one\n")

        # A new host, or a cleaned disk: the workspace is gone; the next session has it back.
        wipe_workspace(server, http)
        second = start_session(server, http)
        term = Terminal.open(http, server.url, second)
        term.wait_for(PROMPT)
        assert "chapter one" in term.run("cat ~/thesis/draft.txt")
        term.close()
        assert timeline(server, http, second)[:2] == ["restored", "started"]
    finally:
        server.stop()


def test_with_the_object_store_cut_off_the_session_stays_closing_until_it_returns(binary, data_dir, moto, s3_env):
    moto.create_bucket("outage")
    relay = Relay(moto.port)
    server = start_server(
        binary,
        data_dir,
        extra=(
            "--grace", "2s", "--heartbeat", "1s", "--backup-timeout", "6s",
            "--backup-repository", f"s3:http://127.0.0.1:{relay.port}/outage/holdfast",
        ),
    )
    try:
        http = member(server)
        session_id = start_session(server, http)
        term = write_in_session(server, http, session_id, "echo 'do not lose me' > ~/precious.txt && sync")
        workspace = workspace_of(server, http)
        relay.cut()
        term.drop()
        wait_for_state(server, http, session_id, "closing", timeout=30)
        # Three attempts fail (each bounded by --backup-timeout), and it is still closing; the
        # operator now sees an alert.
        deadline = time.monotonic() + 90
        while timeline(server, http, session_id).count("failed") < 3:
            assert time.monotonic() < deadline, timeline(server, http, session_id)
            time.sleep(0.5)
        assert http.get(f"{server.url}/api/v1/sessions/{session_id}", timeout=10).json()["state"] == "closing"
        assert (workspace / "precious.txt").read_text() == "do not lose me\n"
        operator = server.operator()
        alerts = operator.get(f"{server.url}/api/v1/alerts", timeout=10).json()["items"]
        assert [alert["sessionId"] for alert in alerts] == [session_id]
        assert "backup repository" in alerts[0]["message"]
        assert http.get(f"{server.url}/api/v1/alerts", timeout=10).status_code == 403

        relay.restore()
        wait_for_state(server, http, session_id, "closed", timeout=120)
        assert operator.get(f"{server.url}/api/v1/alerts", timeout=10).json()["items"] == []
        assert timeline(server, http, session_id)[-2:] == ["snapshot", "closed"]
        newest = snapshots(server, http)[0]
        assert "precious.txt" in files(server, http, newest["id"])
        assert (workspace / "precious.txt").read_text() == "do not lose me\n"
    finally:
        server.stop()
        relay.close()


def restic_processes(data_dir: Path) -> list[int]:
    result = subprocess.run(["pgrep", "-f", f"restic.*{data_dir}"], capture_output=True, text=True)
    return [int(pid) for pid in result.stdout.split()]


def test_kill_9_during_a_backup_leaves_a_repository_the_next_backup_uses(binary, data_dir):
    server = start_server(binary, data_dir)
    http = member(server)
    session_id = start_session(server, http)
    # Enough data that the backup runs for a while: 300 MB that does not compress or dedupe.
    term = write_in_session(server, http, session_id, "head -c 300M /dev/urandom > ~/big.bin && sha256sum ~/big.bin && sync")
    digest = hashlib.sha256((workspace_of(server, http) / "big.bin").read_bytes()).hexdigest()
    term.close()
    def close_session() -> None:
        try:
            http.delete(f"{server.url}/api/v1/sessions/{session_id}", timeout=300)
        except requests.ConnectionError:
            pass  # the close runs on its own and the answer comes at once; should it not, the kill ends it

    closer = threading.Thread(target=close_session, daemon=True)
    closer.start()
    deadline = time.monotonic() + 60
    while not restic_processes(data_dir):
        assert time.monotonic() < deadline, "no restic backup started"
        time.sleep(0.05)
    wait_for_state(server, http, session_id, "closing")
    time.sleep(1.0)  # into the first backup: creating the repository, or the upload
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    for pid in restic_processes(data_dir):
        os.kill(pid, signal.SIGKILL)  # the whole machine died, restic included: its lock stays behind

    restarted = start_server(binary, data_dir)
    try:
        http = restarted.login("ann@acme.test", "correct horse")
        wait_for_state(restarted, http, session_id, "closed", timeout=180)
        assert "adopted" in timeline(restarted, http, session_id)
        newest = snapshots(restarted, http)[0]
        assert files(restarted, http, newest["id"])["big.bin"]["size"] == 300 * 1024 * 1024
        restored = http.post(
            f"{restarted.url}/api/v1/workspace/restore", json={"snapshot": newest["id"], "path": "big.bin"}, timeout=300
        )
        assert restored.status_code == 201, restored.text
        copy = workspace_of(restarted, http) / restored.json()["restoredTo"]
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == digest
    finally:
        restarted.stop()


def test_restores_never_leave_the_workspace_nor_overwrite_it(server: Server):
    http = member(server)
    session_id = start_session(server, http)
    term = write_in_session(
        server, http, session_id, "mkdir -p ~/notes && echo v1 > ~/notes/plan.md && ln -s /etc ~/etc-link && sync"
    )
    term.close()
    assert http.delete(f"{server.url}/api/v1/sessions/{session_id}", timeout=30).status_code == 202  # the close runs on its own
    wait_for_state(server, http, session_id, "closed", timeout=120)
    snapshot = snapshots(server, http)[0]["id"]
    workspace = workspace_of(server, http)
    (workspace / "notes" / "plan.md").write_text("v2\n")
    before = sorted(str(path.relative_to(workspace)) for path in workspace.rglob("*"))

    bad = {
        "../../etc": "invalid_path",
        "/etc/passwd": "invalid_path",
        "notes/../..": "invalid_path",
        "etc-link/passwd": "not_found",  # a symlink in the snapshot is never followed
        "nothing-here": "not_found",
    }
    for path, code in bad.items():
        response = http.post(f"{server.url}/api/v1/workspace/restore", json={"snapshot": snapshot, "path": path}, timeout=60)
        assert response.status_code in (404, 422), (path, response.text)
        assert response.json()["error"]["code"] == code, (path, response.text)
    assert sorted(str(path.relative_to(workspace)) for path in workspace.rglob("*")) == before

    other = member(server, email="bob@acme.test")
    theirs = other.post(f"{server.url}/api/v1/workspace/restore", json={"snapshot": snapshot, "path": "notes"}, timeout=60)
    assert theirs.status_code == 404, theirs.text

    first = http.post(f"{server.url}/api/v1/workspace/restore", json={"snapshot": snapshot, "path": "notes"}, timeout=60).json()
    second = http.post(f"{server.url}/api/v1/workspace/restore", json={"snapshot": snapshot, "path": "notes"}, timeout=60).json()
    assert first["restoredTo"] != second["restoredTo"]
    assert second["restoredTo"].split("/")[0].endswith("(2)")
    assert (workspace / first["restoredTo"] / "plan.md").read_text() == "v1\n"
    assert (workspace / "notes" / "plan.md").read_text() == "v2\n"
    # The restored copy belongs to the session's account, like the rest of the workspace.
    assert (workspace / first["restoredTo"]).stat().st_uid == workspace.stat().st_uid


def test_the_versions_page_browses_and_restores_in_chromium(server: Server, browser, artifacts):
    http = member(server)
    session_id = start_session(server, http)
    term = write_in_session(server, http, session_id, "mkdir -p ~/report && echo 'final figures' > ~/report/results.csv && sync")
    term.close()
    http.delete(f"{server.url}/api/v1/sessions/{session_id}", timeout=30)
    wait_for_state(server, http, session_id, "closed", timeout=120)

    sign_in(browser, server, "ann@acme.test", "correct horse")
    settled(browser).until(ready.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Your sessions"))
    browser.find_element(By.LINK_TEXT, "Versions").click()
    settled(browser, 30).until(ready.presence_of_element_located((By.CSS_SELECTOR, "#snapshots tbody tr")))
    browser.find_element(By.CSS_SELECTOR, "#snapshots tbody tr a.button").click()
    settled(browser, 30).until(ready.text_to_be_present_in_element((By.ID, "entries"), "report/"))
    browser.find_element(By.LINK_TEXT, "report/").click()
    settled(browser, 30).until(ready.text_to_be_present_in_element((By.ID, "entries"), "results.csv"))
    browser.find_element(By.CSS_SELECTOR, "#entries tr[data-path='report/results.csv'] button").click()
    notice = settled(browser, 60).until(ready.visibility_of_element_located((By.CSS_SELECTOR, "#versions .notice")))
    assert "Restored to" in notice.text
    browser.save_screenshot(str(artifacts / "versions-restored.png"))
    restored_to = notice.text.split("“")[1].split("”")[0]
    assert (workspace_of(server, http) / restored_to).read_text() == "final figures\n"
