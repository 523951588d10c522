"""Wiring reminders to the app: the sender from configuration, one plan/dispatch pass,
and `tandem worker` (APScheduler in its own process, never in web workers)."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from notifications.delivery import Sender
from notifications.dispatch import DispatchReport, dispatch_until_empty
from notifications.senders import FCMSender, LogSender, make_firebase_app
from notifications.worker import Job, run_worker
from server.db import utcnow
from server.errors import DATABASE_UNAVAILABLE
from server.extensions import db
from server.services import outbox, reminders

log = logging.getLogger(__name__)

PLAN_EVERY = 15 * 60
# Re-plan requests (a check-in, settings, an assignment change) are picked up within
# seconds; the dispatcher applies those with a reminder due before it claims.
REPLAN_EVERY = 2
DISPATCH_EVERY = 30
INACTIVITY_EVERY = 60 * 60
# Emails are sent right after their commit by the web process; this pass retries what
# failed (each row waits its own backoff) or was left by a process that died.
MAIL_EVERY = 30


def sender() -> Sender:
    """The notifier of TANDEM_NOTIFIER, made once per app."""
    existing = current_app.extensions.get("tandem.sender")
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    settings = current_app.config["TANDEM_SETTINGS"]
    made: Sender
    if settings.notifier == "fcm":
        made = FCMSender(make_firebase_app(settings.firebase_credentials, name="tandem"))
    else:
        made = LogSender()
    current_app.extensions["tandem.sender"] = made
    return made


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def plan_pass(now: datetime | None = None) -> dict[str, Any]:
    """Plan every partner's reminders for the next 24 hours."""
    added = reminders.plan_all(now=now or utcnow())
    db.session.commit()
    return {"planned": added}


def replan_pass(now: datetime | None = None) -> dict[str, int]:
    """Re-plan the partners whose inputs changed (their replan requests), batch by batch."""
    from server.services.replans import replan_pass as take_and_replan

    return take_and_replan(now=now or utcnow())


def dispatch_pass(now: datetime | None = None) -> DispatchReport:
    """Send what is due at `now`."""
    return dispatch_until_empty(
        outbox.SqlOutbox(), sender(), now=now or utcnow(), worker_id=worker_id()
    )


def inactivity_pass(now: datetime | None = None) -> dict[str, int]:
    return reminders.scan_inactivity(now=now or utcnow())


def mail_pass(now: datetime | None = None) -> dict[str, int]:
    """Send the outbox's due emails (retries with backoff, and rows left behind)."""
    from server.services.mail import send_outbox

    return send_outbox(now=now or utcnow())


def record_success(job: str, now: datetime | None = None) -> None:
    """`job` ran successfully at `now`: GET /metrics reports it (worker_heartbeats).
    One upsert, so that several worker processes may write the same row."""
    from server.models import WorkerHeartbeat

    values = {"job": job, "last_success_at": now or utcnow()}
    insert: Any = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    statement = insert(WorkerHeartbeat).values(**values)
    db.session.execute(
        statement.on_conflict_do_update(
            index_elements=["job"], set_={"last_success_at": statement.excluded.last_success_at}
        )
    )
    db.session.commit()


def _in_context(app: Flask, func: Any, job: str | None = None) -> Any:
    """Each run of a job in its own app context and database session, removed after;
    a run that returns is recorded as the job's last success."""

    def run() -> object:
        with app.app_context():
            try:
                result = func()
                if job is not None:
                    record_success(job)
                return result
            finally:
                db.session.remove()

    return run


def describe_failure(error: BaseException) -> str | None:
    """One line for a failure that is not a bug (the database went away), else None."""
    if isinstance(error, DATABASE_UNAVAILABLE):
        cause = getattr(error, "orig", None) or error
        lines = str(cause).strip().splitlines()
        return f"database unavailable ({cause.__class__.__name__}: {lines[0] if lines else ''})"
    return None


PASSES = {
    "plan": plan_pass,
    "replan": replan_pass,
    "dispatch": dispatch_pass,
    "inactivity": inactivity_pass,
    "mail": mail_pass,
}
EVERY = {
    "plan": PLAN_EVERY,
    "replan": REPLAN_EVERY,
    "dispatch": DISPATCH_EVERY,
    "inactivity": INACTIVITY_EVERY,
    "mail": MAIL_EVERY,
}


def run(
    app: Flask,
    *,
    every: Mapping[str, float] | None = None,
    stop_event: threading.Event | None = None,
) -> int:
    """Run the reminder jobs until SIGTERM (or `stop_event`). `every` (job name →
    seconds) runs only those jobs at those intervals; by default all five at theirs."""
    chosen = dict(every) if every is not None else EVERY
    jobs = [
        Job(name, _in_context(app, PASSES[name], name), seconds, describe_failure)
        for name, seconds in chosen.items()
    ]
    log.info(
        "worker %s starting: %s",
        worker_id(),
        ", ".join(f"{job.name} every {job.seconds:g}s" for job in jobs),
    )
    return run_worker(jobs, stop_event=stop_event)
