"""The e-mail channel: `holdfast mail-gate` reads one message on stdin, as an MTA pipes it.

From: proves nothing (issue 14): a mail joins a ticket only with the reply token carried in the
subject of the mails the customer got about it."""

from __future__ import annotations

import email
import email.policy
import re
import subprocess
import time
from email.message import EmailMessage
from email.utils import format_datetime
from datetime import datetime, timezone

from conftest import Server
from test_sessions import member


def gate(server: Server, message: bytes, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(server.binary), "mail-gate", *server.store_args(), *extra], input=message, capture_output=True, timeout=60
    )


def mail(sender: str | None, subject: str, text: str, html: str | None = None) -> EmailMessage:
    message = EmailMessage()
    if sender:
        message["From"] = sender
    message["To"] = "support@holdfast.test"
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime(2026, 11, 26, 9, 15, tzinfo=timezone.utc))
    message["Message-ID"] = "<e2e-1@acme.test>"
    message.set_content(text, cte="quoted-printable")
    if html:
        message.add_alternative(html, subtype="html")
    return message


def mail_received(server: Server, to: str, number: int, timeout: float = 30) -> EmailMessage:
    """The mail about ticket `number` that the server delivered to `to` (file outbox, as `make run` has it)."""
    deadline = time.monotonic() + timeout
    while True:
        for path in sorted((server.data_dir / "mail").glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if to in str(message["To"]) and f"[#{number}-" in str(message["Subject"]):
                return message
        assert time.monotonic() < deadline, f"no mail about ticket #{number} reached {to}"
        time.sleep(0.2)


def thread(server: Server, ticket_id: str) -> dict:
    response = server.operator().get(f"{server.url}/api/v1/tickets/{ticket_id}", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def tickets(server: Server) -> list[dict]:
    response = server.operator().get(f"{server.url}/api/v1/tickets", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_a_mail_files_an_unverified_ticket_and_a_reply_to_our_mail_threads_onto_it(server: Server):
    ann = member(server)
    first = mail(
        "Ann Example <ann@acme.test>",
        "Desktop session went black — again",
        "After lunch the desktop viewer shows only black.\nRestarting the browser did not help. <script>alert(1)</script>\n",
        html="<p>After lunch the desktop viewer shows only black.</p>",
    )
    first.add_attachment(b"\x89PNG fake screenshot bytes", maintype="image", subtype="png", filename="black.png")
    filed = gate(server, first.as_bytes())
    assert filed.returncode == 0, filed.stdout + filed.stderr
    assert filed.stdout.decode().strip() == "filed ticket #1, unverified (the mail carried no reply token)"

    [ticket] = ann.get(f"{server.url}/api/v1/tickets", timeout=10).json()["items"]
    assert ticket["channel"] == "email"
    assert ticket["unverified"] is True  # anyone can write ann's address in From
    assert ticket["subject"] == "Desktop session went black — again"
    assert ticket["occurredAt"].startswith("2026-11-26T09:15:00")
    detail = ann.get(f"{server.url}/api/v1/tickets/{ticket['id']}", timeout=10).json()
    assert "<script>alert(1)</script>" in detail["description"]  # kept as the customer wrote it: text, not markup
    # The agents see it flagged, in the console and on the ticket.
    assert "unverified sender" in server.operator().get(f"{server.url}/console", timeout=10).text
    assert 'id="unverified"' in server.operator().get(f"{server.url}/support/tickets/{ticket['id']}", timeout=10).text

    # Ann answers the acknowledgement she got, as any mail client does it: "Re: " and the same subject.
    received = mail_received(server, "ann@acme.test", ticket["number"])
    assert re.search(rf"\[#{ticket['number']}-[a-z0-9]{{16}}\]", str(received["Subject"])), received["Subject"]
    reply = mail(
        "ann@acme.test",
        f"Re: {received['Subject']}",
        "It happened once more at 14:02.\n\nOn Thu, Holdfast wrote:\n> We are looking into it.\n",
    )
    threaded = gate(server, reply.as_bytes())
    assert threaded.returncode == 0, threaded.stdout + threaded.stderr
    assert threaded.stdout.decode().strip() == f"added the message to ticket #{ticket['number']}"
    detail = ann.get(f"{server.url}/api/v1/tickets/{ticket['id']}", timeout=10).json()
    assert [r["body"] for r in detail["replies"]] == ["It happened once more at 14:02."]
    assert detail["replies"][0]["channel"] == "email" and detail["replies"][0]["side"] == "customer"
    assert len(tickets(server)) == 1


def test_a_tag_without_the_tickets_token_files_a_new_ticket_and_touches_no_other(server: Server):
    member(server)
    bob = member(server, slug="globex", email="bob@globex.test")
    assert gate(server, mail("ann@acme.test", "Printer", "Printing hangs.").as_bytes()).returncode == 0
    assert gate(server, mail("ann@acme.test", "Scanner", "Scanning hangs.").as_bytes()).returncode == 0
    printer, scanner = sorted(tickets(server), key=lambda ticket: ticket["number"])

    # A guessed number, with no token or a made-up one: a new ticket for the sender.
    guessed = gate(server, mail("bob@globex.test", "Re: [#1] Printer", "Me too").as_bytes())
    assert guessed.returncode == 0, guessed.stdout
    assert guessed.stdout.decode().startswith("filed ticket #3, unverified")
    made_up = gate(server, mail("ann@acme.test", "Re: [#1-aaaaaaaaaaaaaaaa] Printer", "Still").as_bytes())
    assert made_up.stdout.decode().startswith("filed ticket #4, unverified")
    # The token of ann's other ticket does not open this one.
    scanner_token = re.search(r"\[#2-([a-z0-9]+)\]", str(mail_received(server, "ann@acme.test", 2)["Subject"])).group(1)
    crossed = gate(server, mail("ann@acme.test", f"Re: [#1-{scanner_token}] Printer", "Crossed").as_bytes())
    assert crossed.stdout.decode().startswith("filed ticket #5, unverified")

    assert thread(server, printer["id"])["replies"] == [] and thread(server, scanner["id"])["replies"] == []
    [own] = bob.get(f"{server.url}/api/v1/tickets", timeout=10).json()["items"]
    assert own["number"] == 3 and own["unverified"] is True


def a_mailed_ticket_and_an_agent(server: Server, subject: str, text: str) -> tuple[dict, str]:
    """Ann mails a ticket and the agent Al exists; returns the ticket and the subject of the mail Ann got."""
    member(server)
    server.cli("admin", "create-user", "--tenant", "operations", "--email", "al@holdfast.test", "--password", "correct horse",
               "--role", "agent")
    assert gate(server, mail("ann@acme.test", subject, text).as_bytes()).returncode == 0
    [ticket] = tickets(server)
    return ticket, str(mail_received(server, "ann@acme.test", ticket["number"])["Subject"])


def test_a_forged_agent_mail_neither_answers_the_customer_nor_stops_the_clock(server: Server):
    ticket, subject = a_mailed_ticket_and_an_agent(server, "VPN drops", "Every ten minutes.")
    mails_before = len(list((server.data_dir / "mail").glob("*.eml")))

    forged = "It is fixed, nothing more to do. — Al"
    # Without the token, as a stranger would send it: a new unverified ticket, not an answer.
    stranger = gate(server, mail("Al <al@holdfast.test>", f"Re: [#{ticket['number']}] VPN drops", forged).as_bytes())
    assert stranger.returncode == 0 and "unverified" in stranger.stdout.decode()
    # With the token, as the customer (who has it) could send it: refused, nothing saved.
    insider = gate(server, mail("Al <al@holdfast.test>", f"Re: {subject}", forged).as_bytes())
    assert insider.returncode == 65, insider.stdout
    assert "agent console" in insider.stdout.decode()

    after = thread(server, ticket["id"])
    assert after["replies"] == [] and after["firstRespondedAt"] is None and after["status"] == "new"
    time.sleep(2)  # the mailer runs every second: nothing about a team answer went to the customer
    new_mails = sorted((server.data_dir / "mail").glob("*.eml"))[mails_before:]
    assert not any("replied to your ticket" in path.read_text() for path in new_mails)


def test_refused_mail_bounces_with_a_reason_and_saves_nothing(server: Server):
    member(server)
    stranger = gate(server, mail("mallory@elsewhere.test", "Hello", "Let me in").as_bytes())
    assert stranger.returncode == 67
    assert "mallory@elsewhere.test is not a Holdfast account" in stranger.stdout.decode()

    no_from = gate(server, mail(None, "Anonymous", "Who am I").as_bytes())
    assert no_from.returncode == 65
    assert "no From address" in no_from.stdout.decode()

    huge = mail("ann@acme.test", "Logs", "See the attachment.")
    huge.add_attachment(b"x" * (50 * 1024 * 1024), maintype="application", subtype="octet-stream", filename="logs.bin")
    too_large = gate(server, huge.as_bytes())
    assert too_large.returncode == 65
    assert "25 MiB" in too_large.stdout.decode()

    broken = (
        b"From: ann@acme.test\r\nSubject: broken\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhello\r\n--x--\r\n"
    )
    malformed = gate(server, broken)
    assert malformed.returncode == 65, malformed.stdout
    assert "Nothing was saved" in malformed.stdout.decode()

    assert tickets(server) == []


def test_a_polled_queue_shows_a_mailed_ticket_soon_and_its_own_answers_at_once(server: Server):
    """The server keeps a ticket list for up to --read-cache (1 s) unless it writes a ticket
    itself. mail-gate is another process, so its ticket shows once the cached queue expires; an
    answer given through the server shows in the very next read."""
    import time

    member(server)
    assert tickets(server) == []  # the agent's queue, now held by the server
    assert gate(server, mail("ann@acme.test", "VPN drops", "Every ten minutes.").as_bytes()).returncode == 0
    deadline = time.monotonic() + 30  # a poll: generous for a loaded machine, quick when it holds
    while not (queue := tickets(server)):
        assert time.monotonic() < deadline, "the mailed ticket never reached the queue"
        time.sleep(0.1)
    [ticket] = queue
    assert ticket["subject"] == "VPN drops" and ticket["firstRespondedAt"] is None

    answered = server.operator().post(
        f"{server.url}/api/v1/tickets/{ticket['id']}/replies", json={"body": "Which network?"}, timeout=10)
    assert answered.status_code == 201, answered.text
    [after] = tickets(server)
    assert after["firstRespondedAt"] is not None


def test_an_agent_verified_by_our_mta_answers_by_mail(server: Server):
    ticket, subject = a_mailed_ticket_and_an_agent(server, "Printer", "Printing hangs.")
    answer = mail("Al <al@holdfast.test>", f"Re: {subject}", "Restarted the spooler; try again.")
    answer["Authentication-Results"] = "mx.holdfast.test; dkim=pass header.d=holdfast.test header.s=s1; spf=pass smtp.mailfrom=holdfast.test"

    # Without trusting that MTA the header is anyone's word: refused.
    assert gate(server, answer.as_bytes()).returncode == 65
    # Another MTA's name in the header does not count either.
    assert gate(server, answer.as_bytes(), "--trust-authserv-id", "mx.elsewhere.test").returncode == 65
    assert thread(server, ticket["id"])["replies"] == []

    answered = gate(server, answer.as_bytes(), "--trust-authserv-id", "mx.holdfast.test")
    assert answered.returncode == 0, answered.stdout
    after = thread(server, ticket["id"])
    assert [(reply["side"], reply["body"]) for reply in after["replies"]] == [("team", "Restarted the spooler; try again.")]
    assert after["firstRespondedAt"] is not None
