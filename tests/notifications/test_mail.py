"""The mailers against a real SMTP server on loopback (aiosmtpd): plain SMTP, STARTTLS
with a login, implicit TLS (smtps://), and a server that is down, slow or refuses; the
outbox's retries through the real SMTP path; the mail settings' checks."""

from __future__ import annotations

import datetime as dt
import io
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask
from sqlalchemy import select

from notifications.mail import (
    LogMailer,
    MailError,
    SmtpMailer,
    parse_smtp_url,
    redact_smtp_url,
    retry_delay,
    verification_email,
)
from server.config import ConfigError, load_settings
from server.extensions import db
from server.models import OutboundEmail
from server.services.mail import background_sender
from server.worker import mail_pass
from tests.conftest import make_app
from tests.factories import PASSWORD, Api
from tests.live import free_port

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
SENDER = "tandem@clinic.example"
EMAIL = verification_email(
    to="dr.lee@example.test", name="Dr. Lee", link="https://tandem.example/x?token=SECRET"
)
USER, SECRET = "mailer", "pa55-w0rd:with/odd@chars"


@dataclass
class Inbox:
    """aiosmtpd handler: keeps what it receives; answers can be scripted."""

    received: list[tuple[str, list[str], Message, bool]] = field(default_factory=list)
    rcpt_answer: str | None = None
    data_answer: str | None = None
    got: threading.Event = field(default_factory=threading.Event)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if self.rcpt_answer:
            return self.rcpt_answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_answer:
            return self.data_answer
        self.received.append(
            (
                envelope.mail_from,
                list(envelope.rcpt_tos),
                message_from_bytes(envelope.content),
                session.ssl is not None,
            )
        )
        self.got.set()
        return "250 OK"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        SECRET.encode(),
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, bytes]:
    """A self-signed certificate for 127.0.0.1, made here."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    start = dt.datetime.now(dt.UTC) - timedelta(days=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_path.write_bytes(pem)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path, pem


def _server_tls(certificate: tuple[Path, Path, bytes]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate[0], certificate[1])
    return context


def _client_tls(certificate: tuple[Path, Path, bytes]) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=certificate[2].decode())


def _serve(inbox: Inbox, **kwargs: Any) -> Iterator[int]:
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def plain_port(inbox: Inbox) -> Iterator[int]:
    yield from _serve(inbox)


# --- delivery -------------------------------------------------------------------------


def test_plain_smtp_delivers_one_discreet_text_email(inbox: Inbox, plain_port: int) -> None:
    SmtpMailer(f"smtp://127.0.0.1:{plain_port}", sender=SENDER).send(EMAIL, now=NOW)
    ((mail_from, rcpt_tos, message, over_tls),) = inbox.received
    assert (mail_from, rcpt_tos, over_tls) == (SENDER, ["dr.lee@example.test"], False)
    assert message["Subject"] == "Confirm your email address"
    assert message["From"] == SENDER and message["To"] == "dr.lee@example.test"
    assert message["Date"] == "Mon, 30 Nov 2026 09:00:00 +0000"
    assert message["Message-ID"].endswith("@clinic.example>")
    assert message.get_content_type() == "text/plain"
    body = message.get_payload(decode=True).decode()
    assert "https://tandem.example/x?token=SECRET" in body


def test_starttls_when_offered_and_the_login_only_over_it(
    inbox: Inbox, certificate: tuple[Path, Path, bytes]
) -> None:
    for port in _serve(
        inbox,
        tls_context=_server_tls(certificate),
        require_starttls=True,
        authenticator=_authenticator,
        auth_required=True,
        auth_require_tls=True,
    ):
        url = f"smtp://{USER}:{SECRET.replace('/', '%2F').replace('@', '%40')}@127.0.0.1:{port}"
        SmtpMailer(url, sender=SENDER, ssl_context=_client_tls(certificate)).send(EMAIL, now=NOW)
        assert [over_tls for *_, over_tls in inbox.received] == [True]

        wrong = url.replace("pa55", "nope")
        with pytest.raises(MailError) as failed:
            SmtpMailer(wrong, sender=SENDER, ssl_context=_client_tls(certificate)).send(
                EMAIL, now=NOW
            )
        assert failed.value.code == "auth_failed"
        assert SECRET not in str(failed.value) and "nope" not in str(failed.value)

        # An untrusted certificate is a TLS failure, never a silent plain-text fallback.
        with pytest.raises(MailError) as untrusted:
            SmtpMailer(url, sender=SENDER).send(EMAIL, now=NOW)
        assert untrusted.value.code == "tls_failed"
        assert len(inbox.received) == 1


def test_smtps_is_tls_from_the_first_byte(
    inbox: Inbox, certificate: tuple[Path, Path, bytes]
) -> None:
    for port in _serve(inbox, ssl_context=_server_tls(certificate)):
        SmtpMailer(
            f"smtps://127.0.0.1:{port}", sender=SENDER, ssl_context=_client_tls(certificate)
        ).send(EMAIL, now=NOW)
    assert len(inbox.received) == 1


# --- failures -------------------------------------------------------------------------


def test_a_server_that_is_down_is_a_retryable_connection_refused() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(MailError) as failed:
        SmtpMailer(f"smtp://127.0.0.1:{port}", sender=SENDER).send(EMAIL, now=NOW)
    assert (failed.value.code, failed.value.permanent) == ("connection_refused", False)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A server that accepts connections and never says a word (a hung mail server)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def test_a_slow_server_times_out(silent_port: int) -> None:
    mailer = SmtpMailer(f"smtp://127.0.0.1:{silent_port}", sender=SENDER, timeout=0.3)
    with pytest.raises(MailError) as failed:
        mailer.send(EMAIL, now=NOW)
    assert (failed.value.code, failed.value.permanent) == ("timeout", False)


@pytest.mark.parametrize(
    ("rcpt", "data", "code", "permanent"),
    [
        ("550 5.1.1 No such user here", None, "recipient_refused", True),
        ("451 4.3.0 Try again later", None, "recipient_refused", False),
        (None, "554 5.7.1 Message rejected", "data_refused_554", True),
        (None, "452 4.3.1 Insufficient storage", "data_refused_452", False),
    ],
)
def test_a_refusal_says_whether_to_retry_and_never_echoes_the_server(
    inbox: Inbox, plain_port: int, rcpt: str | None, data: str | None, code: str, permanent: bool
) -> None:
    inbox.rcpt_answer, inbox.data_answer = rcpt, data
    with pytest.raises(MailError) as failed:
        SmtpMailer(f"smtp://127.0.0.1:{plain_port}", sender=SENDER).send(EMAIL, now=NOW)
    assert (failed.value.code, failed.value.permanent) == (code, permanent)
    assert "dr.lee" not in str(failed.value) and "user" not in str(failed.value)


def test_retries_back_off_to_an_hour() -> None:
    delays = [retry_delay(n) for n in range(1, 8)]
    assert delays[:5] == [
        timedelta(seconds=30),
        timedelta(minutes=2),
        timedelta(minutes=8),
        timedelta(minutes=32),
        timedelta(hours=1),
    ]
    assert set(delays[4:]) == {timedelta(hours=1)}


# --- the log mailer, URLs and settings ---------------------------------------------------


def test_the_log_mailer_writes_the_whole_email_with_its_link() -> None:
    stream = io.StringIO()
    LogMailer(stream).send(EMAIL, now=NOW)
    text = stream.getvalue()
    assert "email to dr.lee@example.test" in text
    assert "Subject: Confirm your email address" in text
    assert "https://tandem.example/x?token=SECRET" in text


def test_an_smtp_url_never_shows_its_password() -> None:
    url = "smtp://mailer:hunter2-secret@mail.example:2525"
    target = parse_smtp_url(url)
    assert (target.host, target.port, target.username, target.password) == (
        "mail.example",
        2525,
        "mailer",
        "hunter2-secret",
    )
    assert "hunter2" not in repr(target)
    assert "hunter2" not in repr(SmtpMailer(url, sender=SENDER))
    assert redact_smtp_url(url) == "smtp://mailer:***@mail.example:2525"
    assert parse_smtp_url("smtps://mail.example").port == 465
    assert parse_smtp_url("smtp://mail.example").port == 587


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"TANDEM_MAILER": "sendmail"}, "TANDEM_MAILER"),
        ({"TANDEM_MAILER": "smtp"}, "TANDEM_SMTP_URL"),
        ({"TANDEM_MAILER": "smtp", "TANDEM_SMTP_URL": "http://u:hunter2@x"}, "TANDEM_SMTP_URL"),
        ({"TANDEM_SMTP_URL": "smtp://u:hunter2@x:99999"}, "TANDEM_SMTP_URL"),
        ({"TANDEM_SMTP_URL": "smtp://u:hunter2@x:25/path"}, "TANDEM_SMTP_URL"),
        ({"TANDEM_MAIL_FROM": "not an address"}, "TANDEM_MAIL_FROM"),
        ({"TANDEM_MAIL_FROM": "a@b.example\r\nBcc: x@y"}, "TANDEM_MAIL_FROM"),
        ({"TANDEM_PUBLIC_URL": "tandem.example"}, "TANDEM_PUBLIC_URL"),
        ({"TANDEM_PUBLIC_URL": "https://tandem.example/?x=1"}, "TANDEM_PUBLIC_URL"),
    ],
)
def test_a_bad_mail_setting_is_one_line_naming_it_without_the_password(
    tmp_path: Path, env: dict[str, str], variable: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(tmp_path, env)
    message = str(refused.value)
    assert message.startswith(f"{variable}: ")
    assert "\n" not in message and "hunter2" not in message


def test_mail_settings_defaults_and_values(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, {})
    assert (settings.mailer, settings.mail_from, settings.public_url) == (
        "log",
        "tandem@localhost",
        "http://localhost:8000",
    )
    settings = load_settings(
        tmp_path,
        {
            "TANDEM_MAILER": "SMTP",
            "TANDEM_SMTP_URL": "smtps://u:hunter2@mail.example",
            "TANDEM_MAIL_FROM": "Tandem <hello@clinic.example>",
            "TANDEM_PUBLIC_URL": "https://tandem.clinic.example/",
        },
    )
    assert settings.mailer == "smtp"
    assert settings.public_url == "https://tandem.clinic.example"
    assert "hunter2" not in repr(settings)


# --- the outbox through real SMTP ---------------------------------------------------------


@pytest.fixture
def smtp_app(tmp_path: Path, database_url: str, clean_db: None, plain_port: int) -> Iterator[Flask]:
    return make_app(
        tmp_path / "smtp-instance",
        database_url,
        TANDEM_MAILER="smtp",
        TANDEM_SMTP_URL=f"smtp://127.0.0.1:{plain_port}",
        TANDEM_MAIL_FROM=SENDER,
        TANDEM_PUBLIC_URL="https://tandem.clinic.example",
    )


def _sign_up(app: Flask, address: str) -> int:
    r = Api(app.test_client()).call(
        "POST",
        "/api/v1/auth/therapists",
        json={"email": address, "password": PASSWORD, "name": "Dr. Mail"},
    )
    return r.status_code


def test_sign_up_email_arrives_by_smtp_with_the_public_link(smtp_app: Flask, inbox: Inbox) -> None:
    assert _sign_up(smtp_app, "smtp.user@example.test") == 202
    assert background_sender(smtp_app).wait_idle()
    ((mail_from, rcpt_tos, message, _),) = inbox.received
    assert (mail_from, rcpt_tos) == (SENDER, ["smtp.user@example.test"])
    body = message.get_payload(decode=True).decode()
    assert "https://tandem.clinic.example/portal/verify-email?token=" in body


def test_the_mail_server_down_then_back_the_worker_delivers_with_backoff(
    smtp_app: Flask, inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    down = free_port()
    smtp_app.extensions["tandem.mailer"] = SmtpMailer(f"smtp://127.0.0.1:{down}", sender=SENDER)
    assert _sign_up(smtp_app, "waiting@example.test") == 202
    assert background_sender(smtp_app).wait_idle()
    with smtp_app.app_context():
        row = db.session.scalars(select(OutboundEmail)).one()
        assert (row.status, row.attempts, row.last_error) == ("pending", 1, "connection_refused")
        first_retry = row.next_attempt_at
        # Still down at the retry: the next one waits four times longer.
        assert mail_pass(now=first_retry) == {"sent": 0, "retrying": 1, "failed": 0}
        db.session.expire_all()
        row = db.session.get(OutboundEmail, row.id)
        assert row is not None and row.attempts == 2
        assert row.next_attempt_at == first_retry + timedelta(minutes=2)
        # The server is back (the app's own SMTP URL): the worker's pass delivers.
        smtp_app.extensions.pop("tandem.mailer")
        assert mail_pass(now=row.next_attempt_at) == {"sent": 1, "retrying": 0, "failed": 0}
        db.session.remove()
    assert [rcpt for _, rcpt, _, _ in inbox.received] == [["waiting@example.test"]]
    warnings = [r.getMessage() for r in caplog.records if "not sent" in r.getMessage()]
    assert len(warnings) == 2
    assert all("connection_refused" in w and "waiting@" not in w for w in warnings)


def test_a_hung_mail_server_never_holds_the_request(
    smtp_app: Flask, silent_port: int, inbox: Inbox
) -> None:
    smtp_app.extensions["tandem.mailer"] = SmtpMailer(
        f"smtp://127.0.0.1:{silent_port}", sender=SENDER, timeout=2
    )
    assert _sign_up(smtp_app, "hung@example.test") == 202
    # The answer came while the email is still being attempted in the background.
    assert not background_sender(smtp_app).wait_idle(timeout=0)
    assert background_sender(smtp_app).wait_idle(timeout=10)
    with smtp_app.app_context():
        row = db.session.scalars(select(OutboundEmail)).one()
        assert (row.status, row.last_error) == ("pending", "timeout")
        db.session.remove()
