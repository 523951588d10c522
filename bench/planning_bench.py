"""Planning benchmark (issue 13): `plan_all` for 100,000 partners, cold and steady.

    flock /tmp/bench.lock .venv/bin/python bench/planning_bench.py \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/tandem_bench_r \
        [--partners 100000] [--reset | --reuse] [--profile] [--json out.json]

The data is bench/reminders_bench.py's (`create_partners`): 50,000 couples under 500
therapists, each on a catalog program frozen as `assign_program` freezes it, half the
partners with their own settings, ~120,000 check-ins in the last 8 days, 3% of the
programs paused and 2% on a safety hold. `now` is fixed (Wednesday 2026-11-25 15:00
UTC) so that `--reuse` plans the same data again.

Passes, each timed on its own (wall and this process's CPU; the rest of the machine's
busy time during the pass is PostgreSQL's, as the bench runs alone under the lock):

1. cold: the outbox and the planned-through marks emptied (TRUNCATE), every partner
   planned; then VACUUM ANALYZE, as autovacuum would do soon after;
2. steady, same `now`: a pass right after (nothing changed);
3. steady, 15 minutes later (the worker's plan interval): only partners whose next
   slot entered the window are planned;
4. cold again with the outbox full: the planned-through marks forgotten, so every
   partner is planned again with their reminders already there (what the first pass
   after deploying migration 0010 does);
5. the replan job for 1,000 partners with a pending request (1% changed inputs);
6. with --profile, another cold pass under cProfile (top functions printed).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.reminders_bench import (  # noqa: E402
    HZ,
    create_partners,
    machine_ticks,
    prepare_database,
    vacuum,
)

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


def timed(label: str, func: Any) -> dict[str, Any]:
    from server.extensions import db

    busy0, _ = machine_ticks()
    cpu0 = time.process_time()
    started = time.perf_counter()
    result = func()
    db.session.commit()
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    other = (machine_ticks()[0] - busy0) / HZ - cpu
    out = {"seconds": round(seconds, 2), "cpu_python": round(cpu, 2), "cpu_other": round(other, 2)}
    out["result"] = result
    print(f"{label}: {out}", flush=True)
    return out


def empty_plans() -> None:
    """TRUNCATE the outbox, the marks and the requests: the planner's statistics say
    "unknown size", as on a database that never held reminders (a DELETE and ANALYZE
    would tell it "empty" while the cold pass fills it with 112,000 rows, which turns
    every look-up of existing reminders into a scan of the whole table)."""
    from sqlalchemy import text

    from server.extensions import db

    db.session.execute(text("TRUNCATE reminders, reminder_plans, replan_requests"))
    db.session.commit()


def analyze() -> None:
    """What autovacuum does within a minute of the cold pass (bench/reminders_bench.py's
    VACUUM ANALYZE), before the steady passes."""
    vacuum("reminders", "reminder_plans")


def forget_marks() -> None:
    from sqlalchemy import delete

    from server.extensions import db
    from server.models import ReminderPlan

    db.session.execute(delete(ReminderPlan))
    db.session.commit()
    vacuum("reminders", "reminder_plans")


def counts() -> dict[str, int]:
    from sqlalchemy import func, select

    from server.extensions import db
    from server.models import Reminder

    return {
        f"{kind}/{status}": n
        for kind, status, n in db.session.execute(
            select(Reminder.kind, Reminder.status, func.count()).group_by(
                Reminder.kind, Reminder.status
            )
        )
    }


def profile_cold(top: int) -> list[tuple[str, float, float]]:
    import cProfile
    import pstats

    from server.extensions import db
    from server.services.reminders import plan_all

    empty_plans()
    profiler = cProfile.Profile()
    profiler.enable()
    plan_all(now=NOW)
    db.session.commit()
    profiler.disable()
    stats = pstats.Stats(profiler)
    rows = []
    for (filename, line, name), (_cc, _nc, tottime, cumtime, _c) in stats.stats.items():  # type: ignore[attr-defined]
        short = filename.split("/site-packages/")[-1].replace(str(ROOT) + "/", "")
        rows.append((f"{short}:{line} {name}", round(cumtime, 2), round(tottime, 2)))
    rows.sort(key=lambda r: -r[1])
    print("cold plan_all under cProfile: cumulative s / own s")
    for name, cum, own in rows[:top]:
        print(f"  {cum:7.2f} {own:7.2f}  {name}")
    by_own = sorted(rows, key=lambda r: -r[2])[:top]
    print("by own time:")
    for name, cum, own in by_own:
        print(f"  {cum:7.2f} {own:7.2f}  {name}")
    return rows[:top] + by_own


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/tandem_bench_r",
    )
    parser.add_argument("--partners", type=int, default=100_000)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--reset", action="store_true", help="drop and re-create the database")
    group.add_argument("--reuse", action="store_true", help="plan the data already there")
    parser.add_argument(
        "--setup-only", action="store_true", help="create the data, plan nothing (no lock needed)"
    )
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    instance = Path(tempfile.mkdtemp(prefix="tandem-planning-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    env.update(
        TANDEM_DATABASE_URL=args.database_url,
        TANDEM_INSTANCE_PATH=str(instance),
        TANDEM_RATELIMIT_ENABLED="0",
        PYTHONPATH=str(ROOT),
    )
    os.environ.update(env)
    if not args.reuse:
        prepare_database(args.database_url, args.reset, env)

    from sqlalchemy import select

    from server import create_app
    from server.extensions import db
    from server.models import CLIENT, User
    from server.services.reminders import plan_all
    from server.services.replans import replan_pass, request_replan

    app = create_app()
    results: dict[str, Any] = {"loadavg": Path("/proc/loadavg").read_text().strip()}
    with app.app_context():
        if not args.reuse:
            t0 = time.perf_counter()
            results["data"] = create_partners(args.partners, NOW, random.Random(13))
            print(f"data {results['data']} in {time.perf_counter() - t0:.1f} s", flush=True)
        if args.setup_only:
            return 0
        empty_plans()
        print(f"load average before the passes: {results['loadavg']}", flush=True)
        results["cold"] = timed("cold (every partner)", lambda: plan_all(now=NOW))
        results["rows_after_cold"] = counts()
        analyze()
        results["steady_same_now"] = timed("steady, same now", lambda: plan_all(now=NOW))
        later = NOW + timedelta(minutes=15)
        results["steady_15_min"] = timed("steady, 15 min later", lambda: plan_all(now=later))
        forget_marks()
        results["cold_outbox_full"] = timed(
            "cold again, outbox full (every partner, e.g. right after deploying 0010)",
            lambda: plan_all(now=later),
        )
        ids = list(
            db.session.scalars(
                select(User.id).where(User.role == CLIENT, User.couple_id.is_not(None))
            )
        )
        changed = random.Random(7).sample(ids, min(1000, len(ids)))
        request_replan(changed, now=later)
        db.session.commit()
        results["replan_1000"] = timed("replan job, 1,000 requests", lambda: replan_pass(now=later))
        if args.profile:
            results["profile"] = profile_cold(args.top)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
