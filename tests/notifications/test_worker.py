"""The worker: scheduler settings, jobs running, and a clean stop on SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.triggers.interval import IntervalTrigger

from notifications.worker import Backoff, Job, build_scheduler, run_job, run_worker
from tests.live import read_until

ROOT = Path(__file__).resolve().parents[2]


def noop() -> None:
    pass


def test_scheduler_settings_avoid_the_known_traps() -> None:
    first = datetime(2026, 3, 10, 19, 0, tzinfo=UTC)
    scheduler = build_scheduler(
        [Job("dispatch", noop, 10), Job("plan", noop, 300)], first_run=first
    )

    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"dispatch", "plan"}
    for job in jobs.values():
        assert job.coalesce is True
        assert job.max_instances == 1
        # Not APScheduler's default of 1 s: a late pass still runs (once).
        assert job.misfire_grace_time is None
        assert isinstance(job.trigger, IntervalTrigger)
        assert job.next_run_time == first
    assert jobs["dispatch"].trigger.interval == timedelta(seconds=10)
    assert jobs["plan"].trigger.interval == timedelta(seconds=300)
    assert str(scheduler.timezone) == "UTC"
    assert scheduler._job_defaults["misfire_grace_time"] is None
    # Only an in-memory store: never a job store shared between processes.
    assert isinstance(scheduler._jobstores["default"], MemoryJobStore)
    assert set(scheduler._jobstores) == {"default"}
    assert isinstance(scheduler._executors["default"], ThreadPoolExecutor)


def test_job_names_must_be_unique_and_intervals_positive() -> None:
    with pytest.raises(ValueError, match="unique"):
        build_scheduler([Job("a", noop, 1), Job("a", noop, 2)])
    with pytest.raises(ValueError, match="positive"):
        build_scheduler([Job("a", noop, 0)])


def test_jobs_run_and_their_reports_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="notifications.worker")
    stop = threading.Event()
    ran = threading.Event()
    failed = threading.Event()

    def report() -> str:
        ran.set()
        return "claimed=3 sent=3"

    def broken() -> None:
        failed.set()
        raise RuntimeError("database is down")

    worker = threading.Thread(
        target=run_worker,
        args=([Job("dispatch", report, 60), Job("plan", broken, 60)],),
        kwargs={"stop_event": stop},
    )
    worker.start()
    try:
        assert ran.wait(10) and failed.wait(10)
    finally:
        stop.set()
        worker.join(10)
    assert not worker.is_alive()

    messages = [r.getMessage() for r in caplog.records if r.name == "notifications.worker"]
    assert any(m.startswith("worker: job dispatch done in") and "sent=3" in m for m in messages)
    assert any(m.startswith("worker: job plan failed") for m in messages)
    assert "worker: stopped cleanly" in messages


def test_stopping_waits_for_a_running_job() -> None:
    stop = threading.Event()
    started, release, finished = threading.Event(), threading.Event(), threading.Event()
    result: list[int] = []

    def slow() -> None:
        started.set()
        release.wait(10)
        finished.set()

    def work() -> None:
        result.append(run_worker([Job("slow", slow, 60)], stop_event=stop))

    worker = threading.Thread(target=work)
    worker.start()
    assert started.wait(10)
    stop.set()
    worker.join(0.2)
    assert worker.is_alive()  # still waiting for the job in progress
    release.set()
    worker.join(10)

    assert finished.is_set()
    assert result == [0]


def start_child(script: str, *args: str, stdout: int | None = None) -> subprocess.Popen[str]:
    """Run `script` in a new Python process with the project importable; stderr piped."""
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )


CHILD = textwrap.dedent(
    """
    import logging, sys
    from pathlib import Path

    from notifications.worker import Job, run_worker

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")
    ticks = Path(sys.argv[1])

    def tick():
        with ticks.open("a") as f:
            f.write("tick\\n")
        return "ok"

    sys.exit(run_worker([Job("tick", tick, 0.05)]))
    """
)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_worker_process_stops_cleanly_on_a_signal(tmp_path: Path, signum: int) -> None:
    ticks = tmp_path / "ticks"
    child = start_child(CHILD, str(ticks), stdout=subprocess.PIPE)
    try:
        # Wait (bounded) until the job has run a few times: handlers are installed.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and child.poll() is None:
            if ticks.exists() and ticks.read_text().count("tick") >= 3:
                break
            time.sleep(0.02)
        assert child.poll() is None, child.communicate()[1]
        child.send_signal(signum)
        _, err = child.communicate(timeout=15)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()

    assert child.returncode == 0, err
    name = signal.Signals(signum).name
    assert f"worker: received {name}, shutting down" in err
    assert "worker: stopped cleanly" in err
    assert "Traceback" not in err
    assert "notifications.worker worker: job tick done in" in err


HANGING_CHILD = textwrap.dedent(
    """
    import logging, sys, threading

    from notifications.worker import Job, run_worker

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")

    def stuck():
        print("job started", file=sys.stderr, flush=True)
        threading.Event().wait()

    sys.exit(run_worker([Job("stuck", stuck, 60)]))
    """
)


def test_a_second_signal_kills_a_worker_stuck_in_a_job() -> None:
    child = start_child(HANGING_CHILD)
    try:
        read_until(child, "job started")
        child.send_signal(signal.SIGTERM)
        read_until(child, "received SIGTERM, shutting down")
        assert child.poll() is None  # waiting for the job in progress
        child.send_signal(signal.SIGTERM)
        child.communicate(timeout=15)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == -signal.SIGTERM


SIGNAL_IN_A_JOB_THREAD = textwrap.dedent(
    """
    import logging, signal, sys, threading, time

    from notifications.worker import Job, run_worker

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")

    def job():
        time.sleep(0.5)  # the main thread is asleep until the next run by now
        # The kernel may give a process-wide SIGTERM to any thread: here, this one.
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

    sys.exit(run_worker([Job("job", job, 3600)]))
    """
)


def test_a_signal_delivered_to_a_job_thread_stops_the_worker_at_once() -> None:
    """The main thread sleeps until the next job is due (an hour here); a signal that
    lands in another thread must still wake it (once 1 stop in ~70 hung in CI)."""
    child = start_child(SIGNAL_IN_A_JOB_THREAD)
    try:
        _, err = child.communicate(timeout=15)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err
    assert "worker: received SIGTERM, shutting down" in err
    assert "worker: stopped cleanly" in err


def test_backoff_doubles_from_the_interval_up_to_its_cap() -> None:
    backoff = Backoff.for_job(Job("dispatch", noop, 30))
    assert backoff.ready(0)
    delays = [backoff.failed(now) for now in (0, 30, 90, 210, 450, 690)]
    assert delays == [30, 60, 120, 240, 240, 240]  # at most 8 intervals, here 4 minutes
    assert not backoff.ready(689) and not backoff.ready(929)
    assert backoff.ready(930)
    assert backoff.succeeded() == 6
    assert backoff.ready(0) and backoff.failures == 0
    # a job slower than the cap still waits at least its interval, never more than 5 min
    assert Backoff.for_job(Job("plan", noop, 900)).cap == 900
    assert Backoff.for_job(Job("inactivity", noop, 120)).cap == 300


def test_a_failing_job_logs_once_backs_off_and_says_when_it_resumes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="notifications.worker")
    now = [0.0]
    runs: list[float] = []
    outage = [True]

    def dispatch() -> str:
        runs.append(now[0])
        if outage[0]:
            raise ConnectionError("the database went away")
        return "claimed=1"

    job = Job(
        "dispatch",
        dispatch,
        10,
        describe_failure=lambda exc: (
            f"database unavailable ({exc})" if isinstance(exc, ConnectionError) else None
        ),
    )
    backoff = Backoff.for_job(job)
    # the scheduler calls every 10 s; the back-off decides which calls run
    for tick in range(0, 200, 10):
        now[0] = float(tick)
        if tick == 150:
            outage[0] = False
        run_job(job, backoff, clock=lambda: now[0])
    assert runs == [0, 10, 30, 70, 150, 160, 170, 180, 190]
    records = [r for r in caplog.records if r.name == "notifications.worker"]
    failures = [r for r in records if "failed" in r.getMessage() and r.levelno >= logging.ERROR]
    assert len(failures) == 1  # once per streak
    assert failures[0].getMessage() == (
        "worker: job dispatch failed: database unavailable (the database went away); "
        "backing off (next attempt in 10s)"
    )
    assert failures[0].exc_info is None  # an expected failure: one line, no traceback
    assert sum("failed again" in r.getMessage() for r in records) == 3  # only at DEBUG
    assert [r.getMessage() for r in records if "resumed" in r.getMessage()] == [
        "worker: job dispatch resumed after 4 failed runs"
    ]


def test_an_unexpected_failure_keeps_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="notifications.worker")

    def broken() -> None:
        raise KeyError("a bug")

    job = Job("plan", broken, 60, describe_failure=lambda exc: None)
    run_job(job, Backoff.for_job(job), clock=lambda: 0.0)
    (record,) = [r for r in caplog.records if r.name == "notifications.worker"]
    assert record.exc_info is not None and "backing off" in record.getMessage()
