"""Wiring reminders to the app: the sender from configuration, one plan/dispatch pass,
and `tandem worker` (APScheduler in its own process, never in web workers)."""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime
from typing import Any

from flask import Flask, current_app

from notifications.delivery import Sender
from notifications.dispatch import DispatchReport, dispatch_until_empty
from notifications.senders import FCMSender, LogSender, make_firebase_app
from notifications.worker import Job, run_worker
from server.db import utcnow
from server.extensions import db
from server.services import reminders

log = logging.getLogger(__name__)

PLAN_EVERY = 15 * 60
DISPATCH_EVERY = 30
INACTIVITY_EVERY = 60 * 60


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


def dispatch_pass(now: datetime | None = None) -> DispatchReport:
    """Send what is due at `now`."""
    return dispatch_until_empty(
        reminders.SqlOutbox(), sender(), now=now or utcnow(), worker_id=worker_id()
    )


def inactivity_pass(now: datetime | None = None) -> dict[str, int]:
    return reminders.scan_inactivity(now=now or utcnow())


def _in_context(app: Flask, func: Any) -> Any:
    def run() -> object:
        with app.app_context():
            try:
                return func()
            finally:
                db.session.remove()

    return run


def run(app: Flask) -> int:
    """Run the reminder jobs until SIGTERM."""
    jobs = [
        Job("plan", _in_context(app, plan_pass), PLAN_EVERY),
        Job("dispatch", _in_context(app, dispatch_pass), DISPATCH_EVERY),
        Job("inactivity", _in_context(app, inactivity_pass), INACTIVITY_EVERY),
    ]
    log.info(
        "worker %s starting: plan every %ss, dispatch every %ss",
        worker_id(),
        PLAN_EVERY,
        DISPATCH_EVERY,
    )
    return run_worker(jobs)
