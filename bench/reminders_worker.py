"""One dispatcher process for bench/reminders_bench.py: the real app, the real
firebase-admin SDK (FCMSender + fcm_endpoint_override), the loopback fake FCM.

    python bench/reminders_worker.py FCM_URL [--pool N] [--max-per-call N]
        [--batch-size N] [--sender http2|threads] [--max-seconds S]

Environment: TANDEM_DATABASE_URL, TANDEM_INSTANCE_PATH (shared keys), SSL_CERT_FILE and
REQUESTS_CA_BUNDLE (the fake's CA, so the SDK's clients trust its HTTPS). It sets itself
up, prints `ready`, waits for a line on standard input (the bench's "go", so every
worker starts on the same instant), then dispatches until three claims in a row come
back empty and prints one JSON line: wall times, what it did, where the main thread's
time went (claim / send / record), and its CPU seconds.

With no knob given it runs what `tandem worker`'s dispatch job runs
(`server.worker.dispatch_pass` = `dispatch_until_empty(SqlOutbox(), sender, ...)` with
the defaults), through thin wrappers that time the claim, send and record calls.
Knobs (bench only, nothing in server/ or notifications/ changes):

* `--pool N`  the SDK's requests pool for the fake's host (`--sender threads` only;
  FCMSender mounts one of 500)
* `--max-per-call N`, `--batch-size N`  `dispatch_until_empty` parameters
* `--no-trust-env`  `trust_env = False` on the SDK's requests session (no netrc / proxy
  / CA-bundle file lookups on every request)
* `--sender http2|threads`  `FCMSender(http2=True)` (the SDK's `send_each_async`, every
  message a stream of one HTTP/2 connection kept for the process) or
  `FCMSender(http2=False)` (`send_each`: a thread pool and an HTTP/1.1 request per
  message); without it, `FCMSender`'s own default (`send_each`)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import firebase_admin  # noqa: E402
import requests.adapters  # noqa: E402
from firebase_admin import messaging  # noqa: E402
from google.auth.credentials import AnonymousCredentials  # noqa: E402

from notifications.delivery import Message, Outcome, SendResult  # noqa: E402
from notifications.dispatch import DispatchReport, dispatch_until_empty  # noqa: E402
from notifications.senders import SDK_RETRY, FCMSender, fcm_endpoint_override  # noqa: E402
from server import create_app  # noqa: E402
from server.db import utcnow  # noqa: E402
from server.extensions import db  # noqa: E402
from server.services.outbox import SqlOutbox  # noqa: E402


class Phases:
    """Seconds the dispatching thread spent in each call."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {"claim": 0.0, "send": 0.0, "record": 0.0}

    def add(self, name: str, started: float) -> None:
        self.seconds[name] += time.perf_counter() - started


class TimedOutbox(SqlOutbox):
    def __init__(self, phases: Phases) -> None:
        self.phases = phases

    def claim(self, *, now: datetime, limit: int, worker_id: str) -> list[Any]:
        started = time.perf_counter()
        try:
            return super().claim(now=now, limit=limit, worker_id=worker_id)
        finally:
            self.phases.add("claim", started)

    def record(self, outcomes: Sequence[Outcome], *, now: datetime) -> None:
        started = time.perf_counter()
        try:
            super().record(outcomes, now=now)
        finally:
            self.phases.add("record", started)


class TimedSender:
    def __init__(self, inner: Any, phases: Phases) -> None:
        self.inner = inner
        self.phases = phases

    def send(self, messages: Sequence[Message]) -> list[SendResult]:
        started = time.perf_counter()
        try:
            return self.inner.send(messages)  # type: ignore[no-any-return]
        finally:
            self.phases.add("send", started)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("fcm_url")
    parser.add_argument("--pool", type=int, default=None)
    parser.add_argument("--max-per-call", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument(
        "--sender",
        choices=("http2", "threads"),
        default=None,
        help="http2: FCMSender(http2=True), send_each_async on one HTTP/2 connection; "
        "threads: FCMSender(http2=False), send_each's thread pool over HTTP/1.1; "
        "default: FCMSender's own default (threads)",
    )
    parser.add_argument(
        "--no-trust-env",
        action="store_true",
        help="the SDK's requests session skips netrc/proxy/CA lookups per request",
    )
    parser.add_argument("--max-seconds", type=float, default=600.0)
    args = parser.parse_args()

    firebase = firebase_admin.initialize_app(
        AnonymousCredentials(), {"projectId": "tandem-test"}, name=f"bench-{uuid.uuid4()}"
    )
    fcm_endpoint_override(firebase, args.fcm_url)
    if args.pool:
        service = messaging._get_messaging_service(firebase)
        host = args.fcm_url.split("/v1/", 1)[0]
        service._client.session.mount(
            host,
            requests.adapters.HTTPAdapter(
                pool_connections=args.pool, pool_maxsize=args.pool, max_retries=SDK_RETRY
            ),
        )
    if args.no_trust_env:
        messaging._get_messaging_service(firebase)._client.session.trust_env = False
    sender: Any = (
        FCMSender(firebase)
        if args.sender is None
        else FCMSender(firebase, http2=args.sender == "http2")
    )
    phases = Phases()
    app = create_app()
    app.extensions["tandem.sender"] = TimedSender(sender, phases)
    outbox = TimedOutbox(phases)
    worker = f"bench:{os.getpid()}"

    print("ready", flush=True)
    if not sys.stdin.readline():
        return 1
    started = time.time()
    at_go = resource.getrusage(resource.RUSAGE_SELF)
    deadline = time.monotonic() + args.max_seconds
    last_work = started
    total = DispatchReport()
    passes = 0
    empty = 0
    while empty < 3 and time.monotonic() < deadline:
        # One app context and session per pass, removed after it, as `tandem worker`
        # runs its jobs (server/worker.py). `dispatch_pass` is `dispatch_until_empty(
        # SqlOutbox(), sender(), now=..., worker_id=...)` with the defaults (500, 500);
        # the same call with a timed outbox (a SqlOutbox subclass) and the knobs.
        with app.app_context():
            try:
                report = dispatch_until_empty(
                    outbox,
                    app.extensions["tandem.sender"],
                    now=utcnow(),
                    worker_id=worker,
                    batch_size=args.batch_size or 500,
                    max_per_call=args.max_per_call or 500,
                )
            finally:
                db.session.remove()
        passes += 1
        total += report
        if report.claimed:
            empty = 0
            last_work = time.time()
        else:
            empty += 1
            time.sleep(0.02)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "started": started,
                "finished": last_work,
                "passes": passes,
                "report": {f.name: getattr(total, f.name) for f in dataclasses.fields(total)},
                "phases": phases.seconds,
                # CPU from "go" on (start-up and imports left out)
                "cpu": usage.ru_utime + usage.ru_stime - at_go.ru_utime - at_go.ru_stime,
                "timed_out": time.monotonic() >= deadline,
                "sender": args.sender,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
