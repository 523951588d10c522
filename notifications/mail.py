"""Email: Tandem's few messages, and the mailers that send them.

* `LogMailer` — the default (`TANDEM_MAILER=log`): each email, its links included, is
  written to standard error, so a laptop needs no mail server.
* `SmtpMailer` — `TANDEM_MAILER=smtp` with the standard library's `smtplib`:
  `smtp://user:password@host:port` upgrades with STARTTLS whenever the server offers
  it (and refuses to send a password over a plain connection to anything but
  loopback); `smtps://` is TLS from the first byte. Every network step has a timeout.
  A failure raises `MailError` with a short code (never the address, the server's
  words or the message), and `permanent` when retrying cannot help (a 5xx answer).
  Retrying with backoff is the caller's outbox (`retry_delay`), so a slow server never
  holds a request or a sending thread for long.
* `MemoryMailer` — records messages (tests).

The messages are plain text, short and discreet: subjects say what to do and nothing
about therapy, since a lock screen or a shared inbox shows them.

This module imports neither Flask nor the server and never reads the clock: the
`Date` header comes from the caller's `now`.
"""

from __future__ import annotations

import json
import secrets
import smtplib
import socket
import ssl
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from ipaddress import ip_address
from typing import Protocol, TextIO
from urllib.parse import unquote, urlencode, urlsplit

MAILERS = ("log", "smtp")
DEFAULT_TIMEOUT = 10.0
SMTP_PORT = 587
SMTPS_PORT = 465
# Retries of one email: 30 s, 2 min, 8 min, 32 min, then hourly, ten attempts in all
# (about six hours): long enough for a mail server's restart or a DNS fix.
FIRST_RETRY = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=1)
MAX_ATTEMPTS = 10


@dataclass(frozen=True, slots=True)
class Email:
    """One message to one address."""

    to: str
    subject: str
    text: str

    def to_json(self) -> str:
        return json.dumps({"to": self.to, "subject": self.subject, "text": self.text})

    @classmethod
    def from_json(cls, raw: str) -> Email:
        data = json.loads(raw)
        return cls(to=str(data["to"]), subject=str(data["subject"]), text=str(data["text"]))


class MailError(Exception):
    """Sending failed. `code` is safe to log and store (no address, no content)."""

    def __init__(self, code: str, *, permanent: bool = False) -> None:
        super().__init__(code)
        self.code = code
        self.permanent = permanent


class Mailer(Protocol):
    def send(self, email: Email, *, now: datetime) -> None:
        """Deliver `email` or raise `MailError`."""


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt (1, 2, ...)."""
    exponent: int = max(0, min(attempts - 1, 10))
    step: timedelta = FIRST_RETRY * pow(4, exponent)
    return min(step, RETRY_CAP)


# --- messages --------------------------------------------------------------------------


def page_link(public_url: str, path: str, token: str) -> str:
    """`TANDEM_PUBLIC_URL` + a page path + `?token=TOKEN` (API.md, "Configuration")."""
    return f"{public_url.rstrip('/')}{path}?{urlencode({'token': token})}"


def _greeting(name: str) -> str:
    name = " ".join(name.split())
    return f"Hello {name}," if name else "Hello,"


def verification_email(*, to: str, name: str, link: str) -> Email:
    return Email(
        to=to,
        subject="Confirm your email address",
        text=(
            f"{_greeting(name)}\n\n"
            "Please confirm your email address for Tandem by opening this link within "
            f"24 hours:\n\n{link}\n\n"
            "If you did not create an account, ignore this email: nothing happens "
            "without the link.\n"
        ),
    )


def existing_account_email(*, to: str, name: str, link: str) -> Email:
    """The note an address with an account receives when someone signs up with it."""
    return Email(
        to=to,
        subject="About your Tandem account",
        text=(
            f"{_greeting(name)}\n\n"
            "Someone, perhaps you, tried to create a new Tandem account with this "
            "address. You already have one, so nothing was created: sign in as usual.\n\n"
            "If you forgot your password, choose a new one with this link (valid for "
            f"1 hour):\n\n{link}\n\n"
            "If it was not you, ignore this email: your account has not changed.\n"
        ),
    )


def password_reset_email(*, to: str, name: str, link: str) -> Email:
    return Email(
        to=to,
        subject="Reset your password",
        text=(
            f"{_greeting(name)}\n\n"
            "Choose a new password for Tandem with this link (valid for 1 hour, once):"
            f"\n\n{link}\n\n"
            "Choosing a new password signs you out on every device. If you did not ask "
            "for this, ignore this email: your password has not changed.\n"
        ),
    )


def build_message(email: Email, *, sender: str, now: datetime) -> EmailMessage:
    """The MIME message: a single text/plain part."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Date"] = format_datetime(now)
    domain = sender.rpartition("@")[2] or "localhost"
    # Not `email.utils.make_msgid`: it reads the clock.
    message["Message-ID"] = f"<{secrets.token_hex(16)}@{domain}>"
    message.set_content(email.text)
    return message


def valid_sender(value: str) -> bool:
    """An address for `From:` (no display name tricks, no header injection)."""
    if any(ch in value for ch in "\r\n") or len(value) > 254:
        return False
    _, address = parseaddr(value)
    local, at, domain = address.partition("@")
    return bool(local and at and domain) and " " not in address


