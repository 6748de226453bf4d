"""The support desk against the real binary: the business calendar and the promise it gives."""

from __future__ import annotations

import re

from conftest import Server

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


def set_calendar(server: Server, zone: str, hours: list[tuple[str, str]], holidays: list[str] = (), days=WEEKDAYS) -> None:
    calendar = {
        "timeZone": zone,
        "weeklyHours": [{"day": day, "opens": opens, "closes": closes} for day in days for opens, closes in hours],
        "holidays": list(holidays),
    }
    response = server.operator().put(f"{server.url}/api/v1/support/calendar", json=calendar, timeout=10)
    assert response.status_code == 200, response.text


def promise(server: Server, at: str, kind: str = "bug", zone: str | None = None) -> dict:
    params = {"at": at, "kind": kind} | ({"zone": zone} if zone else {})
    response = __import__("requests").get(f"{server.url}/api/v1/support/promise", params=params, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_promise_across_calendars_weekends_holidays_and_daylight_saving(server: Server):
    # The default: Mon-Fri 09:00-17:00 London. Friday 16:00 -> 1 h Friday + 3 h Monday.
    assert promise(server, "2026-11-27T16:00:00Z")["firstResponseDueAt"] == "2026-11-30T12:00:00.000Z"
    # Filed on Saturday: counting starts at Monday's opening.
    assert promise(server, "2026-11-28T10:00:00Z")["firstResponseDueAt"] == "2026-11-30T13:00:00.000Z"

    # Tokyo, with a lunch break and a holiday next to the weekend (Monday 23 Nov 2026).
    set_calendar(server, "Asia/Tokyo", [("09:00", "12:00"), ("13:00", "18:00")], holidays=["2026-11-23"])
    # Friday 17:00 Tokyo (08:00Z): 1 h Friday, Monday is a holiday, then 09-12 Tuesday = 3 h.
    assert promise(server, "2026-11-20T08:00:00Z")["firstResponseDueAt"] == "2026-11-24T03:00:00.000Z"
    # 11:00 Tokyo: 1 h before lunch, 3 h after it.
    assert promise(server, "2026-11-25T02:00:00Z")["firstResponseDueAt"] == "2026-11-25T07:00:00.000Z"

    # New York across the end of daylight saving (Sunday 1 November 2026): 09:00-17:00 stays local.
    set_calendar(server, "America/New_York", [("09:00", "17:00")])
    # Friday 30 October 15:00 EDT (19:00Z): 2 h Friday, 2 h Monday from 09:00 EST (14:00Z) -> 16:00Z.
    answer = promise(server, "2026-10-30T19:00:00Z", kind="outage", zone="Europe/Berlin")
    assert answer["firstResponseDueAt"] == "2026-11-02T16:00:00.000Z"
    assert answer["text"] == "We will answer by Monday 2 November, 17:00 (Europe/Berlin)."

    # Sydney, where the same instant is already the next day, and summer time is on.
    set_calendar(server, "Australia/Sydney", [("08:30", "17:30")])
    # Thursday 26 Nov 2026 23:00Z = Friday 10:00 AEDT: 4 h later is 14:00 AEDT = 03:00Z Friday.
    assert promise(server, "2026-11-26T23:00:00Z", kind="question")["firstResponseDueAt"] == "2026-11-27T03:00:00.000Z"


def test_a_refused_calendar_changes_nothing(server: Server):
    operator = server.operator()
    bad = {"timeZone": "Europe/Paris", "weeklyHours": [{"day": "mon", "opens": "09:00", "closes": "13:00"},
                                                       {"day": "mon", "opens": "12:00", "closes": "17:00"}]}
    response = operator.put(f"{server.url}/api/v1/support/calendar", json=bad, timeout=10)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_hours"
    broken_ical = operator.put(f"{server.url}/api/v1/support/calendar", data="BEGIN:VCALENDAR", timeout=10,
                               headers={"Content-Type": "text/calendar"})
    assert broken_ical.status_code == 415, broken_ical.text
    assert operator.get(f"{server.url}/api/v1/support/calendar", timeout=10).json()["timeZone"] == "Europe/London"


def body_text(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def test_a_ticket_by_api_and_its_answer_reach_the_customer_by_smtp(binary, data_dir, store):
    from conftest import start_server
    from mailserver import MailServer
    from test_sessions import member

    mail = MailServer()
    server = start_server(binary, data_dir, database=store, extra=("--smtp", mail.url))
    try:
        http = member(server)
        filed = http.post(
            f"{server.url}/api/v1/tickets",
            json={"kind": "outage", "subject": "Überall 502 — nothing loads", "description": "Since 10:00 every page fails.",
                  "occurredAt": "2026-11-26T10:00:00Z", "whatHappened": "The portal answers 502."},
            timeout=10,
        )
        assert filed.status_code == 201, filed.text
        ticket = filed.json()
        received = mail.wait_for(lambda m: f"[#{ticket['number']}-" in str(m["Subject"]))
        assert str(received["To"]).endswith("ann@acme.test>") or str(received["To"]) == "ann@acme.test"
        assert "Überall 502" in str(received["Subject"])
        assert "We will answer by" in body_text(received)
        assert "(Europe/London)" in body_text(received)

        operator = server.operator()
        answer = operator.post(
            f"{server.url}/api/v1/tickets/{ticket['id']}/replies", json={"body": "We restarted the proxy; better?"}, timeout=10
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["firstRespondedAt"] is not None
        replied = mail.wait_for(lambda m: "restarted the proxy" in body_text(m))
        assert f"[#{ticket['number']}-" in str(replied["Subject"])
    finally:
        server.stop()
        mail.stop()


def test_without_smtp_mail_lands_in_the_data_directory(server: Server):
    from test_sessions import member

    http = member(server)
    filed = http.post(
        f"{server.url}/api/v1/tickets",
        json={"kind": "question", "subject": "Where are my files?", "description": "Looking for yesterday's notes.",
              "occurredAt": "2026-11-25T10:00:00Z", "whatHappened": "Could not find notes.txt."},
        timeout=10,
    )
    assert filed.status_code == 201, filed.text
    import time

    outbox = server.data_dir / "mail"
    deadline = time.monotonic() + 30
    while not list(outbox.glob("*.eml")):
        assert time.monotonic() < deadline, "no mail file appeared"
        time.sleep(0.2)
    [message] = list(outbox.glob("*.eml"))
    assert oct(message.stat().st_mode & 0o777) == "0o600"
    assert re.search(rf"\[#{filed.json()['number']}-[a-z0-9]{{16}}\]", message.read_text())


def test_voters_hear_when_a_suggestion_changes_status_and_merges_keep_one_vote_each(binary, data_dir):
    from conftest import start_server
    from mailserver import MailServer
    from test_sessions import member

    mail = MailServer()
    server = start_server(binary, data_dir, extra=("--smtp", mail.url))
    try:
        ann = member(server)
        bob = member(server, email="bob@acme.test")
        original = ann.post(f"{server.url}/api/v1/suggestions", json={"title": "Split panes in the viewer"}, timeout=10).json()
        duplicate = bob.post(f"{server.url}/api/v1/suggestions", json={"title": "tmux-style splits"}, timeout=10).json()
        assert bob.post(f"{server.url}/api/v1/suggestions/{original['id']}/votes", timeout=10).status_code == 201
        assert bob.post(f"{server.url}/api/v1/suggestions/{original['id']}/votes", timeout=10).status_code == 200
        assert ann.post(f"{server.url}/api/v1/suggestions/{duplicate['id']}/votes", timeout=10).status_code == 201

        operator = server.operator()
        merged = operator.post(
            f"{server.url}/api/v1/suggestions/{duplicate['id']}/merge", json={"into": original["id"]}, timeout=10
        ).json()
        assert merged["votes"] == 2  # Bob and Ann, each once
        planned = operator.patch(f"{server.url}/api/v1/suggestions/{original['id']}", json={"status": "planned"}, timeout=10)
        assert planned.status_code == 200, planned.text
        for address in ("ann@acme.test", "bob@acme.test"):
            notice = mail.wait_for(lambda m, a=address: a in str(m["To"]) and "planned" in body_text(m))
            assert "Split panes in the viewer" in body_text(notice)
    finally:
        server.stop()
        mail.stop()
