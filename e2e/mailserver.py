"""A real SMTP server for the tests: aiosmtpd on loopback, keeping what it receives in memory."""

from __future__ import annotations

import email
import email.policy
import ssl
import subprocess
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from objectstore import free_port


class _Collector:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


def make_certificates(directory: Path, name: str = "ca") -> tuple[Path, Path, Path]:
    """A throwaway CA (`NAME.pem`) and a server certificate it signed for 127.0.0.1, with openssl."""
    ca_key, ca = directory / f"{name}.key", directory / f"{name}.pem"
    key, csr, cert = directory / f"{name}-server.key", directory / f"{name}-server.csr", directory / f"{name}-server.pem"
    extensions = directory / f"{name}-server.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    for command in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", f"/CN=Test {name}"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "2",
         "-extfile", extensions],
    ):
        subprocess.run(["openssl", *map(str, command)], check=True, capture_output=True)
    return ca, cert, key


class MailServer:
    """`tls`: None (plain), "starttls" (required before MAIL) or "implicit" (TLS from the first byte).
    With `credentials`, AUTH is required too."""

    def __init__(self, tls: str | None = None, certificate: tuple[Path, Path] | None = None,
                 credentials: tuple[str, str] | None = None) -> None:
        self.collector = _Collector()
        self.port = free_port()
        self.tls = tls
        self.logins: list[str] = []
        options: dict = {}
        context = None
        if tls:
            assert certificate, "a TLS mail server needs a certificate"
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(certificate[0]), str(certificate[1]))
        if tls == "starttls":
            options |= {"tls_context": context, "require_starttls": True}
        if credentials:
            def authenticate(server, session, envelope, mechanism, auth_data):
                ok = isinstance(auth_data, LoginPassword) and (auth_data.login.decode(), auth_data.password.decode()) == credentials
                if ok:
                    self.logins.append(auth_data.login.decode())
                return AuthResult(success=ok)
            options |= {"authenticator": authenticate, "auth_required": True, "auth_require_tls": tls == "starttls"}
        self.controller = Controller(self.collector, hostname="127.0.0.1", port=self.port,
                                     ssl_context=context if tls == "implicit" else None, **options)
        self.controller.start()

    @property
    def url(self) -> str:
        scheme = {None: "smtp", "starttls": "smtp+starttls", "implicit": "smtps"}[self.tls]
        return f"{scheme}://127.0.0.1:{self.port}"

    def wait_for(self, predicate, timeout: float = 30) -> email.message.EmailMessage:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.collector.lock:
                for message in self.collector.messages:
                    if predicate(message):
                        return message
            time.sleep(0.1)
        subjects = [str(message["Subject"]) for message in self.collector.messages]
        raise AssertionError(f"no matching mail within {timeout} s; received: {subjects}")

    def stop(self) -> None:
        self.controller.stop()
