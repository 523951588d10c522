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
* **A failing job backs off and logs once.** When a run fails (the database went
  away), the next runs are skipped for the job's interval, then twice that, and so on
  up to `BACKOFF_CAP` seconds (at least the interval); the first failure is logged,
  the rest of the streak only at DEBUG, and the first success after it says how many
  runs failed. An expected failure (`Job.describe_failure` gives it a line) is logged
  without a traceback. Nothing is lost meanwhile: the outbox keeps every row, and rows
  claimed by a pass cut short come back after their lease.
* **SIGTERM/SIGINT**: the handler only sets an event; a watcher thread shuts the
  scheduler down with `wait=True` (a running pass finishes and records its outcomes),
  then `run_worker` returns 0. A second signal meanwhile kills the process at once.
  A pass cut short that way (or by SIGKILL) loses nothing: its claimed rows come back
  after their lease.
* **A signal wakes the main thread.** The kernel may deliver SIGTERM to any thread;
  CPython then runs the Python handler only when the main thread next runs bytecode,
  and the scheduler's main thread sleeps until the next job is due (up to its whole
  interval). `signal.set_wakeup_fd` writes every signal to a pipe whose reader calls
  `scheduler.wakeup()`, so the handler runs at once whichever thread the signal hit.
  Without it 1 stop in ~70 under load hung until the next job (seen in CI).
"""

from __future__ import annotations

import contextlib
import logging
import os
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
# A failing job waits at most this long between attempts (see the module docstring).
BACKOFF_CAP = 300.0


@dataclass(frozen=True, slots=True)
class Job:
    """A function the worker runs every `seconds`; its return value is logged.

    `describe_failure` names expected failures (e.g. "database unavailable: ...") in
    one line; for those no traceback is logged. None for any other exception.
    """

    name: str
    func: Callable[[], object]
    seconds: float
    describe_failure: Callable[[BaseException], str | None] | None = None


@dataclass(slots=True)
class Backoff:
    """When a failing job may run again: `interval` after the first failure, then
    twice as long after each further one, at most `cap`. Times come in as arguments."""

    interval: float
    cap: float
    failures: int = 0
    not_before: float = float("-inf")

    @classmethod
    def for_job(cls, job: Job) -> Backoff:
        return cls(interval=job.seconds, cap=max(job.seconds, min(BACKOFF_CAP, 8 * job.seconds)))

    def ready(self, now: float) -> bool:
        return now >= self.not_before

    def failed(self, now: float) -> float:
        """Record a failure at `now`; the delay before the next attempt."""
        self.failures += 1
        delay = min(self.cap, self.interval * 2.0 ** min(self.failures - 1, 32))
        self.not_before = now + delay
        return delay

    def succeeded(self) -> int:
        """Record a success; how many runs had failed in a row before it."""
        failures, self.failures, self.not_before = self.failures, 0, float("-inf")
        return failures


def run_job(
    job: Job, backoff: Backoff | None = None, clock: Callable[[], float] = time.monotonic
) -> None:
    """Run one job and log its report. A failure is logged once per streak (with the
    traceback unless the job describes it) and, with `backoff`, delays the next runs."""
    started = clock()
    if backoff is not None and not backoff.ready(started):
        return
    try:
        result = job.func()
    except Exception as exc:
        elapsed = clock() - started
        if backoff is None:
            log.exception("worker: job %s failed after %.2fs", job.name, elapsed)
            return
        delay = backoff.failed(clock())
        described = job.describe_failure(exc) if job.describe_failure else None
        if backoff.failures > 1:
            log.debug("worker: job %s failed again (%d in a row)", job.name, backoff.failures)
        elif described:
            log.error(
                "worker: job %s failed: %s; backing off (next attempt in %gs)",
                job.name,
                described,
                delay,
            )
        else:
            log.exception(
                "worker: job %s failed after %.2fs; backing off (next attempt in %gs)",
                job.name,
                elapsed,
                delay,
            )
        return
    elapsed = clock() - started
    failed_before = backoff.succeeded() if backoff is not None else 0
    if failed_before:
        log.info("worker: job %s resumed after %d failed runs", job.name, failed_before)
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
            args=(job, Backoff.for_job(job)),
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
    wakeup: _SignalWakeup | None = None
    if handle_signals and threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:
            previous[signum] = signal.signal(signum, on_signal)
        wakeup = _SignalWakeup(scheduler.wakeup)

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
        if wakeup is not None:
            wakeup.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
    log.info("worker: stopped cleanly")
    return 0


class _SignalWakeup:
    """Call `wake` whenever a signal arrives, whichever thread the kernel gave it to.

    Install from the main thread. CPython's C-level handler writes each signal's
    number to the wakeup fd; a daemon thread reads it and calls `wake`, which makes
    the sleeping main thread run bytecode again, and so the Python handler.
    """

    def __init__(self, wake: Callable[[], object]) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        self._closing = False
        self._previous = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        self._wake = wake
        self._thread = threading.Thread(
            target=self._pump, name="tandem-worker-signals", daemon=True
        )
        self._thread.start()

    def _pump(self) -> None:
        while True:
            try:
                data = os.read(self._read, 64)
            except OSError:
                return
            if not data or self._closing:
                return
            try:
                self._wake()
            except Exception:  # e.g. before the scheduler started: the main thread is awake
                log.debug("worker: signal wake-up failed", exc_info=True)

    def close(self) -> None:
        signal.set_wakeup_fd(self._previous)
        self._closing = True
        with contextlib.suppress(OSError):
            os.write(self._write, b"\0")
        self._thread.join(timeout=5)
        os.close(self._read)
        os.close(self._write)
