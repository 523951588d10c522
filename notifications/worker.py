"""The reminder worker: APScheduler 3.x running interval jobs in their own process.

`tandem worker` (the server's CLI) calls `run_worker([Job("dispatch", ..., 10), ...])`
with jobs that close over the app context; this module knows nothing of Flask.

Decisions (issue 5, "Known traps"):

* **`BlockingScheduler` in UTC with an in-memory job store.** Every worker process
  has its own scheduler and its own copy of the few interval jobs. A job store shared
  by several processes (APScheduler's SQLAlchemy store) runs jobs twice and can kill
  schedulers silently; safety across processes comes from the outbox claim instead,
  so any number of workers may run.
* **`coalesce=True`, `max_instances=1`, `misfire_grace_time=None`.** A pass that is
  late (busy machine, suspended process) runs once, however late: every job takes
  its time from the clock when it runs and is idempotent, so late is always better
  than skipped. The default grace of 1 s dropped 789 of 1,000 jobs due at once.
  Coalescing turns a backlog of missed runs into one; one instance per job keeps a
  slow pass from overlapping the next.
* **First run at start-up**, not one interval later, so a restarted worker catches up
  at once.
* **SIGTERM/SIGINT**: the handler only sets an event; a watcher thread shuts the
  scheduler down with `wait=True` (a running pass finishes and records its outcomes),
  then `run_worker` returns 0. A second signal meanwhile kills the process at once.
  A pass cut short that way (or by SIGKILL) loses nothing: its claimed rows come back
  after their lease.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType

from apscheduler.events import EVENT_SCHEDULER_STARTED, SchedulerEvent  # type: ignore[import-untyped]
from apscheduler.executors.pool import ThreadPoolExecutor  # type: ignore[import-untyped]
from apscheduler.jobstores.memory import MemoryJobStore  # type: ignore[import-untyped]
from apscheduler.schedulers import SchedulerNotRunningError  # type: ignore[import-untyped]
from apscheduler.schedulers.blocking import BlockingScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

log = logging.getLogger(__name__)

# None: a late run still runs (once, coalesced). See the module docstring.
MISFIRE_GRACE_TIME: int | None = None
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass(frozen=True, slots=True)
class Job:
    """A function the worker runs every `seconds`; its return value is logged."""

    name: str
    func: Callable[[], object]
    seconds: float


def run_job(job: Job) -> None:
    """Run one job and log its report (or its exception, once, with the traceback)."""
    started = time.monotonic()
    try:
        result = job.func()
    except Exception:
        log.exception("worker: job %s failed after %.2fs", job.name, time.monotonic() - started)
        return
    elapsed = time.monotonic() - started
    if result is None:
        log.info("worker: job %s done in %.2fs", job.name, elapsed)
    else:
        log.info("worker: job %s done in %.2fs: %s", job.name, elapsed, result)


def build_scheduler(jobs: Sequence[Job], *, first_run: datetime | None = None) -> BlockingScheduler:
    """A configured, not yet started scheduler with one interval job per `Job`.

    `first_run` (default: now) is when every job first runs.
    """
    names = [job.name for job in jobs]
    if len(set(names)) != len(names):
        raise ValueError(f"job names must be unique: {names}")
    for job in jobs:
        if job.seconds <= 0:
            raise ValueError(f"job {job.name}: seconds must be positive")
    scheduler = BlockingScheduler(
        timezone=UTC,
        jobstores={"default": MemoryJobStore()},
        # One thread per job: a slow dispatch pass never delays planning.
        executors={"default": ThreadPoolExecutor(max_workers=max(1, len(jobs)))},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": MISFIRE_GRACE_TIME,
        },
    )
    start = first_run if first_run is not None else datetime.now(UTC)
    for job in jobs:
        scheduler.add_job(
            run_job,
            IntervalTrigger(seconds=job.seconds, timezone=UTC),
            args=(job,),
            id=job.name,
            name=job.name,
            next_run_time=start,
            # Also given per job (not only as defaults) so they can be read back
            # before the scheduler starts.
            coalesce=True,
            max_instances=1,
            misfire_grace_time=MISFIRE_GRACE_TIME,
        )
    return scheduler


def run_worker(
    jobs: Sequence[Job],
    *,
    stop_event: threading.Event | None = None,
    handle_signals: bool = True,
) -> int:
    """Run `jobs` until SIGTERM/SIGINT (or `stop_event` is set); return the exit code 0.

    Blocks the calling thread. Signal handlers are installed only when called from
    the main thread (and restored on return); from another thread, use `stop_event`.
    """
    stop = stop_event if stop_event is not None else threading.Event()
    scheduler = build_scheduler(jobs)
    started = threading.Event()
    received: list[str] = []

    def on_started(event: SchedulerEvent) -> None:
        started.set()

    scheduler.add_listener(on_started, EVENT_SCHEDULER_STARTED)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # Only set flags here: the watcher thread does the logging and the shutdown.
        received.append(signal.Signals(signum).name)
        stop.set()
        # A second signal while a pass finishes kills at once (the default action);
        # rows it had claimed come back after their lease.
        for other in STOP_SIGNALS:
            signal.signal(other, signal.SIG_DFL)

    def watch() -> None:
        stop.wait()
        started.wait()
        why = f"received {received[0]}" if received else "stop requested"
        log.info("worker: %s, shutting down (waiting for running jobs)", why)
        with contextlib.suppress(SchedulerNotRunningError):  # start() failed: nothing to stop
            scheduler.shutdown(wait=True)

    previous: dict[signal.Signals, object] = {}
    if handle_signals and threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:
            previous[signum] = signal.signal(signum, on_signal)

    watcher = threading.Thread(target=watch, name="tandem-worker-stop", daemon=True)
    watcher.start()
    log.info(
        "worker: started with %s",
        ", ".join(f"{job.name} every {job.seconds:g}s" for job in jobs) or "no jobs",
    )
    try:
        scheduler.start()  # blocks until the watcher shuts the scheduler down
    finally:
        started.set()
        stop.set()
        watcher.join()
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
    log.info("worker: stopped cleanly")
    return 0
