"""The email outbox: queued in the request's transaction, sent after its commit.

Why an outbox: an email must never be sent for a sign-up that rolled back, and a slow or
broken mail server must never slow or break the request. So a service writes an
`OutboundEmail` row (the message encrypted with the data keys: it holds an address and
a live token) in the request's transaction; once that transaction commits, the rows'
ids go to this process's background sender, a daemon thread that sends them within
moments. Whatever it could not send (the server was down, the process died) stays in
the table and `tandem worker`'s `mail` job retries it with backoff
(`notifications.mail.retry_delay`), up to `MAX_ATTEMPTS`, then marks it `failed`.

Every send first *claims* its row with a conditional UPDATE (pending and due, or a
`sending` row whose lease ran out), so the thread and any number of workers never send
one email twice. A sent row keeps its story (status, attempts, `sent_at`) but its
message is blanked: the tokens in it must not outlive their use. A failure is logged
with the row's id, kind and an error code, never the address or the token.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import weakref
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import and_, event, or_, select, update
from sqlalchemy.orm import Session

from notifications.mail import (
    MAX_ATTEMPTS,
    Email,
    LogMailer,
    Mailer,
    MailError,
    SmtpMailer,
    retry_delay,
)
from server.crypto import cipher
from server.db import utcnow
from server.extensions import db
from server.models import OutboundEmail
from server.models.mail import EMAIL_FAILED, EMAIL_PENDING, EMAIL_SENDING, EMAIL_SENT

log = logging.getLogger(__name__)

# A claimed row not finished within this long is claimed again (its sender died).
LEASE = timedelta(minutes=5)
BATCH = 100
_QUEUED = "tandem.mail.queued"  # session.info: ids to hand over after the commit
_MAILER = "tandem.mailer"
_SENDER = "tandem.mail.background"


def mailer() -> Mailer:
    """The mailer of TANDEM_MAILER, made once per app (tests may put their own here)."""
    existing = current_app.extensions.get(_MAILER)
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    settings = current_app.config["TANDEM_SETTINGS"]
    made: Mailer
    if settings.mailer == "smtp":
        made = SmtpMailer(settings.smtp_url, sender=settings.mail_from)
    else:
        made = LogMailer()
    current_app.extensions[_MAILER] = made
    return made


def queue_email(*, user_id: str | None, kind: str, email: Email) -> OutboundEmail:
    """Add `email` to the outbox in the current transaction; it is sent after the commit."""
    row = OutboundEmail(
        user_id=user_id,
        kind=kind,
        message_encrypted=cipher().encrypt(email.to_json()),
        status=EMAIL_PENDING,
        attempts=0,
        next_attempt_at=utcnow(),
    )
    db.session.add(row)
    db.session.flush()
    queued = db.session.info.setdefault(_QUEUED, [])
    queued.append((current_app._get_current_object(), row.id))  # type: ignore[attr-defined]
    return row


@event.listens_for(Session, "after_commit")
def _hand_over_after_commit(session: Session) -> None:
    queued = session.info.pop(_QUEUED, None)
    if not queued:
        return
    by_app: dict[int, tuple[Flask, list[str]]] = {}
    for app, row_id in queued:
        by_app.setdefault(id(app), (app, []))[1].append(row_id)
    for app, ids in by_app.values():
        background_sender(app).submit(ids)


@event.listens_for(Session, "after_soft_rollback")
def _forget_after_rollback(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:  # the whole transaction, not a savepoint
        session.info.pop(_QUEUED, None)


# --- sending -------------------------------------------------------------------------


def _claim(row_id: str, now: datetime) -> bool:
    claimable = or_(
        and_(OutboundEmail.status == EMAIL_PENDING, OutboundEmail.next_attempt_at <= now),
        and_(OutboundEmail.status == EMAIL_SENDING, OutboundEmail.lease_until < now),
    )
    result = db.session.execute(
        update(OutboundEmail)
        .where(OutboundEmail.id == row_id, claimable)
        .values(
            status=EMAIL_SENDING,
            lease_until=now + LEASE,
            attempts=OutboundEmail.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _finish(row_id: str, **values: Any) -> None:
    db.session.execute(
        update(OutboundEmail)
        .where(OutboundEmail.id == row_id)
        .values(lease_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def send_outbox(
    *, now: datetime, ids: Iterable[str] | None = None, using: Mailer | None = None
) -> dict[str, int]:
    """Send the given rows (or every due one), each claimed first; returns counts.

    Commits as it goes and holds no transaction open while talking to the mail server.
    """
    report = {"sent": 0, "retrying": 0, "failed": 0}
    sender = using or mailer()
    if ids is None:
        due = or_(
            and_(OutboundEmail.status == EMAIL_PENDING, OutboundEmail.next_attempt_at <= now),
            and_(OutboundEmail.status == EMAIL_SENDING, OutboundEmail.lease_until < now),
        )
        candidates = list(
            db.session.scalars(
                select(OutboundEmail.id)
                .where(due)
                .order_by(OutboundEmail.next_attempt_at)
                .limit(BATCH)
            )
        )
    else:
        candidates = list(ids)
    db.session.rollback()
    for row_id in candidates:
        if not _claim(row_id, now):
            db.session.rollback()
            continue
        db.session.commit()
        row = db.session.get(OutboundEmail, row_id)
        if row is None:  # its account was erased meanwhile
            db.session.rollback()
            continue
        attempts, kind, sealed = row.attempts, row.kind, row.message_encrypted
        db.session.rollback()
        report[_send_one(sender, row_id, kind, attempts, sealed, now)] += 1
    return report


def _send_one(
    sender: Mailer, row_id: str, kind: str, attempts: int, sealed: str | None, now: datetime
) -> str:
    try:
        if sealed is None:
            raise MailError("no_message", permanent=True)
        try:
            email = Email.from_json(cipher().decrypt(sealed))
        except ValueError:
            raise MailError("undecryptable", permanent=True) from None
        sender.send(email, now=now)
    except MailError as error:
        code, permanent = error.code, error.permanent
    except Exception as error:  # a bug in a mailer: its message may hold the address
        log.error("email %s (%s): unexpected %s", row_id, kind, error.__class__.__name__)
        code, permanent = "unexpected_error", False
    else:
        _finish(row_id, status=EMAIL_SENT, sent_at=now, message_encrypted=None, last_error=None)
        return "sent"
    if permanent or attempts >= MAX_ATTEMPTS:
        _finish(row_id, status=EMAIL_FAILED, last_error=code[:64], message_encrypted=None)
        log.error(
            "email %s (%s) not sent, given up after %d attempt(s): %s",
            row_id,
            kind,
            attempts,
            code,
        )
        return "failed"
    retry_at = now + retry_delay(attempts)
    _finish(row_id, status=EMAIL_PENDING, last_error=code[:64], next_attempt_at=retry_at)
    log.warning(
        "email %s (%s) not sent (attempt %d of %d): %s; next attempt at %s",
        row_id,
        kind,
        attempts,
        MAX_ATTEMPTS,
        code,
        retry_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    return "retrying"


# --- the background sender of each process ---------------------------------------------


class BackgroundSender:
    """A daemon thread per process that sends rows right after their commit.

    Started on first use, and again in a forked child (gunicorn forks its workers after
    the app is made; a thread never survives a fork). `wait_idle` lets tests and the
    CLI wait for what was handed over, without sleeping.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._reset()
        _SENDERS.add(self)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._queue: queue.SimpleQueue[list[str]] = queue.SimpleQueue()
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def submit(self, ids: list[str]) -> None:
        with self._lock:
            if self._pid != os.getpid():  # pragma: no cover - reset by the fork hook
                self._reset_unlocked()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="tandem-mail", daemon=True)
                self._thread.start()
            self._pending += 1
            self._queue.put(ids)

    def _reset_unlocked(self) -> None:
        self._queue = queue.SimpleQueue()
        self._pending = 0
        self._thread = None
        self._pid = os.getpid()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """True once everything handed over was attempted (False at `timeout`)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

    def _run(self) -> None:
        while True:
            ids = self._queue.get()
            try:
                with self.app.app_context():
                    try:
                        send_outbox(now=utcnow(), ids=ids)
                    finally:
                        db.session.remove()
            except Exception as error:  # the database went away: the worker retries
                log.warning(
                    "background email sender: %s; the rows stay for `tandem worker`",
                    error.__class__.__name__,
                )
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()


_SENDERS: weakref.WeakSet[BackgroundSender] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for sender in list(_SENDERS):
        sender._reset()


os.register_at_fork(after_in_child=_after_fork_in_child)


def background_sender(app: Flask) -> BackgroundSender:
    sender = app.extensions.get(_SENDER)
    if sender is None:
        with _MADE:
            sender = app.extensions.setdefault(_SENDER, BackgroundSender(app))
    return sender  # type: ignore[no-any-return]


_MADE = threading.Lock()
