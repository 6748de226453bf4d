"""The audit log against the real binary (issue 14): every privileged action the test takes shows
up exactly once, with who, what and from where; a tenant's admin sees their tenant only."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone

from conftest import Server
from terminal import Terminal
from test_sessions import PROMPT, start_session, wait_for_state
from test_status import iso


def ok(response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def test_every_privileged_action_appears_in_the_audit_log_exactly_once(server: Server):
    url = f"{server.url}/api/v1"
    op = server.operator()
    ok(op.post(f"{url}/tenants", json={"name": "Acme", "slug": "acme"}, timeout=10), 201)
    for email, role in (("admin@acme.test", "tenant-admin"), ("ann@acme.test", "member")):
        ok(op.post(f"{url}/tenants/acme/users", json={"email": email, "password": "correct horse", "role": role}, timeout=10), 201)
    server.cli("admin", "create-user", "--tenant", "acme", "--email", "cli@acme.test", "--password", "correct horse",
               "--role", "member")
    admin = server.login("admin@acme.test", "correct horse")
    ann = server.login("ann@acme.test", "correct horse")
    ok(admin.patch(f"{url}/tenants/acme", json={"limits": {"sessionsPerUser": 3}}, timeout=10))

    # Another user's session, held after its connection closed, extended and closed by an operator.
    session_id = start_session(server, ann)
    term = Terminal.open(ann, server.url, session_id)
    term.wait_for(PROMPT)
    term.close()
    wait_for_state(server, ann, session_id, "held")
    ok(op.post(f"{url}/sessions/{session_id}/extend", json={"minutes": 10}, timeout=10))
    ok(op.delete(f"{url}/sessions/{session_id}", timeout=30), 202)  # the close runs on its own

    calendar = {"timeZone": "Europe/London", "weeklyHours": [{"day": "mon", "opens": "09:00", "closes": "17:00"}], "holidays": []}
    ok(op.put(f"{url}/support/calendar", json=calendar, timeout=10))
    start = datetime.now(timezone.utc) + timedelta(days=3)
    window = ok(op.post(f"{url}/maintenance", json={"title": "Kernel updates", "startsAt": iso(start),
                                                    "endsAt": iso(start + timedelta(hours=1)), "components": ["sessions"]},
                        timeout=10), 201)
    ok(op.patch(f"{url}/maintenance/{window['id']}", json={"startsAt": iso(start + timedelta(hours=2)),
                                                            "endsAt": iso(start + timedelta(hours=3))}, timeout=10))
    ok(op.post(f"{url}/maintenance/{window['id']}/cancel", timeout=10))
    incident = ok(op.post(f"{url}/incidents", json={"title": "Slow sessions", "components": ["sessions"], "impact": "degraded",
                                                     "body": "Looking."}, timeout=10), 201)
    ok(op.post(f"{url}/incidents/{incident['id']}/updates", json={"status": "resolved", "body": "Fixed."}, timeout=10), 201)
    people = [{"name": "Ann Lee", "role": "On-call", "email": "ann@acme.test", "phone": "+44 20 7946 0000"}]
    ok(op.put(f"{url}/tenants/acme/troubleshooters", json=people, timeout=10))
    original = ok(ann.post(f"{url}/suggestions", json={"title": "Split panes"}, timeout=10), 201)
    duplicate = ok(ann.post(f"{url}/suggestions", json={"title": "tmux splits"}, timeout=10), 201)
    ok(op.post(f"{url}/suggestions/{duplicate['id']}/merge", json={"into": original["id"]}, timeout=10))
    ok(op.patch(f"{url}/suggestions/{original['id']}", json={"status": "planned"}, timeout=10))

    exported = op.get(f"{url}/audit", params={"format": "ndjson"}, timeout=10)
    assert exported.headers["Content-Type"].startswith("application/x-ndjson")
    events = [json.loads(line) for line in exported.text.splitlines()]
    # The first operator, made by the server at first start, is there too.
    assert Counter(event["action"] for event in events) == Counter({
        "tenant.created": 1, "user.created": 4, "tenant.updated": 1, "session.extended": 1, "session.closed": 1,
        "support.calendar_replaced": 1, "maintenance.scheduled": 1, "maintenance.rescheduled": 1, "maintenance.cancelled": 1,
        "incident.opened": 1, "incident.updated": 1, "troubleshooters.replaced": 1, "suggestion.merged": 1,
        "suggestion.status_changed": 1,
    }), events
    assert [event["at"] for event in events] == sorted((event["at"] for event in events), reverse=True)
    by_action = {event["action"]: event for event in events}
    assert by_action["tenant.updated"]["actor"] == "admin@acme.test" and by_action["tenant.updated"]["from"] == "127.0.0.1"
    assert "limits" in by_action["tenant.updated"]["detail"]
    assert by_action["session.extended"]["target"] == f"session {session_id} of ann@acme.test"
    assert by_action["session.extended"]["actor"] == server.operator_email
    created = [event for event in events if event["action"] == "user.created"]
    assert {event["actor"] for event in created} == {server.operator_email, "command line", "service"}
    assert by_action["maintenance.cancelled"]["tenant"] is None

    # The tenant's admin reads the tenant's part only, on the page and through the API.
    own = ok(admin.get(f"{url}/audit", timeout=10))["items"]
    assert own and {event["tenant"] for event in own} == {"acme"}
    assert not any(event["action"].startswith("maintenance.") for event in own)
    page = op.get(f"{server.url}/audit", timeout=10).text
    assert "maintenance.cancelled" in page and "Download as JSON lines" in page
    assert ann.get(f"{url}/audit", timeout=10).status_code == 403
    absurd = op.get(f"{url}/audit", params={"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"}, timeout=10)
    assert absurd.status_code == 422 and absurd.json()["error"]["code"] == "invalid_range"