# --- the log mailer --------------------------------------------------------------------


class LogMailer:
    """Writes each email to standard error (or `stream`), links included."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, email: Email, *, now: datetime) -> None:
        stream = self._stream or sys.stderr
        block = (
            f"----- email to {email.to} ({now:%Y-%m-%d %H:%M:%S}Z) -----\n"
            f"Subject: {email.subject}\n\n{email.text.rstrip()}\n"
            "----- end of email -----\n"
        )
        with self._lock:
            stream.write(block)
            stream.flush()


# --- the memory mailer (tests) ---------------------------------------------------------


@dataclass
class MemoryMailer:
    """Keeps what it is given; `fail_with` makes every send fail (tests)."""

    sent: list[Email] = field(default_factory=list)
    fail_with: MailError | None = None
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def send(self, email: Email, *, now: datetime) -> None:
        with self._changed:
            if self.fail_with is not None:
                raise self.fail_with
            self.sent.append(email)
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Email]:
        """The emails once at least `count` were sent (or what there is at `timeout`)."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.sent) >= count, timeout=timeout)
            return list(self.sent)


# --- SMTP ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    host: str
    port: int
    username: str | None
    password: str | None = field(repr=False)
    implicit_tls: bool


def parse_smtp_url(url: str) -> SmtpTarget:
    """`smtp://user:password@host:port` or `smtps://...`; ValueError (whose message never
    contains the password) when it is not one."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ValueError("not a valid URL (expected smtp://user:password@host:port)") from None
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("expected smtp://user:password@host:port or smtps://...")
    if not parts.hostname:
        raise ValueError("no host (expected smtp://user:password@host:port)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("expected no path, query or fragment after host:port")
    implicit = parts.scheme == "smtps"
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and not username:
        raise ValueError("a password without a user name")
    return SmtpTarget(
        host=parts.hostname,
        port=port or (SMTPS_PORT if implicit else SMTP_PORT),
        username=username,
        password=password,
        implicit_tls=implicit,
    )


def redact_smtp_url(url: str) -> str:
    """The URL with its password replaced, for messages to the operator."""
    try:
        parts = urlsplit(url.strip())
        if parts.password is None:
            return url
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return parts._replace(netloc=netloc).geturl()
    except ValueError:
        return "(unreadable URL)"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def _smtp_error(error: smtplib.SMTPResponseException, code: str) -> MailError:
    """A refusal with an SMTP reply code: 5xx is permanent, 4xx worth retrying."""
    return MailError(f"{code}_{error.smtp_code}", permanent=500 <= error.smtp_code < 600)


class SmtpMailer:
    """Sends through an SMTP server (one connection per email: they are rare)."""

    def __init__(
        self,
        url: str,
        *,
        sender: str,
        timeout: float = DEFAULT_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.target = parse_smtp_url(url)
        self.sender = sender
        self.timeout = timeout
        self.ssl_context = ssl_context or ssl.create_default_context()

    def __repr__(self) -> str:
        t = self.target
        return f"SmtpMailer({'smtps' if t.implicit_tls else 'smtp'}://{t.host}:{t.port})"

    def _connect(self) -> smtplib.SMTP:
        t = self.target
        if t.implicit_tls:
            return smtplib.SMTP_SSL(t.host, t.port, timeout=self.timeout, context=self.ssl_context)
        return smtplib.SMTP(t.host, t.port, timeout=self.timeout)

    def send(self, email: Email, *, now: datetime) -> None:
        message = build_message(email, sender=self.sender, now=now)
        try:
            self._deliver(message)
        except MailError:
            raise
        except smtplib.SMTPAuthenticationError:
            raise MailError("auth_failed") from None
        except smtplib.SMTPRecipientsRefused as error:
            # One recipient per email: its answer decides (the address is not kept).
            codes = [code for code, _ in error.recipients.values()]
            permanent = bool(codes) and all(500 <= code < 600 for code in codes)
            raise MailError("recipient_refused", permanent=permanent) from None
        except smtplib.SMTPSenderRefused as error:
            raise _smtp_error(error, "sender_refused") from None
        except smtplib.SMTPDataError as error:
            raise _smtp_error(error, "data_refused") from None
        except smtplib.SMTPResponseException as error:
            raise _smtp_error(error, "smtp") from None
        except smtplib.SMTPServerDisconnected as error:
            # smtplib reports a read that timed out as a disconnection.
            timed_out = isinstance(error.__context__, TimeoutError)
            raise MailError("timeout" if timed_out else "disconnected") from None
        except TimeoutError:
            raise MailError("timeout") from None
        except ssl.SSLError:
            raise MailError("tls_failed") from None
        except ConnectionRefusedError:
            raise MailError("connection_refused") from None
        except socket.gaierror:
            raise MailError("host_not_found") from None
        except (OSError, smtplib.SMTPException):
            raise MailError("connection_failed") from None

    def _deliver(self, message: EmailMessage) -> None:
        t = self.target
        with self._connect() as smtp:
            smtp.ehlo()
            secure = t.implicit_tls
            if not secure and smtp.has_extn("starttls"):
                smtp.starttls(context=self.ssl_context)
                smtp.ehlo()
                secure = True
            if t.username:
                if not secure and not _is_loopback(t.host):
                    raise MailError("tls_required")
                smtp.login(t.username, t.password or "")
            smtp.send_message(message)
