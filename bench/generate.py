"""Generate a realistic Tandem data set on PostgreSQL, fast.

    .venv/bin/python -m bench.generate                 # 200 therapists, 4,000 couples, 52 weeks
    .venv/bin/python -m bench.generate --small         # 10 therapists, 100 couples, 12 weeks
    .venv/bin/python -m bench.generate --reset --couples 1000 --weeks 26

What it writes, into the real tables (it applies the migrations first, exactly what
`tandem db upgrade` does, and seeds the shipped catalog like `tandem seed`):

- therapists, each with a share of the couples (20 on average, from a handful to ~40);
- couples whose two partners joined through their invites, time zones from a dozen
  IANA zones across the world (most couples share one, some do not);
- one assignment per couple: a catalog program frozen into it as `assign_program`
  does, started `--weeks` weeks ago, advanced stage by stage (each stage held its
  `min_weeks` plus a few weeks), some with per-exercise overrides and a therapist's
  note, a few paused; the history of every change, and the audit events;
- check-ins from both partners for every week since the start, at roughly the weekly
  targets of that week's stage (each partner has their own adherence), in the evening
  of their own time zone; ~12% private and ~8% shared with the partner, a quarter with a
  reflection, free text (text answers and reflections) encrypted with the instance's
  data keys through `server.crypto.DataCipher`, exactly as `record_checkin` stores it;
- about 0.4% of check-ins flagged (pain, distress, pressured, stopped, unsafe) with
  the safety alert each raises; older alerts acknowledged, the last few days' left
  open with the couple's joint exercises on hold.

Rows go in with SQLAlchemy Core `insert()` and a list of parameter sets (executemany,
which psycopg 3 streams in pipeline mode), a hundred couples per transaction, from one
worker process per core (`--jobs`); each block of couples has its own random seed, so
the data set is the same whatever the number of processes.

Passwords: every account gets the same argon2id hash, computed once with the app's
own hasher (`server.auth.passwords()`, production parameters) for `common.PASSWORD`.
argon2 is slow on purpose (~0.1 s and 64 MiB per hash here): 8,200 hashes would take
about 15 minutes of CPU and measure nothing we care about, since the load test mints
its tokens without signing in. The hash is real and salted, so signing in with
`/api/v1/auth/token` works for every generated account (`<email>` / `PASSWORD`); the
only thing lost is that identical passwords share one salt, which matters nowhere but
in a real database.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import random
import secrets
import sys
import time as clock
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask_migrate import upgrade
from sqlalchemy import Connection, func, insert, select, text
from sqlalchemy.engine import make_url

from bench.common import (
    DEFAULT_INSTANCE,
    PASSWORD,
    SENTENCES,
    answers_for,
    bench_app,
    database_url,
    ensure_database,
)
from exercises.forms import flags_from_answers
from exercises.model import Exercise, Program
from exercises.program import targets
from server.auth import passwords
from server.crypto import DataCipher
from server.extensions import db
from server.models import (
    CATALOG_SCOPE,
    Alert,
    Assignment,
    AssignmentEvent,
    AuditEvent,
    CheckIn,
    Couple,
    Invite,
    ProgramVersion,
    User,
)
from server.services.catalog import latest_exercises, loaded_catalog, seed_catalog
from server.services.checkins import fingerprint_text

TIMEZONES = (
    "Europe/Berlin",
    "Europe/London",
    "Europe/Madrid",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Australia/Sydney",
    "Pacific/Auckland",
    "Africa/Johannesburg",
    "UTC",
)
NAMES = (
    "Alex", "Sam", "Robin", "Kim", "Jordan", "Maria", "Jonas", "Aiko", "Priya", "Lena",
    "Noah", "Chloé", "Mateo", "Ana", "Tom", "Yusuf", "Emma", "Luca", "Sofia", "Kai",
)  # fmt: skip
VISIBILITY = (("private", 0.12), ("couple", 0.08), ("therapist", 0.80))
FLAG_RATE = 0.004
OPEN_ALERT_DAYS = 3
CHUNK = 100  # couples per transaction


@dataclass
class Rows:
    """Rows of one transaction, per table, in foreign-key order."""

    couples: list[dict[str, Any]] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)
    invites: list[dict[str, Any]] = field(default_factory=list)
    assignments: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    checkins: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)

    def write(self, connection: Connection) -> None:
        for model, rows in (
            (Couple, self.couples),
            (User, self.users),
            (Invite, self.invites),
            (Assignment, self.assignments),
            (AssignmentEvent, self.events),
            (CheckIn, self.checkins),
            (Alert, self.alerts),
            (AuditEvent, self.audit),
        ):
            if rows:
                connection.execute(insert(model.__table__), rows)  # type: ignore[attr-defined]


class Generator:
    """Builds rows for therapists and couples; deterministic for a given seed."""

    def __init__(
        self,
        *,
        rng: random.Random,
        cipher: DataCipher,
        password_hash: str,
        programs: list[tuple[str, dict[str, Any]]],
        exercises: dict[str, Exercise],
        weeks: int,
        now: datetime,
    ) -> None:
        self.rng = rng
        self.cipher = cipher
        self.password_hash = password_hash
        self.programs = [(vid, data, Program.from_dict(data)) for vid, data in programs]
        self.exercises = exercises
        self.exercise_dicts = {slug: ex.to_dict() for slug, ex in exercises.items()}
        self.weeks = weeks
        self.now = now
        self.today = now.date()
        self.zones = {name: ZoneInfo(name) for name in TIMEZONES}
        self.counter = 0

    def _id(self) -> str:
        # Random UUID4s, as the app makes them (and as phones make check-in ids).
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def user(self, *, email: str, role: str, tz: str, couple_id: str | None, at: datetime) -> dict:
        return {
            "id": self._id(),
            "email": email,
            "password_hash": self.password_hash,
            "name": self.rng.choice(NAMES) if role == "client" else f"Dr. {self.rng.choice(NAMES)}",
            "role": role,
            "timezone": tz,
            "couple_id": couple_id,
            # Verified accounts, as every real one that can sign in is.
            "email_verified_at": at,
            "created_at": at,
            "updated_at": at,
        }

    def audit(
        self,
        rows: Rows,
        *,
        at: datetime,
        actor: str | None,
        action: str,
        kind: str,
        obj: str,
        couple_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        rows.audit.append(
            {
                "id": self._id(),
                "at": at,
                "actor_id": actor,
                "action": action,
                "object_type": kind,
                "object_id": obj,
                "couple_id": couple_id,
                "detail": detail,
            }
        )

    def therapists(self, count: int) -> Rows:
        rows = Rows()
        start = self.now - timedelta(weeks=self.weeks + 8)
        for n in range(count):
            at = start + timedelta(hours=self.rng.randint(0, 24 * 50))
            user = self.user(
                email=f"therapist{n}@bench.tandem.test",
                role="therapist",
                tz=self.rng.choice(TIMEZONES[:6]),
                couple_id=None,
                at=at,
            )
            rows.users.append(user)
            self.audit(
                rows, at=at, actor=user["id"], action="user.signed_up", kind="user", obj=user["id"]
            )
        return rows

    def couple(self, rows: Rows, number: int, therapist_id: str) -> int:
        """One couple with its partners, invites, assignment, history and check-ins;
        returns how many check-ins it wrote."""
        rng = self.rng
        start_date = self.today - timedelta(days=self.weeks * 7 - rng.randint(0, 6))
        created = datetime.combine(start_date, time(9), tzinfo=UTC) - timedelta(
            days=rng.randint(1, 14), minutes=rng.randint(0, 600)
        )
        couple_id = self._id()
        rows.couples.append(
            {
                "id": couple_id,
                "therapist_id": therapist_id,
                "label": f"{rng.choice(NAMES)[0]}. & {rng.choice(NAMES)[0]}. #{number}",
                "created_at": created,
            }
        )
        self.audit(
            rows,
            at=created,
            actor=therapist_id,
            action="couple.created",
            kind="couple",
            obj=couple_id,
            couple_id=couple_id,
        )
        zone = rng.choice(TIMEZONES)
        zones = (zone, zone if rng.random() < 0.85 else rng.choice(TIMEZONES))
        partners = []
        for slot, tz in enumerate(zones, start=1):
            joined = created + timedelta(hours=rng.randint(1, 72))
            user = self.user(
                email=f"partner{number}{'ab'[slot - 1]}@bench.tandem.test",
                role="client",
                tz=tz,
                couple_id=couple_id,
                at=joined,
            )
            rows.users.append(user)
            partners.append(user)
            invite_id = self._id()
            rows.invites.append(
                {
                    "id": invite_id,
                    "couple_id": couple_id,
                    "slot": slot,
                    "code_hash": hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
                    "code_encrypted": None,  # cleared once used, as accept_invite does
                    "created_at": created,
                    "expires_at": created + timedelta(days=14),
                    "accepted_at": joined,
                    "accepted_by_id": user["id"],
                }
            )
            self.audit(
                rows,
                at=joined,
                actor=user["id"],
                action="invite.accepted",
                kind="invite",
                obj=invite_id,
                couple_id=couple_id,
            )
        return self._assignment(rows, couple_id, therapist_id, start_date, partners)

    def _assignment(
        self,
        rows: Rows,
        couple_id: str,
        therapist_id: str,
        start_date: date,
        partners: list[dict[str, Any]],
    ) -> int:
        rng = self.rng
        version_id, data, program = rng.choice(self.programs)
        assignment_id = self._id()
        assigned_at = datetime.combine(start_date, time(10), tzinfo=UTC)
        # Stage k starts on week `starts[k-1]` (weeks since the start date).
        starts = [0]
        for stage in program.stages[:-1]:
            starts.append(starts[-1] + stage.min_weeks + rng.choice((0, 0, 1, 1, 2, 3, 5, 8)))
        current = sum(1 for s in starts if s * 7 <= (self.today - start_date).days)
        paused_week = self.weeks - rng.randint(1, 4) if rng.random() < 0.03 else None
        overrides: dict[str, int] = {}
        if rng.random() < 0.1:
            overrides[rng.choice(sorted(program.exercise_slugs))] = rng.randint(0, 4)

        def event(
            at: datetime,
            actor: str | None,
            action: str,
            frm: int | None,
            to: int,
            reason: str | None = None,
        ) -> None:
            rows.events.append(
                {
                    "id": self._id(),
                    "assignment_id": assignment_id,
                    "at": at,
                    "actor_id": actor,
                    "action": action,
                    "from_stage": frm,
                    "to_stage": to,
                    "reason_encrypted": self.cipher.encrypt(reason) if reason else None,
                }
            )
            self.audit(
                rows,
                at=at,
                actor=actor,
                action=f"assignment.{action}",
                kind="assignment",
                obj=assignment_id,
                couple_id=couple_id,
                detail={"from_stage": frm, "to_stage": to},
            )

        event(assigned_at, therapist_id, "assigned", None, 1)
        stage_started = assigned_at
        for index in range(2, current + 1):
            stage_started = assigned_at + timedelta(weeks=starts[index - 1], hours=-2)
            reason = "Both report low anxiety and feel ready." if rng.random() < 0.5 else None
            event(stage_started, therapist_id, "advanced", index - 1, index, reason)
        if overrides:
            event(assigned_at + timedelta(days=3), therapist_id, "updated", 1, 1)
        status = "active"
        if paused_week is not None:
            status = "paused"
            event(
                assigned_at + timedelta(weeks=paused_week),
                therapist_id,
                "paused",
                current,
                current,
                "Taking a break over the holidays.",
            )

        def stage_of_week(week: int) -> int:
            return sum(1 for s in starts if s <= week)

        written = 0
        open_alert = False
        for partner in partners:
            tz = self.zones[partner["timezone"]]
            adherence = rng.betavariate(5, 2)
            for week in range(self.weeks + 1):
                if paused_week is not None and week >= paused_week:
                    break
                stage_index = stage_of_week(week)
                wanted = targets(program.stage(stage_index), overrides)
                monday = start_date + timedelta(weeks=week)
                for slug, per_week in wanted.items():
                    done = sum(rng.random() < adherence for _ in range(per_week))
                    done += rng.random() < 0.05
                    for day in rng.sample(range(7), min(done, 7)):
                        local = datetime.combine(
                            monday + timedelta(days=day),
                            time(rng.randint(18, 23), rng.randint(0, 59)),
                            tzinfo=tz,
                        )
                        occurred = local.astimezone(UTC)
                        if occurred > self.now:
                            continue
                        flagged = self._checkin(
                            rows,
                            assignment_id,
                            couple_id,
                            therapist_id,
                            partner,
                            slug,
                            stage_index,
                            occurred,
                        )
                        written += 1
                        if flagged:
                            alert_at, acked = flagged
                            event(alert_at, partner["id"], "held", stage_index, stage_index)
                            if acked is not None:
                                event(
                                    acked,
                                    therapist_id,
                                    "resumed",
                                    stage_index,
                                    stage_index,
                                    "Safety alert acknowledged.",
                                )
                            else:
                                open_alert = True
        note = None
        if rng.random() < 0.3:
            note = self.cipher.encrypt("Check in about sleep and stress at the next session.")
        last_event = max(e["at"] for e in rows.events if e["assignment_id"] == assignment_id)
        rows.assignments.append(
            {
                "id": assignment_id,
                "couple_id": couple_id,
                "program_version_id": version_id,
                "program": data,
                "exercises": {slug: self.exercise_dicts[slug] for slug in program.exercise_slugs},
                "stage_index": current,
                "stage_started_at": stage_started,
                "status": status,
                "on_hold": open_alert and status == "active",
                "start_date": start_date,
                "overrides": overrides,
                "note_encrypted": note,
                "created_by_id": therapist_id,
                "created_at": assigned_at,
                "updated_at": last_event,
                "completed_at": None,
            }
        )
        return written

    def _checkin(
        self,
        rows: Rows,
        assignment_id: str,
        couple_id: str,
        therapist_id: str,
        partner: dict[str, Any],
        slug: str,
        stage_index: int,
        occurred: datetime,
    ) -> tuple[datetime, datetime | None] | None:
        """One check-in (and its alert when flagged): (alert time, acknowledged) or None."""
        rng = self.rng
        exercise = self.exercises[slug]
        flag = None
        if rng.random() < FLAG_RATE:
            flag = rng.choice(sorted({q.flag for q in exercise.form if q.flag}) or [None])
        answers = answers_for(exercise.form, rng, flag=flag)
        text_keys = {q.key for q in exercise.form if q.type == "text"}
        plain = {k: v for k, v in answers.items() if k not in text_keys}
        secret_answers = {k: v for k, v in answers.items() if k in text_keys}
        reflection = " ".join(rng.sample(SENTENCES, 2)) if rng.random() < 0.25 else None
        roll = rng.random()
        visibility = "therapist"
        for name, share in VISIBILITY:
            if roll < share:
                visibility = name
                break
            roll -= share
        flags = sorted(flags_from_answers(exercise.form, answers))
        checkin_id = self._id()
        body: dict[str, Any] = {
            "checkin_id": checkin_id,
            "assignment_id": assignment_id,
            "exercise": slug,
            "occurred_at": occurred,
            "answers": answers,
            "reflection": reflection,
            "visibility": visibility,
        }
        secret = {"answers": secret_answers, "reflection": reflection}
        recorded = min(occurred + timedelta(minutes=rng.randint(1, 180)), self.now)
        if rng.random() < 0.05:  # logged offline, synced the next day
            recorded = min(occurred + timedelta(hours=rng.randint(10, 30)), self.now)
        rows.checkins.append(
            {
                "id": checkin_id,
                "assignment_id": assignment_id,
                "couple_id": couple_id,
                "author_id": partner["id"],
                "exercise": slug,
                "stage_index": stage_index,
                "occurred_at": occurred,
                "recorded_at": recorded,
                "answers": plain,
                "text_encrypted": (
                    self.cipher.encrypt(json.dumps(secret))
                    if (secret_answers or reflection)
                    else None
                ),
                "visibility": visibility,
                "flags": flags,
                "body_hash": self.cipher.fingerprint(fingerprint_text(**body, flags=flags)),
            }
        )
        if not flags:
            return None
        acked = None
        if recorded < self.now - timedelta(days=OPEN_ALERT_DAYS):
            acked = recorded + timedelta(hours=rng.randint(2, 48))
        alert_id = self._id()
        rows.alerts.append(
            {
                "id": alert_id,
                "couple_id": couple_id,
                "partner_id": partner["id"],
                "kind": "safety",
                "flags": flags,
                "checkin_id": checkin_id,
                "created_at": recorded,
                "acknowledged_at": acked,
                "acknowledged_by_id": therapist_id if acked else None,
            }
        )
        if acked is not None:
            self.audit(
                rows,
                at=acked,
                actor=therapist_id,
                action="alert.acknowledged",
                kind="alert",
                obj=alert_id,
                couple_id=couple_id,
            )
        return recorded, acked


def prepare_schema(*, reset: bool) -> None:
    """Apply the migrations (as `tandem db upgrade`), after wiping the schema on reset."""
    if reset:
        with db.engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    upgrade()
    for line in seed_catalog(loaded_catalog()):
        print(line)
    db.session.commit()


def counts() -> dict[str, int]:
    tables = (User, Couple, Invite, Assignment, AssignmentEvent, CheckIn, Alert, AuditEvent)
    with db.engine.connect() as connection:
        return {
            model.__tablename__: int(  # type: ignore[attr-defined]
                connection.execute(select(func.count()).select_from(model)).scalar_one()
            )
            for model in tables
        }


def chunks(total: int, size: int) -> Iterator[range]:
    for first in range(0, total, size):
        yield range(first, min(first + size, total))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--therapists", type=int, default=200)
    parser.add_argument("--couples", type=int, default=4000)
    parser.add_argument("--weeks", type=int, default=52, help="weeks of check-ins (≤ 52)")
    parser.add_argument("--database-url", help="default: $TANDEM_DATABASE_URL or tandem_bench")
    parser.add_argument(
        "--instance",
        type=Path,
        default=DEFAULT_INSTANCE,
        help="instance folder holding the secret and data keys",
    )
    parser.add_argument(
        "--small", action="store_true", help="quick run: 10 therapists, 100 couples, 12 weeks"
    )
    parser.add_argument(
        "--reset", action="store_true", help="drop everything in the database first"
    )
    parser.add_argument("--seed", type=int, default=20261122, help="random seed")
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: cores)"
    )
    args = parser.parse_args(argv)
    if args.small:
        args.therapists, args.couples, args.weeks = 10, 100, 12
    if not 1 <= args.weeks <= 52:
        parser.error("--weeks must be between 1 and 52 (assignments start at most a year back)")
    if args.therapists < 1 or args.couples < 0 or args.jobs < 1:
        parser.error("--therapists and --jobs must be at least 1, --couples not negative")
    return args


@dataclass(frozen=True)
class Job:
    """What every worker process needs to write its share of the couples."""

    url: str
    instance: Path
    seed: int
    weeks: int
    now: datetime
    password_hash: str
    therapist_ids: tuple[str, ...]


_worker: tuple[Job, Generator] | None = None


def _catalog_rows() -> tuple[list[tuple[str, dict[str, Any]]], dict[str, Exercise]]:
    programs = [
        (row.id, row.data)
        for row in db.session.scalars(
            select(ProgramVersion).where(ProgramVersion.scope == CATALOG_SCOPE)
        )
    ]
    return programs, latest_exercises()


def _start_worker(job: Job) -> None:
    """In each worker process: its own app (same keys), engine and generator."""
    global _worker
    app = bench_app(job.url, job.instance)
    app.app_context().push()
    programs, exercises = _catalog_rows()
    db.session.remove()
    generator = Generator(
        rng=random.Random(),
        cipher=app.extensions["tandem.cipher"],
        password_hash=job.password_hash,
        programs=programs,
        exercises=exercises,
        weeks=job.weeks,
        now=job.now,
    )
    _worker = (job, generator)


def _write_couples(block: range) -> tuple[int, int]:
    """Generate and insert one block of couples in one transaction; returns how many
    couples and check-ins. Seeded per block: the data set does not depend on --jobs."""
    assert _worker is not None
    job, generator = _worker
    generator.rng.seed(job.seed * 1_000_003 + block.start)
    rows = Rows()
    written = 0
    for number in block:
        written += generator.couple(rows, number, generator.rng.choice(job.therapist_ids))
    with db.engine.begin() as connection:
        rows.write(connection)
    return len(block), written


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    url = database_url(args.database_url)
    if not url.startswith("postgresql"):
        print("bench.generate: the benchmark data set is for PostgreSQL", file=sys.stderr)
        return 2
    started = clock.perf_counter()
    ensure_database(url)
    app = bench_app(url, args.instance)
    with app.app_context():
        prepare_schema(reset=args.reset)
        existing = db.session.scalar(select(func.count()).select_from(User))
        if existing:
            print(
                f"bench.generate: the database already holds {existing} users; "
                "pass --reset to start again",
                file=sys.stderr,
            )
            return 1
        # One argon2 hash for everyone: see the module's docstring.
        password_hash = passwords().hash(PASSWORD)
        programs, exercises = _catalog_rows()
        now = datetime.now(UTC)
        generator = Generator(
            rng=random.Random(args.seed),
            cipher=app.extensions["tandem.cipher"],
            password_hash=password_hash,
            programs=programs,
            exercises=exercises,
            weeks=args.weeks,
            now=now,
        )
        db.session.remove()
        therapists = generator.therapists(args.therapists)
        with db.engine.begin() as connection:
            therapists.write(connection)
        db.engine.dispose()
        job = Job(
            url=url,
            instance=args.instance,
            seed=args.seed,
            weeks=args.weeks,
            now=now,
            password_hash=password_hash,
            therapist_ids=tuple(u["id"] for u in therapists.users),
        )
        couples = written = 0
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            args.jobs, mp_context=context, initializer=_start_worker, initargs=(job,)
        ) as pool:
            for done, checkins in pool.map(_write_couples, chunks(args.couples, CHUNK)):
                couples += done
                written += checkins
                print(
                    f"  couples {couples:>6}/{args.couples}  check-ins {written:>9,}  "
                    f"{clock.perf_counter() - started:6.1f} s",
                    flush=True,
                )
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))
        elapsed = clock.perf_counter() - started
        print(f"Rows in {make_url(url).database}:")
        for table, count in counts().items():
            print(f"  {table:<18} {count:>10,}")
        print(
            f"Generated in {elapsed:.1f} s with {args.jobs} processes "
            f"(instance folder: {args.instance})."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
