"""The status side against the real binary: maintenance windows crossing their edges, the feeds
read by real parsers, the banner in a live terminal, plans and a drill, the page in Chromium."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import feedparser
import icalendar
import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready

from browser import settled
from conftest import Server
from terminal import Terminal
from test_sessions import member, start_session, wait_for_state


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def window_state(server: Server, window_id: str) -> str:
    windows = requests.get(f"{server.url}/api/v1/maintenance", timeout=10).json()["items"]
    return next(w["state"] for w in windows if w["id"] == window_id)


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout}s")


def mail_subjects(server: Server) -> list[str]:
    return [line.split(":", 1)[1].strip() for path in sorted((server.data_dir / "mail").glob("*.eml"))
            for line in path.read_text().splitlines() if line.startswith("Subject:")]


def test_a_window_is_announced_crosses_its_edges_and_shows_in_both_feeds(server: Server):
    member(server)
    operator = server.operator()
    # The window is short, so that the test sees it start and end, but long enough (10 s) that a
    # poll on a loaded machine cannot step over it.
    start = datetime.now(timezone.utc) + timedelta(seconds=5)
    created = operator.post(
        f"{server.url}/api/v1/maintenance",
        json={"title": "Mail relay move", "details": "Outgoing mail pauses; nothing is lost.", "startsAt": iso(start),
              "endsAt": iso(start + timedelta(seconds=10)), "components": ["support"]},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    window = created.json()
    assert window["state"] == "scheduled"

    calendar = requests.get(f"{server.url}/status/maintenance.ics", timeout=10)
    assert calendar.headers["Content-Type"].startswith("text/calendar")
    parsed = icalendar.Calendar.from_ical(calendar.content)
    [event] = [component for component in parsed.walk("VEVENT")]
    uid = str(event["UID"])
    assert uid.startswith(window["id"] + "@")
    assert str(event["SUMMARY"]) == "Mail relay move"
    assert event.decoded("DTSTART") == datetime.fromisoformat(window["startsAt"].replace("Z", "+00:00"))
    assert int(event["SEQUENCE"]) == 0

    wait_until(lambda: window_state(server, window["id"]) == "in-progress", 30, "the start")
    status = requests.get(f"{server.url}/api/v1/status", timeout=10).json()
    assert {c["component"]: c["state"] for c in status["components"]}["support"] == "under-maintenance"
    wait_until(lambda: window_state(server, window["id"]) == "completed", 30, "the end")

    subjects = wait_until(
        lambda: (s := mail_subjects(server)) and any(x.startswith("Maintenance completed") for x in s) and s, 30, "the mails")
    for prefix in ("Planned maintenance:", "Maintenance started:", "Maintenance completed:"):
        assert any(subject.startswith(prefix) for subject in subjects), subjects

    feed = feedparser.parse(requests.get(f"{server.url}/status/feed.atom", timeout=10).content)
    assert not feed.bozo, feed.bozo_exception
    titles = [entry.title for entry in feed.entries]
    assert any("Mail relay move" in title for title in titles), titles
    assert len({entry.id for entry in feed.entries}) == len(feed.entries)

    # A reschedule keeps the UID and bumps SEQUENCE (on a new window: this one is over).
    later = datetime.now(timezone.utc) + timedelta(days=2)
    second = operator.post(
        f"{server.url}/api/v1/maintenance",
        json={"title": "Storage upgrade", "startsAt": iso(later), "endsAt": iso(later + timedelta(hours=1)),
              "components": ["storage"]},
        timeout=10,
    ).json()
    moved = operator.patch(
        f"{server.url}/api/v1/maintenance/{second['id']}",
        json={"startsAt": iso(later + timedelta(hours=2)), "endsAt": iso(later + timedelta(hours=3))},
        timeout=10,
    )
    assert moved.status_code == 200, moved.text
    events = {str(e["UID"]): e for e in icalendar.Calendar.from_ical(
        requests.get(f"{server.url}/status/maintenance.ics", timeout=10).content).walk("VEVENT")}
    assert int(events[second["id"] + "@" + uid.split("@", 1)[1]]["SEQUENCE"]) == 1


def test_bad_windows_and_planner_durations_get_clear_4xx(server: Server):
    operator = server.operator()
    now = datetime.now(timezone.utc)
    cases = [
        ({"startsAt": iso(now + timedelta(hours=2)), "endsAt": iso(now + timedelta(hours=1))}, 422, "window_ends_before_start"),
        ({"startsAt": iso(now - timedelta(hours=2)), "endsAt": iso(now - timedelta(hours=1))}, 422, "window_in_past"),
    ]
    for times, status, code in cases:
        response = operator.post(f"{server.url}/api/v1/maintenance",
                                 json={"title": "x", "components": ["sessions"], **times}, timeout=10)
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code
    first = {"title": "a", "components": ["sessions"], "startsAt": iso(now + timedelta(days=1)),
             "endsAt": iso(now + timedelta(days=1, hours=2))}
    assert operator.post(f"{server.url}/api/v1/maintenance", json=first, timeout=10).status_code == 201
    overlap = operator.post(f"{server.url}/api/v1/maintenance", json=first | {"title": "b"}, timeout=10)
    assert overlap.status_code == 409 and overlap.json()["error"]["code"] == "window_overlaps"
    for duration in ("0s", "30d"):
        planned = operator.get(f"{server.url}/api/v1/maintenance/recommendation", params={"duration": duration}, timeout=10)
        assert planned.status_code == 422, planned.text
    plan = operator.get(f"{server.url}/api/v1/maintenance/recommendation", params={"duration": "2h"}, timeout=10)
    assert plan.status_code == 200, plan.text
    assert set(plan.json()) >= {"startsAt", "endsAt", "expectedActiveSessions"}


def test_a_sessions_window_bans_then_closes_live_sessions_with_their_files_saved(server: Server):
    ann = member(server)
    session_id = start_session(server, ann)
    term = Terminal.open(ann, server.url, session_id)
    term.run("echo saved-before-maintenance > notes.txt")
    operator = server.operator()
    start = datetime.now(timezone.utc) + timedelta(seconds=6)
    window = operator.post(
        f"{server.url}/api/v1/maintenance",
        json={"title": "Kernel updates", "startsAt": iso(start), "endsAt": iso(start + timedelta(seconds=20)),
              "components": ["sessions"]},
        timeout=10,
    )
    assert window.status_code == 201, window.text

    banner = wait_until(lambda: next((n for n in term.notices if n.get("type") == "banners" and n["banners"]), None), 30,
                        "the banner")
    [shown] = banner["banners"]
    assert shown["id"] == window.json()["id"]
    assert "Live sessions will be saved and closed at the start" in shown["text"]
    assert shown["startsAt"].startswith(iso(start)[:19])

    closed = wait_for_state(server, ann, session_id, "closed", timeout=60)
    events = ann.get(f"{server.url}/api/v1/sessions/{session_id}/events", timeout=10).json()
    events = events["items"] if isinstance(events, dict) else events
    assert any(e["type"] == "closing" and "maintenance" in e["detail"] for e in events), events
    assert any(e["type"] == "snapshot" for e in events), events
    assert closed["state"] == "closed"
    refused = ann.post(f"{server.url}/api/v1/sessions", json={"kind": "terminal"}, timeout=30)
    if window_state(server, window.json()["id"]) == "in-progress":
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "maintenance_in_progress"
    snapshots = ann.get(f"{server.url}/api/v1/workspace/snapshots", timeout=30).json()["items"]
    files = ann.get(f"{server.url}/api/v1/workspace/snapshots/{snapshots[0]['id']}/files", timeout=30).json()["items"]
    assert "notes.txt" in [f["name"] for f in files]
    term.close()


@pytest.fixture
def server_with_2m_snapshots(binary, data_dir):
    from conftest import start_server

    running = start_server(binary, data_dir, extra=("--snapshot-interval", "2m"))
    yield running
    running.stop()


def test_plans_for_a_new_tenant_a_new_version_after_a_troubleshooter_change_and_a_drill(server_with_2m_snapshots: Server):
    server = server_with_2m_snapshots
    ann = member(server)
    session_id = start_session(server, ann)
    term = Terminal.open(ann, server.url, session_id)
    term.run("mkdir -p project && seq 1 5000 > project/data.txt && echo hello > readme.txt")
    term.close()
    assert ann.delete(f"{server.url}/api/v1/sessions/{session_id}", timeout=30).status_code in (200, 202)
    wait_for_state(server, ann, session_id, "closed", timeout=60)

    operator = server.operator()
    plan = operator.get(f"{server.url}/api/v1/tenants/acme/plans/disaster-recovery", timeout=10).json()
    assert plan["version"] == 1 and plan["lastDrill"] is None and plan["troubleshooters"] == []
    assert plan["rpoSeconds"] == 120  # the server's snapshot interval
    people = [{"name": "Ann Lee", "role": "On-call operator", "email": "ann@acme.test", "phone": "+44 20 7946 0000"}]
    assert operator.put(f"{server.url}/api/v1/tenants/acme/troubleshooters", json=people, timeout=10).status_code == 200
    plan = operator.get(f"{server.url}/api/v1/tenants/acme/plans/disaster-recovery", timeout=10).json()
    assert plan["version"] == 2 and plan["troubleshooters"][0]["name"] == "Ann Lee"
    unreachable = operator.put(f"{server.url}/api/v1/tenants/acme/troubleshooters",
                               json=[{"name": "Bo", "role": "IT"}], timeout=10)
    assert unreachable.status_code == 422 and unreachable.json()["error"]["code"] == "troubleshooter_unreachable"

    server.cli("admin", "create-tenant", "--name", "Empty", "--slug", "empty")
    nothing = server.cli("drill", "--tenant", "empty", check=False)
    assert nothing.returncode == 1 and "no snapshots yet" in nothing.stderr, nothing.stderr
    assert operator.get(f"{server.url}/api/v1/tenants/empty/drills", timeout=10).json()["items"] == []

    drill = server.cli("drill", "--tenant", "acme")
    assert "drill passed" in drill.stdout, drill.stdout
    # The drill is in the audit log once, run from the command line; the refused one is not.
    drills = [event for event in operator.get(f"{server.url}/api/v1/audit", timeout=10).json()["items"]
              if event["action"] == "drill.run"]
    assert [(event["actor"], event["tenant"]) for event in drills] == [("command line", "acme")]
    assert drills[0]["detail"].startswith("passed")
    plan = operator.get(f"{server.url}/api/v1/tenants/acme/plans/disaster-recovery", timeout=10).json()
    assert plan["version"] == 3
    assert plan["lastDrill"]["passed"] is True
    assert plan["lastDrill"]["filesVerified"] >= 2  # the two files, and what the shell wrote (history)
    assert plan["lastDrill"]["bytesVerified"] > 5000
    assert plan["rtoSeconds"] == plan["lastDrill"]["rtoSeconds"]
    markdown = server.cli("plan", "render", "--tenant", "acme", "--plan", "business-continuity").stdout
    assert "Business Continuity Plan" in markdown and "Ann Lee" in markdown
    # The commands described the server as it runs (2-minute snapshots), not their own defaults.
    plan = operator.get(f"{server.url}/api/v1/tenants/acme/plans/disaster-recovery", timeout=10).json()
    assert plan["version"] == 3 and plan["rpoSeconds"] == 120
    report = operator.get(f"{server.url}/api/v1/tenants/acme/report", timeout=10).json()
    assert report["lastDrill"]["passed"] is True
    assert report["recovery"]["rpoTargetSeconds"] == 120
    page = operator.get(f"{server.url}/admin/report", params={"tenant": "acme"}, timeout=10)
    assert page.status_code == 200 and "Promises kept: acme" in page.text and "passed on" in page.text


def test_the_status_page_in_chromium_without_signing_in(server: Server, browser, artifacts):
    operator = server.operator()
    incident = operator.post(
        f"{server.url}/api/v1/incidents",
        json={"title": "Slow desktop sessions", "components": ["sessions"], "impact": "degraded",
              "body": "We are looking into slow <b>redraws</b>."},
        timeout=10,
    )
    assert incident.status_code == 201, incident.text
    browser.get(f"{server.url}/status")
    settled(browser).until(ready.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Service status"))
    states = {row.get_attribute("data-component"): row.text for row in browser.find_elements(By.CSS_SELECTOR, "#components tbody tr")}
    assert set(states) == {"portal", "sessions", "storage", "support"}
    assert "degraded" in states["sessions"] and "operational" in states["portal"]
    text = browser.find_element(By.ID, "incidents").text
    assert "Slow desktop sessions" in text and "slow <b>redraws</b>" in text
    browser.save_screenshot(str(artifacts / "status-page.png"))
