"""The naive way, for bench/reminders_bench.py: one APScheduler 3.x job per reminder in
its SQLAlchemyJobStore (on PostgreSQL), each job sending its one push through the same
FCMSender (real firebase-admin SDK) to the loopback fake FCM.

    python bench/reminders_naive.py FCM_URL --jobstore-url URL --table T --run-at EPOCH
        [--add N] [--misfire-grace SECONDS|default|none] [--max-seconds S]

Every process starts a BackgroundScheduler (UTC, default ThreadPoolExecutor of 10
threads) paused on the table `T`. With `--add N` it adds N date jobs due at `--run-at`
(what an app that schedules each reminder as a job would do) and reports how long that
took. Every process then resumes at `--run-at`, so the N jobs fall due at once while
the scheduler runs, as a batch of 20:00 reminders would. It stops once the table is
empty and nothing ran for a second (or at --max-seconds) and prints one JSON line:
jobs executed / missed (EVENT_JOB_MISSED: dropped by `misfire_grace_time`) / failed,
the instant of the last completion, CPU seconds, scheduler errors logged.

`--misfire-grace default` leaves APScheduler's default (1 s); `none` runs a job
however late. Two processes on one table (only one with --add) show the shared job
store trap.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SENDER: Any = None  # set in main(), in the module the job store imports: bench.reminders_naive


def send_one(reminder_id: str, token: str) -> None:
    """The job: one push, through the same FCMSender the dispatcher uses."""
    from notifications.delivery import Message

    result = SENDER.send(
        [
            Message(
                token=token,
                title="Tandem",
                body="A moment for you",
                data={"screen": "homework", "reminder_id": reminder_id},
            )
        ]
    )
    if not result[0].ok:
        raise RuntimeError(f"push failed: {result[0].error}")


class _ErrorCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.samples: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if len(self.samples) < 5:
            self.samples.append(record.getMessage()[:300])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("fcm_url")
    parser.add_argument("--jobstore-url", required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--run-at", type=float, required=True, help="epoch seconds")
    parser.add_argument("--add", type=int, default=0)
    parser.add_argument("--misfire-grace", default="none")
    parser.add_argument("--max-seconds", type=float, default=600.0)
    args = parser.parse_args()

    import firebase_admin
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from google.auth.credentials import AnonymousCredentials
    from sqlalchemy import create_engine, text

    import bench.reminders_naive as me
    from notifications.senders import FCMSender, fcm_endpoint_override

    deadline = time.monotonic() + args.max_seconds
    firebase = firebase_admin.initialize_app(
        AnonymousCredentials(), {"projectId": "tandem-test"}, name=f"naive-{uuid.uuid4()}"
    )
    fcm_endpoint_override(firebase, args.fcm_url)
    me.SENDER = FCMSender(firebase)

    died: list[str] = []

    def excepthook(hook_args: Any) -> None:  # a scheduler thread killed by an exception
        name = f"{hook_args.thread.name}: {hook_args.exc_type.__name__}"
        died.append(f"{name}: {hook_args.exc_value}"[:300])
        threading.__excepthook__(hook_args)

    threading.excepthook = excepthook
    errors = _ErrorCounter()
    logging.getLogger("apscheduler").addHandler(errors)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)

    job_defaults: dict[str, Any] = {"coalesce": False, "max_instances": 1}
    if args.misfire_grace == "none":
        job_defaults["misfire_grace_time"] = None
    elif args.misfire_grace != "default":
        job_defaults["misfire_grace_time"] = float(args.misfire_grace)
    engine = create_engine(args.jobstore_url, pool_size=5)
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=args.table)},
        job_defaults=job_defaults,
        timezone=UTC,
    )
    lock = threading.Lock()
    counts = {"executed": 0, "missed": 0, "failed": 0}
    last = {"at": 0.0}

    def listener(event: Any) -> None:
        with lock:
            if event.code == EVENT_JOB_EXECUTED:
                counts["executed"] += 1
            elif event.code == EVENT_JOB_MISSED:
                counts["missed"] += 1
            else:
                counts["failed"] += 1
            last["at"] = time.time()

    scheduler.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_ERROR)
    scheduler.start(paused=True)
    run_at = datetime.fromtimestamp(args.run_at, UTC)
    added_seconds = 0.0
    if args.add:
        started = time.perf_counter()
        for n in range(args.add):
            reminder_id = str(uuid.uuid4())
            scheduler.add_job(
                "bench.reminders_naive:send_one",
                trigger="date",
                run_date=run_at,
                args=[reminder_id, f"naive-token-{n}"],
                id=reminder_id,
            )
        added_seconds = time.perf_counter() - started
    late_by = time.time() - args.run_at
    while time.time() < args.run_at - 0.05:
        time.sleep(0.01)
    scheduler.resume()

    def left() -> int:
        with engine.connect() as connection:
            query = text(f'SELECT count(*) FROM "{args.table}"')  # noqa: S608 - our table
            return int(connection.execute(query).scalar())

    while time.monotonic() < deadline:
        time.sleep(0.5)
        with lock:
            quiet = time.time() - max(last["at"], args.run_at)
        if quiet > 1.0 and left() == 0:
            break
        if died and quiet > 5.0:  # the scheduler thread is gone: nothing will run any more
            break
    remaining = left()
    scheduler.shutdown(wait=True)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "added": args.add,
                "add_seconds": added_seconds,
                "late_at_start": late_by,
                "run_at": args.run_at,
                "last_done": last["at"],
                **counts,
                "left_in_store": remaining,
                "scheduler_warnings": errors.count,
                "threads_died": died,
                "warning_samples": errors.samples,
                "cpu": usage.ru_utime + usage.ru_stime,
                "timed_out": time.monotonic() >= deadline,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
