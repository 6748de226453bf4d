"""Mail out over TLS with authentication (issue 14): real aiosmtpd servers, real certificates."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from conftest import start_server
from mailserver import MailServer, make_certificates
from test_secrets import command_lines
from test_sessions import member


def file_ticket(server, subject: str) -> dict:
    http = member(server)
    filed = http.post(f"{server.url}/api/v1/tickets",
                      json={"kind": "question", "subject": subject, "description": "d", "occurredAt": "2026-11-25T10:00:00Z",
                            "whatHappened": "w"}, timeout=10)
    assert filed.status_code == 201, filed.text
    return filed.json()


def credentials_file(directory: Path, username: str, password: str) -> Path:
    path = directory / "smtp-credentials"
    path.write_text(f"{username}\n{password}\n")
    path.chmod(0o600)
    return path


def test_mail_goes_over_starttls_with_auth_and_the_password_stays_out_of_sight(binary: Path, data_dir: Path, tmp_path: Path):
    ca, cert, key = make_certificates(tmp_path)
    password = "smtp-pw-" + "7" * 12
    mail = MailServer(tls="starttls", certificate=(cert, key), credentials=("holdfast", password))
    server = start_server(binary, data_dir, extra=("--smtp", mail.url, "--smtp-ca-file", str(ca), "--smtp-credentials-file",
                                                   str(credentials_file(tmp_path, "holdfast", password))))
    try:
        ticket = file_ticket(server, "Over TLS")
        # aiosmtpd refuses MAIL before STARTTLS and before AUTH: arriving is the proof of both.
        received = mail.wait_for(lambda m: f"[#{ticket['number']}-" in str(m["Subject"]))
        assert "Over TLS" in str(received["Subject"])
        assert mail.logins == ["holdfast"]
        assert not any(password in line for line in command_lines(server.process.pid))
        assert not any(password in line for line in server.output)
    finally:
        server.stop()
        mail.stop()


def test_mail_goes_over_implicit_tls(binary: Path, data_dir: Path, tmp_path: Path):
    ca, cert, key = make_certificates(tmp_path)
    mail = MailServer(tls="implicit", certificate=(cert, key), credentials=("holdfast", "implicit-pw"))
    server = start_server(binary, data_dir, extra=("--smtp", mail.url, "--smtp-ca-file", str(ca), "--smtp-credentials-file",
                                                   str(credentials_file(tmp_path, "holdfast", "implicit-pw"))))
    try:
        ticket = file_ticket(server, "Implicit TLS")
        mail.wait_for(lambda m: f"[#{ticket['number']}-" in str(m["Subject"]))
    finally:
        server.stop()
        mail.stop()


def test_a_server_whose_certificate_we_do_not_trust_gets_nothing(binary: Path, data_dir: Path, tmp_path: Path):
    _, cert, key = make_certificates(tmp_path, "impostor")
    trusted_ca, _, _ = make_certificates(tmp_path, "ours")
    mail = MailServer(tls="starttls", certificate=(cert, key), credentials=("holdfast", "pw-not-for-impostors"))
    server = start_server(binary, data_dir, extra=("--smtp", mail.url, "--smtp-ca-file", str(trusted_ca), "--smtp-credentials-file",
                                                   str(credentials_file(tmp_path, "holdfast", "pw-not-for-impostors"))))
    try:
        file_ticket(server, "Not for impostors")
        deadline = time.monotonic() + 30
        while not any("mail not delivered; will retry" in line for line in server.output):
            assert time.monotonic() < deadline, "".join(server.output[-20:])
            time.sleep(0.2)
        assert mail.collector.messages == [] and mail.logins == []
    finally:
        server.stop()
        mail.stop()


def test_credentials_are_never_sent_in_the_clear(binary: Path, data_dir: Path, tmp_path: Path):
    refused = subprocess.run(
        [str(binary), "serve", "--data-dir", str(data_dir), "--port", "0", "--smtp", "smtp://127.0.0.1:2525",
         "--smtp-credentials-file", str(credentials_file(tmp_path, "holdfast", "clear-pw"))],
        capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
    assert "only over TLS" in refused.stderr and "clear-pw" not in refused.stderr, refused.stderr
