"""Reminders benchmark (issue 5 item 8): the outbox dispatcher through the real
firebase-admin SDK to a loopback fake FCM, beside the naive way (one APScheduler job
per reminder in its SQLAlchemy job store), and planning for many partners.

    .venv/bin/python bench/reminders_bench.py \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/tandem_reminders_bench \
        [--reminders 100000] [--partners 100000] [--naive 10000] [--reset]

The database is created if missing (an existing one with tables is refused unless
--reset, which drops and re-creates it), migrated with `tandem db upgrade` and seeded
with the catalog (`tandem seed`). Everything listens on 127.0.0.1; every child process
runs in its own process group and is killed when the bench ends, however it ends.
See bench/REMINDERS.md for what is measured and the figures.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BENCH = Path(__file__).resolve().parent

CHILDREN: list[subprocess.Popen[str]] = []


# --------------------------------------------------------------------------- processes


def _kill_children() -> None:
    for child in CHILDREN:
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def _on_signal(signum: int, _frame: Any) -> None:
    _kill_children()
    sys.exit(128 + signum)


def spawn(args: list[str], env: dict[str, str], *, stdin: bool = True) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        args,
        env=env,
        cwd=ROOT,
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=None,  # inherited: warnings and tracebacks show up in the bench's output
        text=True,
        start_new_session=True,  # its own process group, killed as one
    )
    CHILDREN.append(child)
    return child


def stop(child: subprocess.Popen[str], timeout: float = 10) -> None:
    if child.poll() is None:
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def read_line(child: subprocess.Popen[str], what: str) -> str:
    assert child.stdout is not None
    line = child.stdout.readline()
    if not line:
        raise RuntimeError(f"{what} ended without answering (exit {child.poll()})")
    return line.strip()


class Fake:
    """The fake FCM server in its own process (bench/reminders_fake_fcm.py)."""

    def __init__(self, env: dict[str, str], max_seconds: float) -> None:
        self.process = spawn(
            [
                sys.executable,
                str(BENCH / "reminders_fake_fcm.py"),
                "--max-seconds",
                str(max_seconds),
            ],
            env,
        )
        line = read_line(self.process, "the fake FCM")
        assert line.startswith("url "), line
        self.url, self.ca_file = line[4:].split(" ", 1)

    def client_env(self, env: dict[str, str]) -> dict[str, str]:
        """`env` plus what makes a client process trust the fake's HTTPS certificate."""
        return {**env, "SSL_CERT_FILE": self.ca_file, "REQUESTS_CA_BUNDLE": self.ca_file}

    def ask(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return json.loads(read_line(self.process, "the fake FCM"))  # type: ignore[no-any-return]

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
        stop(self.process)


# --------------------------------------------------------------------------- CPU


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


HZ = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- database


def prepare_database(url: str, reset: bool, env: dict[str, str]) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = parsed.database
    assert name, "the database URL needs a database name"
    admin = dict(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        dbname="postgres",
        autocommit=True,
    )
    with psycopg.connect(**admin) as conn:  # type: ignore[arg-type]
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            with psycopg.connect(**{**admin, "dbname": name}) as db_conn:  # type: ignore[arg-type]
                tables = db_conn.execute(
                    "SELECT count(*) FROM information_schema.tables WHERE table_schema='public'"
                ).fetchone()[0]
            if tables and not reset:
                sys.exit(
                    f"database {name} already has tables; use --reset to drop and re-create it"
                )
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    tandem = str(Path(sys.executable).with_name("tandem"))
    for command in (["db", "upgrade"], ["seed"]):
        subprocess.run([tandem, *command], env=env, cwd=ROOT, check=True, capture_output=True)


def drop_database(url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    with psycopg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')


def bulk_insert(table: Any, rows: list[dict[str, Any]], chunk: int = 10_000) -> None:
    from sqlalchemy import insert

    from server.extensions import db

    for start in range(0, len(rows), chunk):
        db.session.execute(insert(table), rows[start : start + chunk])


def create_dispatch_users(count: int) -> list[str]:
    """`count` partners (no couple, so the planner leaves them alone), each with one
    Android device and settings without quiet hours."""
    from server.db import new_id
    from server.extensions import db
    from server.models import Device, ReminderPreferences, User

    now = datetime.now(UTC)
    users, prefs, devices = [], [], []
    for n in range(count):
        user_id = new_id()
        users.append(
            dict(
                id=user_id,
                email=f"push{n}@example.test",
                password_hash="x",  # noqa: S106 - not a password
                name=f"P{n}",
                role="client",
                timezone="UTC",
                created_at=now,
                updated_at=now,
            )
        )
        prefs.append(
            dict(
                user_id=user_id,
                times=["20:00"],
                days=list(range(7)),
                quiet_start=None,
                quiet_end=None,
                paused=False,
                discreet=True,
                updated_at=now,
            )
        )
        devices.append(
            dict(
                id=new_id(),
                user_id=user_id,
                token=f"bench-token-{n:06d}-{user_id}",
                platform="android" if n % 2 else "ios",
                created_at=now,
                last_seen_at=now,
            )
        )
    bulk_insert(User, users)
    bulk_insert(ReminderPreferences, prefs)
    bulk_insert(Device, devices)
    db.session.commit()
    vacuum("users", "reminder_settings", "devices")
    return [u["id"] for u in users]


def fill_outbox(user_ids: list[str]) -> None:
    """A fresh outbox: one reminder per partner, due a minute ago."""
    from sqlalchemy import delete

    from server.db import new_id
    from server.extensions import db
    from server.models import Reminder

    now = datetime.now(UTC)
    due = now - timedelta(minutes=1)
    db.session.execute(delete(Reminder))
    rows = [
        dict(
            id=new_id(),
            user_id=user_id,
            key=f"{user_id}:bench",
            kind="reminder",
            send_at=due,
            next_attempt_at=due,
            local_date=due.date().isoformat(),
            local_time="20:00",
            status="pending",
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        for user_id in user_ids
    ]
    bulk_insert(Reminder, rows)
    db.session.commit()
    vacuum("reminders")


def vacuum(*tables: str) -> None:
    """VACUUM ANALYZE, so that no autovacuum of the bulk inserts (or of the previous
    run's dead rows) runs during a measurement."""
    from sqlalchemy import text

    from server.extensions import db

    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in tables:
            connection.execute(text(f"VACUUM ANALYZE {table}"))


def status_counts() -> dict[str, int]:
    from sqlalchemy import func, select

    from server.extensions import db
    from server.models import Reminder

    return {
        s: n
        for s, n in db.session.execute(
            select(Reminder.status, func.count()).group_by(Reminder.status)
        ).all()
    }


# --------------------------------------------------------------------------- dispatch


@dataclass
class Run:
    name: str
    messages: int
    seconds: float
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


def dispatch_run(
    name: str,
    workers: int,
    user_ids: list[str],
    fake: Fake,
    env: dict[str, str],
    knobs: list[str],
    max_seconds: float,
    py_spy: str | None = None,
    profile_path: Path | None = None,
    script: str = "reminders_worker.py",
) -> Run:
    fill_outbox(user_ids)
    fake.ask("reset")
    env = fake.client_env(env)
    loadavg = Path("/proc/loadavg").read_text().split()[:3]
    args = [
        sys.executable,
        str(BENCH / script),
        fake.url,
        "--max-seconds",
        str(max_seconds),
        *knobs,
    ]
    processes = []
    for i in range(workers):
        command = args
        if py_spy and i == 0 and profile_path is not None:
            command = [
                py_spy,
                "record",
                "--rate",
                "250",
                "--format",
                "raw",
                "--gil",
                "--output",
                str(profile_path),
                "--",
                *args,
            ]
        processes.append(spawn(command, env))
    for p in processes:
        while (line := read_line(p, "a dispatcher")) != "ready":
            print(f"  ({line})", flush=True)  # py-spy's own lines
    fake_cpu = fake.ask("cpu")["cpu"]
    busy0, total0 = machine_ticks()
    started = time.time()
    for p in processes:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    results = []
    for p in processes:
        out = p.communicate(timeout=max_seconds + 120)[0]
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if p.returncode != 0 or not lines:
            raise RuntimeError(f"dispatcher failed (exit {p.returncode}): {out[-2000:]}")
        results.append(json.loads(lines[-1]))
    busy1, total1 = machine_ticks()
    fake_cpu = fake.ask("cpu")["cpu"] - fake_cpu
    counted = fake.ask("count")
    statuses = status_counts()
    finished = max(r["finished"] for r in results)
    seconds = finished - started
    expected = len(user_ids)
    ok = (
        counted["accepted"] == expected
        and counted["distinct"] == expected
        and counted["max_per_id"] == 1
        and statuses == {"sent": expected}
    )
    detail = {
        "workers": workers,
        "script": script,
        "loadavg_before": loadavg,
        "knobs": " ".join(knobs) or "defaults",
        "fake": counted,
        "statuses": statuses,
        "exactly_once": ok,
        "per_worker_sent": [r["report"]["sent"] for r in results],
        "phases": [{k: round(v, 1) for k, v in r["phases"].items()} for r in results],
        "cpu_workers": [round(r["cpu"], 1) for r in results],
        "cpu_fake": round(fake_cpu, 1),
        # PostgreSQL (its backends come and go with connections), the kernel, the rest
        "cpu_other": round((busy1 - busy0) / HZ - fake_cpu - sum(r["cpu"] for r in results), 1),
        "machine_busy": round((busy1 - busy0) / max(total1 - total0, 1), 3),
        "timed_out": any(r["timed_out"] for r in results),
    }
    return Run(name, counted["accepted"], seconds, detail)


# --------------------------------------------------------------------------- naive


def naive_run(
    name: str,
    count: int,
    processes: int,
    misfire: str,
    fake: Fake,
    env: dict[str, str],
    url: str,
    max_seconds: float,
) -> Run:
    from sqlalchemy import create_engine, text

    fake.ask("reset")
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    table = f"bench_aps_{random.randrange(1 << 30):x}"
    engine = create_engine(url)
    # created here: two schedulers starting at once both try to CREATE it and one fails
    SQLAlchemyJobStore(engine=engine, tablename=table).jobs_t.create(engine, checkfirst=True)
    # time to add the jobs (measured: ~1-1.5 ms a job) plus start-up
    lead = 8.0 + count * 0.003
    run_at = time.time() + lead
    children = []
    for i in range(processes):
        children.append(
            spawn(
                [
                    sys.executable,
                    str(BENCH / "reminders_naive.py"),
                    fake.url,
                    "--jobstore-url",
                    url,
                    "--table",
                    table,
                    "--run-at",
                    f"{run_at:.3f}",
                    "--add",
                    str(count if i == 0 else 0),
                    "--misfire-grace",
                    misfire,
                    "--max-seconds",
                    str(lead + max_seconds),
                ],
                env,
                stdin=False,
            )
        )
    fake_cpu = fake.ask("cpu")["cpu"]
    results = []
    for child in children:
        out = child.communicate(timeout=lead + max_seconds + 120)[0]
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if child.returncode != 0 or not lines:
            raise RuntimeError(f"naive scheduler failed (exit {child.returncode}): {out[-2000:]}")
        results.append(json.loads(lines[-1]))
    fake_cpu = fake.ask("cpu")["cpu"] - fake_cpu
    counted = fake.ask("count")
    with engine.begin() as connection:
        connection.execute(text(f'DROP TABLE IF EXISTS "{table}"'))
    engine.dispose()
    last = max(r["last_done"] for r in results)
    seconds = max(last - run_at, 1e-9)
    detail = {
        "processes": processes,
        "misfire_grace_time": misfire,
        "jobs": count,
        "add_seconds": round(results[0]["add_seconds"], 1),
        "late_at_start": round(results[0]["late_at_start"], 2),
        "executed": sum(r["executed"] for r in results),
        "missed": sum(r["missed"] for r in results),
        "failed": sum(r["failed"] for r in results),
        "left_in_store": results[0]["left_in_store"],
        "fake": counted,
        "duplicates": counted["accepted"] - counted["distinct"],
        "scheduler_warnings": sum(r["scheduler_warnings"] for r in results),
        "scheduler_threads_died": [d for r in results for d in r["threads_died"]],
        "warning_samples": [s for r in results for s in r["warning_samples"]][:3],
        "cpu_schedulers": [round(r["cpu"], 1) for r in results],
        "cpu_fake": round(fake_cpu, 1),
        "timed_out": any(r["timed_out"] for r in results),
    }
    return Run(name, counted["accepted"], seconds, detail)


# --------------------------------------------------------------------------- planning


ZONES = [
    "America/New_York",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Helsinki",
    "Africa/Johannesburg",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Pacific/Auckland",
    "Pacific/Apia",
    "UTC",
]


def create_partners(partners: int, now: datetime, rng: random.Random) -> dict[str, int]:
    """`partners` client users in couples of two under 500 therapists, each couple with
    a catalog program frozen as `assign_program` freezes it (run for real for one couple
    per program, its rows copied), reminder settings for half of them, check-ins."""
    from sqlalchemy import select

    from exercises.model import Program
    from server.db import new_id
    from server.extensions import db
    from server.models import (
        CATALOG_SCOPE,
        Assignment,
        CheckIn,
        Couple,
        ProgramVersion,
        ReminderPreferences,
        User,
    )
    from server.services.assignments import assign_program

    couples_n = partners // 2
    therapists = [
        dict(
            id=new_id(),
            email=f"therapist{n}@example.test",
            password_hash="x",  # noqa: S106 - not a password
            name=f"T{n}",
            role="therapist",
            timezone="UTC",
            created_at=now,
            updated_at=now,
        )
        for n in range(max(1, couples_n // 100))
    ]
    bulk_insert(User, therapists)
    slugs = list(
        db.session.scalars(select(ProgramVersion.slug).where(ProgramVersion.scope == CATALOG_SCOPE))
    )
    # The real thing for one couple per program: the frozen rows to copy.
    templates = []
    therapist = db.session.get(User, therapists[0]["id"])
    for slug in sorted(set(slugs)):
        couple = Couple(therapist_id=therapist.id, label=f"template {slug}")
        db.session.add(couple)
        db.session.flush()
        a = assign_program(
            therapist=therapist, couple_id=couple.id, program_slug=slug, start_date=None
        )
        templates.append(
            dict(
                program_version_id=a.program_version_id,
                program=a.program,
                exercises=a.exercises,
                stages=Program.from_dict(a.program).stages,
            )
        )
    db.session.commit()

    couples, users, assignments, prefs, checkins = [], [], [], [], []
    for c in range(couples_n):
        couple_id = new_id()
        couples.append(
            dict(
                id=couple_id,
                therapist_id=therapists[c % len(therapists)]["id"],
                label=f"Couple {c}",
                created_at=now,
            )
        )
        template = templates[c % len(templates)]
        stage = rng.randrange(len(template["stages"])) + 1
        assignment_id = new_id()
        status = "paused" if rng.random() < 0.03 else "active"
        assignments.append(
            dict(
                id=assignment_id,
                couple_id=couple_id,
                program_version_id=template["program_version_id"],
                program=template["program"],
                exercises=template["exercises"],
                stage_index=stage,
                stage_started_at=now - timedelta(days=rng.randrange(7, 60)),
                status=status,
                on_hold=rng.random() < 0.02,
                start_date=(now - timedelta(days=rng.randrange(14, 200))).date(),
                overrides={},
                created_by_id=couples[-1]["therapist_id"],
                created_at=now - timedelta(days=200),
                updated_at=now,
            )
        )
        zone = rng.choice(ZONES)
        items = template["stages"][stage - 1].items
        for slot in range(2):
            user_id = new_id()
            users.append(
                dict(
                    id=user_id,
                    email=f"partner{c}-{slot}@example.test",
                    password_hash="x",  # noqa: S106 - not a password
                    name=f"P{c}-{slot}",
                    role="client",
                    timezone=zone if rng.random() < 0.85 else rng.choice(ZONES),
                    couple_id=couple_id,
                    created_at=now,
                    updated_at=now,
                )
            )
            if rng.random() < 0.5:
                quiet = rng.random() < 0.3
                prefs.append(
                    dict(
                        user_id=user_id,
                        times=sorted(
                            rng.sample(
                                ["08:00", "12:30", "19:00", "20:00", "21:30"], rng.randint(1, 3)
                            )
                        ),
                        days=sorted(rng.sample(range(7), rng.randint(3, 7))),
                        quiet_start="22:00" if quiet else None,
                        quiet_end="07:00" if quiet else None,
                        paused=rng.random() < 0.05,
                        discreet=True,
                        updated_at=now,
                    )
                )
            for _ in range(rng.choice((0, 0, 1, 2, 3))):
                item = rng.choice(items)
                occurred = now - timedelta(minutes=rng.randrange(1, 8 * 24 * 60))
                checkins.append(
                    dict(
                        id=new_id(),
                        assignment_id=assignment_id,
                        couple_id=couple_id,
                        author_id=user_id,
                        exercise=item.exercise,
                        stage_index=stage,
                        occurred_at=occurred,
                        recorded_at=occurred,
                        answers={},
                        text_encrypted=None,
                        visibility="therapist",
                        flags=[],
                        body_hash="0" * 64,
                    )
                )
    bulk_insert(Couple, couples)
    bulk_insert(User, users)
    bulk_insert(Assignment, assignments, chunk=2000)
    bulk_insert(ReminderPreferences, prefs)
    bulk_insert(CheckIn, checkins)
    db.session.commit()
    vacuum("users", "couples", "assignments", "checkins", "reminder_settings", "reminders")
    return {
        "partners": len(users),
        "couples": len(couples),
        "check-ins": len(checkins),
        "settings rows": len(prefs),
    }


def planning_run(now: datetime) -> dict[str, Any]:
    from sqlalchemy import func, select

    from server.extensions import db
    from server.models import Reminder
    from server.services.reminders import plan_all

    busy0, _ = machine_ticks()
    started = time.perf_counter()
    cpu0 = time.process_time()
    planned = plan_all(now=now)
    db.session.commit()
    first = time.perf_counter() - started
    cpu_first = time.process_time() - cpu0
    pg_first = (machine_ticks()[0] - busy0) / HZ - cpu_first
    rows = db.session.scalar(
        select(func.count()).select_from(Reminder).where(Reminder.kind == "reminder")
    )
    started = time.perf_counter()
    again = plan_all(now=now)
    db.session.commit()
    second = time.perf_counter() - started
    return {
        "planned": planned,
        "rows": rows,
        "seconds": first,
        "cpu_python": cpu_first,
        "cpu_postgres": pg_first,
        "again_planned": again,
        "again_seconds": second,
    }


def profile_planning(now: datetime, top: int = 12) -> list[tuple[str, float, float]]:
    """A third plan_all under cProfile (plans nothing new, does all the rest): the
    functions with the most cumulative time, (name, cumulative s, own s)."""
    import cProfile
    import pstats

    from server.extensions import db
    from server.services.reminders import plan_all

    profiler = cProfile.Profile()
    profiler.enable()
    plan_all(now=now)
    db.session.commit()
    profiler.disable()
    stats = pstats.Stats(profiler)
    rows = []
    for (filename, line, name), (_cc, _nc, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        short = filename.split("/site-packages/")[-1].replace(str(ROOT) + "/", "")
        rows.append((f"{short}:{line} {name}", cumtime, tottime))
    wanted = ("server/", "exercises/", "notifications/")
    ours = [r for r in rows if r[0].startswith(wanted)]
    return sorted(ours, key=lambda r: -r[1])[:top] + sorted(rows, key=lambda r: -r[2])[:top]


# --------------------------------------------------------------------------- py-spy


PACKAGES = [  # (label, substring of a py-spy frame "func (path:line)"), leaf first wins
    ("psycopg (driver, incl. waiting on PostgreSQL)", "(psycopg/"),
    ("SQLAlchemy", "(sqlalchemy/"),
    ("json", "(json/"),
    ("h2 / hpack (HTTP/2 framing)", "(h2/"),
    ("h2 / hpack (HTTP/2 framing)", "(hpack/"),
    ("httpcore", "(httpcore/"),
    ("httpx", "(httpx/"),
    ("anyio", "(anyio/"),
    ("ssl", "(ssl.py"),
    ("asyncio (event loop, tasks)", "(asyncio/"),
    ("http.client", "(http/client.py"),
    ("socket", "(socket.py"),
    ("urllib3", "(urllib3/"),
    ("requests", "(requests/"),
    ("google.auth", "(auth/"),
    ("firebase_admin", "(firebase_admin/"),
    ("concurrent.futures (SDK thread pool)", "(concurrent/futures/"),
    ("threading (thread start/stop)", "(threading.py"),
    ("tandem: notifications/", "(notifications/"),
    ("tandem: server/", "(server/"),
    ("logging", "(logging/"),
]
INCLUSIVE = [  # (label, frame substring): share of samples with this frame anywhere
    ("SqlOutbox.claim (claim + read settings/devices)", "SqlOutbox.claim "),
    ("SqlOutbox.record (one UPDATE per outcome kind)", "SqlOutbox.record "),
    ("FCMSender.build (Message objects)", "FCMSender.build "),
    ("FCMSender.send", "FCMSender.send "),
    ("send_each_async (SDK, all of it)", "send_each_async "),
    ("SDK _message_data (encode Message to JSON dict)", "_message_data "),
    ("SDK HttpxAsyncClient.request", "HttpxAsyncClient.request "),
    ("google-auth credential flow (auth_flow)", "auth_flow "),
    ("SDK retry transport", "_dispatch_with_retry "),
    (
        "httpcore HTTP/2 connection (handle_async_request)",
        "AsyncHTTP2Connection.handle_async_request ",
    ),
    ("send_each worker threads (one HTTP request per message)", "send_each.<locals>.send_data"),
    ("requests Session.request", "Session.request "),
]


def summarize_profile(path: Path, top: int = 12) -> list[tuple[str, float]]:
    """Shares of a py-spy raw profile (taken with --gil: samples of the thread holding
    the GIL, i.e. where this GIL-bound process spends its Python time): self time per
    package (leaf-most known frame), then inclusive time of a few functions."""
    if not path.exists():
        return []
    selfs: dict[str, float] = defaultdict(float)
    inclusive: dict[str, float] = defaultdict(float)
    leaves: dict[str, float] = defaultdict(float)
    samples = 0.0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        try:
            n = float(count)
        except ValueError:
            continue
        samples += n
        frames = stack.split(";")
        label = "other"
        for frame in reversed(frames):
            found = next((lab for lab, marker in PACKAGES if marker in frame), None)
            if found:
                label = found
                break
        selfs[label] += n
        for lab, marker in INCLUSIVE:
            if any(marker in frame for frame in frames):
                inclusive[lab] += n
        leaves[frames[-1].strip()] += n
    if not samples:
        return []
    out = [("--- self time by package (leaf-most known frame) ---", 0.0)]
    out += sorted(((k, v / samples) for k, v in selfs.items()), key=lambda kv: -kv[1])
    out.append(("--- inclusive ---", 0.0))
    out += sorted(((k, v / samples) for k, v in inclusive.items()), key=lambda kv: -kv[1])
    out.append(("--- top leaf frames ---", 0.0))
    out += sorted(((k, v / samples) for k, v in leaves.items()), key=lambda kv: -kv[1])[:top]
    return out


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        required=True,
        help="postgresql+psycopg://postgres@127.0.0.1:5432/NAME (created)",
    )
    parser.add_argument("--reminders", type=int, default=100_000)
    parser.add_argument("--partners", type=int, default=100_000)
    parser.add_argument(
        "--naive",
        type=int,
        default=0,
        help="jobs for the naive way (issue 5's comparison; 10000 then; off by default)",
    )
    parser.add_argument(
        "--naive-shared",
        type=int,
        default=0,
        help="jobs for two schedulers sharing one job store (2000 then; off by default)",
    )
    parser.add_argument(
        "--single", action="store_true", help="also one dispatcher (default: two only)"
    )
    parser.add_argument(
        "--no-http2",
        action="store_true",
        help="skip the send_each_async (HTTP/2) comparison run",
    )
    parser.add_argument(
        "--knobs",
        action="store_true",
        help="also runs with SDK/dispatcher knobs turned (pool, call size, "
        "async sender, more processes)",
    )
    parser.add_argument(
        "--knob-reminders", type=int, default=20_000, help="outbox size for the --knobs runs"
    )
    parser.add_argument(
        "--py-spy",
        default=None,
        help="path of a py-spy binary: profile one worker of a 1-worker run",
    )
    parser.add_argument("--max-seconds", type=float, default=600.0, help="per run")
    parser.add_argument("--reset", action="store_true")
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    atexit.register(_kill_children)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    instance = Path(tempfile.mkdtemp(prefix="tandem-reminders-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    env.update(
        TANDEM_DATABASE_URL=args.database_url,
        TANDEM_INSTANCE_PATH=str(instance),
        TANDEM_RATELIMIT_ENABLED="0",
        PYTHONPATH=str(ROOT),
    )
    os.environ.update(env)
    t0 = time.perf_counter()
    prepare_database(args.database_url, args.reset, env)
    print(
        f"database ready (migrated, catalog seeded) in {time.perf_counter() - t0:.1f} s", flush=True
    )

    from server import create_app

    app = create_app()
    fake = Fake(env, max_seconds=4 * 3600)
    dispatch: list[Run] = []
    naive: list[Run] = []
    plan: dict[str, Any] = {}
    created: dict[str, int] = {}
    profile: list[tuple[str, float]] = []
    try:
        with app.app_context():
            t0 = time.perf_counter()
            user_ids = create_dispatch_users(args.reminders)
            print(
                f"{len(user_ids)} partners with a device each in {time.perf_counter() - t0:.1f} s",
                flush=True,
            )

            floor = "reminders_floor.py"
            configs: list[tuple[str, int, list[str], list[str], str]] = [
                ("FLOOR: 2 processes, psycopg + httpx HTTP/2", 2, [], user_ids, floor),
                ("outbox, 2 dispatchers", 2, [], user_ids, "reminders_worker.py"),
                ("FLOOR again", 2, [], user_ids, floor),
            ]
            if not args.no_http2:
                configs.append(
                    (
                        "outbox, 2 dispatchers, send_each_async (one HTTP/2 connection)",
                        2,
                        ["--sender", "http2"],
                        user_ids,
                        "reminders_worker.py",
                    )
                )
            if args.single:
                configs.append(("outbox, 1 dispatcher", 1, [], user_ids, "reminders_worker.py"))
            if args.knobs:
                # on a smaller outbox (--knob-reminders), so the whole run stays bounded
                few = user_ids[: args.knob_reminders]
                k = f" [{len(few)}]"
                worker = "reminders_worker.py"
                configs += [
                    ("outbox, 2 dispatchers" + k, 2, [], few, worker),
                    ("outbox, 4 dispatchers" + k, 4, [], few, worker),
                    (
                        "outbox, 2 dispatchers, 100 per call" + k,
                        2,
                        ["--max-per-call", "100"],
                        few,
                        worker,
                    ),
                    (
                        "outbox, 2 dispatchers, batches of 1000" + k,
                        2,
                        ["--batch-size", "1000"],
                        few,
                        worker,
                    ),
                ]
            for name, workers, knobs, ids, script in configs:
                run = dispatch_run(
                    name, workers, ids, fake, env, knobs, args.max_seconds, script=script
                )
                dispatch.append(run)
                print(
                    f"{name}: {run.messages} in {run.seconds:.1f} s = {run.rate:.0f}/s "
                    f"{json.dumps(run.detail)}",
                    flush=True,
                )
            if args.py_spy:
                path = instance / "worker-profile.txt"
                run = dispatch_run(
                    "outbox, 1 dispatcher under py-spy",
                    1,
                    user_ids[: args.knob_reminders],
                    fake,
                    env,
                    [],
                    args.max_seconds,
                    py_spy=args.py_spy,
                    profile_path=path,
                )
                print(f"{run.name}: {run.rate:.0f}/s", flush=True)
                time.sleep(1)
                profile = summarize_profile(path)
                for label, share in profile:
                    print(f"  {share:6.1%}  {label}" if share else f"  {label}", flush=True)

            from sqlalchemy import delete

            from server.extensions import db
            from server.models import Reminder

            db.session.execute(delete(Reminder))
            db.session.commit()

        for name, count, processes, misfire in (
            ("naive: APScheduler job per reminder, misfire_grace_time=None", args.naive, 1, "none"),
            ("naive: same, default misfire_grace_time (1 s)", args.naive, 1, "default"),
            ("naive: 2 schedulers sharing the job store", args.naive_shared, 2, "none"),
        ):
            if count <= 0:
                continue
            run = naive_run(
                name,
                count,
                processes,
                misfire,
                fake,
                fake.client_env(env),
                args.database_url,
                args.max_seconds,
            )
            naive.append(run)
            print(
                f"{name}: {run.messages} in {run.seconds:.1f} s = {run.rate:.0f}/s "
                f"{json.dumps(run.detail)}",
                flush=True,
            )

        if args.partners > 0:
            with app.app_context():
                rng = random.Random(5)
                now = datetime.now(UTC).replace(second=0, microsecond=0)
                t0 = time.perf_counter()
                created = create_partners(args.partners, now, rng)
                print(f"planning data {created} in {time.perf_counter() - t0:.1f} s", flush=True)
                plan = planning_run(now)
                print(f"planning: {plan}", flush=True)
                plan["profile"] = profile_planning(now)
    finally:
        fake.close()
        _kill_children()
        if not args.keep_database:
            drop_database(args.database_url)
            shutil.rmtree(instance, ignore_errors=True)

    print_table(dispatch, naive, plan, created, profile, args)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "dispatch": [
                        dict(
                            name=r.name,
                            messages=r.messages,
                            seconds=r.seconds,
                            rate=r.rate,
                            **r.detail,
                        )
                        for r in dispatch
                    ],
                    "naive": [
                        dict(
                            name=r.name,
                            messages=r.messages,
                            seconds=r.seconds,
                            rate=r.rate,
                            **r.detail,
                        )
                        for r in naive
                    ],
                    "planning": plan,
                    "planning_data": created,
                    "profile": profile,
                },
                indent=2,
                default=str,
            )
        )
    return 0


def print_table(
    dispatch: list[Run],
    naive: list[Run],
    plan: dict[str, Any],
    created: dict[str, int],
    profile: list[tuple[str, float]],
    args: Any,
) -> None:
    print()
    print(f"{'run':<58} {'messages':>9} {'seconds':>8} {'msg/s':>7}  check")
    print("-" * 100)
    for run in dispatch:
        d = run.detail
        check = (
            "exactly once" if d["exactly_once"] else f"NOT exactly once {d['fake']} {d['statuses']}"
        )
        print(f"{run.name:<58} {run.messages:>9} {run.seconds:>8.1f} {run.rate:>7.0f}  {check}")
        print(
            f"{'':<4}cpu s: workers {d['cpu_workers']} fake {d['cpu_fake']} postgres+other "
            f"{d['cpu_other']}; machine busy {d['machine_busy']:.0%}; main thread s "
            f"{d['phases']}"
        )
    for run in naive:
        d = run.detail
        check = (
            f"executed {d['executed']} missed {d['missed']} failed {d['failed']} "
            f"duplicates {d['duplicates']}"
        )
        print(f"{run.name:<58} {run.messages:>9} {run.seconds:>8.1f} {run.rate:>7.0f}  {check}")
        print(
            f"{'':<4}adding {d['jobs']} jobs took {d['add_seconds']} s; cpu s: schedulers "
            f"{d['cpu_schedulers']} fake {d['cpu_fake']}; scheduler warnings "
            f"{d['scheduler_warnings']}; scheduler threads died "
            f"{len(d['scheduler_threads_died'])} {d['scheduler_threads_died'][:1]}"
        )
    floors = [r.rate for r in dispatch if r.detail["script"] == "reminders_floor.py"]
    tandem = [
        r.rate
        for r in dispatch
        if r.detail["script"] == "reminders_worker.py"
        and r.detail["workers"] == 2
        and r.detail["knobs"] == "defaults"
    ]
    if floors and tandem:
        mean = sum(floors) / len(floors)
        print(
            f"\nTandem (2 dispatchers, defaults) {tandem[0]:.0f}/s between floors "
            f"{' and '.join(f'{f:.0f}' for f in floors)}/s: ratio {tandem[0] / mean:.2f} "
            "of the floors' mean"
        )
    if dispatch and naive:
        best_two = max(
            (
                r.rate
                for r in dispatch
                if r.detail["workers"] == 2 and r.detail["knobs"] == "defaults"
            ),
            default=0,
        )
        print(f"\n2 dispatchers (defaults) / naive (1 scheduler): {best_two / naive[0].rate:.1f}x")
    if plan:
        print(
            f"\nplanning {created}: plan_all {plan['seconds']:.1f} s "
            f"(python cpu {plan['cpu_python']:.1f} s, "
            f"postgres+other cpu {plan['cpu_postgres']:.1f} s), "
            f"{plan['planned']} reminders planned ({plan['rows']} rows); again: "
            f"{plan['again_seconds']:.1f} s, {plan['again_planned']} planned"
        )
    if plan.get("profile"):
        print("\nplan_all under cProfile (a third pass): cumulative s / own s")
        for name, cumulative, own in plan["profile"]:
            print(f"  {cumulative:7.2f} {own:7.2f}  {name}")
    if profile:
        print("\npy-spy --gil, one dispatcher: share of samples holding the GIL")
        for label, share in profile:
            print(f"  {share:6.1%}  {label}" if share else f"  {label}")


if __name__ == "__main__":
    sys.exit(main())
