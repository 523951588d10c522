"""What docs/scaling.md reports, measured on one generated data set.

    flock /tmp/bench.lock .venv/bin/python -m bench.scaling \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/tandem_scale_4k

Run it under the machine's benchmark lock (it times things). Steps, each in the JSON it
writes to `bench/out/scale-<database>-<time>.json`:

- `sizes`: rows per table (exact counts), heap / index / TOAST bytes per table, the
  largest indexes, the database's size, and rows per calendar month of check-ins,
  audit events, alerts and assignment events (the growth the extrapolation uses);
- `requests`: the hot paths through the real app in this process (Flask test client,
  no gunicorn, no wrk): homework GET and check-in POST rotated over many partners,
  plus the two paginated check-in lists (a partner's own, a therapist's couple view),
  whose `COUNT(*)` grows with history. For each: SQL statements per request, wall time
  and CPU per request split into this Python process and the PostgreSQL backends
  (read from /proc, PostgreSQL is on this machine), and `EXPLAIN (ANALYZE, BUFFERS)` of
  every statement of one request, re-run on a separate connection and rolled back
  (fresh ids for INSERTs), summarised as the indexes used, sequential scans, buffers
  and time;
- `plan`: one `plan_all` pass over every partner (the worker's plan job) from an empty
  outbox (it deletes the reminders first), timed, then a second pass that finds nothing
  new, and `EXPLAIN (ANALYZE, BUFFERS)` of the dispatcher's claim (`SqlOutbox.claim`) at
  the moment every planned reminder is due;
- `load` (with `--load`): `bench.load` against this database with short durations, in
  a subprocess (so it must not take the lock itself: this process holds it).

Each request step writes a few check-ins (and their reminders) into the data set, like
`bench.load` does.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from flask_migrate import upgrade
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url

from bench.common import DEFAULT_INSTANCE, OUT_DIR, bench_app, checkin_body
from server.auth import start_session
from server.extensions import db

REPO = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
TABLES = (
    "users",
    "couples",
    "invites",
    "assignments",
    "assignment_events",
    "checkins",
    "alerts",
    "audit_events",
    "reminders",
    "login_sessions",
    "refresh_tokens",
    "devices",
    "reminder_settings",
    "measure_responses",
    "mail_outbox",
    "program_versions",
)
MONTHLY = {
    "checkins": "occurred_at",
    "audit_events": "at",
    "alerts": "created_at",
    "assignment_events": "at",
}


# --- sizes ---------------------------------------------------------------------------


def sizes(connection: Any) -> dict[str, Any]:
    """Rows and bytes per table, the largest indexes, rows per month."""
    present = {
        name
        for (name,) in connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        )
    }
    tables: dict[str, Any] = {}
    for name in TABLES:
        if name not in present:
            continue
        rows = connection.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()  # noqa: S608
        total, heap, indexes, toast = connection.execute(
            text(
                "SELECT pg_total_relation_size(c.oid), pg_relation_size(c.oid), "
                "pg_indexes_size(c.oid), "
                "COALESCE(pg_total_relation_size(NULLIF(c.reltoastrelid, 0)), 0) "
                "FROM pg_class c WHERE c.oid = CAST(:name AS regclass)"
            ),
            {"name": name},
        ).one()
        tables[name] = {
            "rows": int(rows),
            "total_bytes": int(total),
            "heap_bytes": int(heap),
            "index_bytes": int(indexes),
            "toast_bytes": int(toast),
        }
    top = [
        {"index": index, "table": table, "bytes": int(size)}
        for index, table, size in connection.execute(
            text(
                "SELECT indexrelname, relname, pg_relation_size(indexrelid) AS size "
                "FROM pg_stat_user_indexes ORDER BY size DESC LIMIT 12"
            )
        )
    ]
    months: dict[str, dict[str, int]] = {}
    for table, column in MONTHLY.items():
        months[table] = {
            str(month)[:7]: int(count)
            for month, count in connection.execute(
                text(
                    f"SELECT date_trunc('month', {column}) AS m, count(*) "  # noqa: S608
                    f'FROM "{table}" GROUP BY m ORDER BY m'
                )
            )
        }
    widths = {
        table: float(
            connection.execute(
                text(f'SELECT avg(pg_column_size(t.*)) FROM "{table}" t')  # noqa: S608
            ).scalar_one()
            or 0
        )
        for table in ("checkins", "reminders", "audit_events", "alerts")
        if table in present
    }
    couples = tables["couples"]["rows"]
    return {
        "database_bytes": int(
            connection.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
        ),
        "couples": couples,
        "tables": tables,
        "top_indexes": top,
        "rows_per_month": months,
        "avg_row_bytes": widths,
        "settings": {
            name: connection.execute(text(f"SHOW {name}")).scalar_one()
            for name in ("shared_buffers", "effective_cache_size", "work_mem", "max_connections")
        },
    }


# --- statements, CPU and plans ------------------------------------------------------


class Recorder:
    """Every statement the app's engine sends, with its parameters."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any, bool]] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        executemany = bool(rest[-1]) if rest else False
        self.statements.append((statement, parameters, executemany))

    def take(self) -> list[tuple[str, Any, bool]]:
        taken, self.statements = self.statements, []
        return taken


def backend_cpu(connection: Any, database: str) -> float:
    """CPU seconds used so far by this database's PostgreSQL backends (same machine)."""
    pids = connection.execute(
        text("SELECT pid FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"),
        {"d": database},
    ).scalars()
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def plan_summary(plan: dict[str, Any]) -> dict[str, Any]:
    """What an EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) says, in a few fields."""
    indexes: list[str] = []
    seq_scans: list[str] = []
    nodes: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        nodes.append(node["Node Type"])
        if "Index Name" in node:
            indexes.append(node["Index Name"])
        if node["Node Type"] == "Seq Scan":
            seq_scans.append(f"{node['Relation Name']} ({node.get('Actual Rows', 0)} rows)")
        for child in node.get("Plans", ()):
            walk(child)

    top = plan["Plan"]
    walk(top)
    return {
        "execution_ms": plan.get("Execution Time"),
        "planning_ms": plan.get("Planning Time"),
        "rows": top.get("Actual Rows"),
        "shared_hit": top.get("Shared Hit Blocks", 0),
        "shared_read": top.get("Shared Read Blocks", 0),
        "indexes": indexes,
        "seq_scans": seq_scans,
        "nodes": nodes,
    }


ID_PARAM = re.compile(r"^id(__\d+)?$")


def explain(
    dsn: str, statements: list[tuple[str, Any, bool]], shift: timedelta | None = None
) -> list[dict[str, Any]]:
    """EXPLAIN (ANALYZE, BUFFERS) each statement on its own connection, rolled back."""
    out = []
    with psycopg.connect(dsn) as conn:
        for statement, parameters, _executemany in statements:
            verb = statement.lstrip().split(None, 1)[0].upper()
            if verb not in ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH"):
                continue
            params = parameters[0] if isinstance(parameters, list | tuple) else parameters
            if isinstance(params, dict):
                params = dict(params)
                for key, value in params.items():
                    if verb == "INSERT" and ID_PARAM.match(key):
                        params[key] = str(uuid.uuid4())
                    elif shift is not None and isinstance(value, datetime):
                        params[key] = value + shift
            try:
                with conn.cursor() as cursor:
                    cursor.execute(
                        "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement,  # type: ignore[arg-type]
                        params,
                    )
                    row = cursor.fetchone()
                assert row is not None
                summary = plan_summary(row[0][0])
            except psycopg.Error as exc:
                summary = {"error": str(exc).splitlines()[0]}
            conn.rollback()
            out.append({"sql": " ".join(statement.split())[:400], **summary})
    return out


def dsn_of(url: str) -> str:
    parsed = make_url(url)
    return (
        f"host={parsed.host or '127.0.0.1'} port={parsed.port or 5432} "
        f"user={parsed.username or 'postgres'} dbname={parsed.database}"
    )


@contextmanager
def recording() -> Iterator[Recorder]:
    recorder = Recorder()
    event.listen(db.engine, "before_cursor_execute", recorder)
    try:
        yield recorder
    finally:
        event.remove(db.engine, "before_cursor_execute", recorder)


def requests(app: Any, url: str, *, count: int, seed: int) -> dict[str, Any]:
    """The hot paths in-process: statements, CPU (Python and PostgreSQL), plans."""
    from server.models import ACTIVE, Assignment, Couple, User

    database = make_url(url).database or ""
    rng = random.Random(seed)
    with app.app_context():
        db.session.execute(text("SELECT setseed(:s)"), {"s": (seed % 1000) / 1000})
        chosen = db.session.execute(
            select(User, Assignment, Couple.therapist_id)
            .join(Assignment, Assignment.couple_id == User.couple_id)
            .join(Couple, Couple.id == User.couple_id)
            .where(User.role == "client", Assignment.status == ACTIVE)
            .order_by(func.random())
            .limit(200)
        ).all()
        therapists = {
            t.id: t
            for t in db.session.scalars(select(User).where(User.id.in_({row[2] for row in chosen})))
        }
        readers = [
            {"Authorization": f"Bearer {start_session(user=u, client='bench').access_token}"}
            for u, _, _ in chosen
        ]
        writers = [(readers[n], checkin_body(a, rng)) for n, (_, a, _) in enumerate(chosen[:50])]
        viewers = [
            (
                {
                    "Authorization": "Bearer "
                    + start_session(user=therapists[t], client="bench").access_token
                },
                u.couple_id,
            )
            for u, _, t in chosen[:50]
        ]
        db.session.commit()
        db.session.remove()

    def post_checkin(client: Any, n: int) -> Any:
        headers, body = writers[n % len(writers)]
        occurred = datetime.now(UTC) - timedelta(minutes=1)
        payload = {**body, "id": str(uuid.uuid4()), "occurred_at": occurred.isoformat()}
        return client.post("/api/v1/checkins", json=payload, headers=headers)

    scenarios: dict[str, Callable[[Any, int], Any]] = {
        "homework GET": lambda c, n: c.get(
            "/api/v1/me/homework", headers=readers[n % len(readers)]
        ),
        "check-in POST": post_checkin,
        "own check-ins GET (page 1 of 20)": lambda c, n: c.get(
            "/api/v1/me/checkins?page=1&page_size=20", headers=readers[n % len(readers)]
        ),
        "couple check-ins GET (therapist, page 1 of 20)": lambda c, n: c.get(
            f"/api/v1/couples/{viewers[n % len(viewers)][1]}/checkins?page=1&page_size=20",
            headers=viewers[n % len(viewers)][0],
        ),
    }
    results: dict[str, Any] = {}
    client = app.test_client()
    with app.app_context():
        admin = db.engine.connect()
    try:
        with app.app_context(), recording() as recorder:
            for name, call in scenarios.items():
                for n in range(20):  # warm-up: caches, pool, prepared statements
                    response = call(client, n)
                    if response.status_code >= 400:
                        raise SystemExit(f"bench.scaling: {name} answered {response.status_code}")
                counts = []
                pg_before = backend_cpu(admin, database)
                recorder.take()
                cpu_before = time.process_time()
                wall_before = time.perf_counter()
                for n in range(count):
                    response = call(client, n + 20)
                    if response.status_code >= 400:
                        raise SystemExit(f"bench.scaling: {name} answered {response.status_code}")
                    counts.append(len(recorder.take()))
                wall = time.perf_counter() - wall_before
                cpu = time.process_time() - cpu_before
                pg = backend_cpu(admin, database) - pg_before
                recorder.take()
                call(client, count + 20)
                one = recorder.take()
                results[name] = {
                    "requests": count,
                    "statements_per_request": {
                        "min": min(counts),
                        "max": max(counts),
                        "mean": sum(counts) / len(counts),
                    },
                    "wall_ms_per_request": 1000 * wall / count,
                    "python_cpu_ms_per_request": 1000 * cpu / count,
                    "postgres_cpu_ms_per_request": 1000 * pg / count,
                    "explain": explain(dsn_of(url), one),
                }
                print(
                    f"  {name:<48} {results[name]['wall_ms_per_request']:6.2f} ms wall  "
                    f"python {results[name]['python_cpu_ms_per_request']:5.2f} ms  "
                    f"pg {results[name]['postgres_cpu_ms_per_request']:5.2f} ms  "
                    f"{results[name]['statements_per_request']['mean']:.1f} statements",
                    flush=True,
                )
    finally:
        admin.close()
    return results


def plan(app: Any, url: str) -> dict[str, Any]:
    """The worker's plan job over every partner, twice, and the dispatcher's claim."""
    from server.services import reminders
    from server.services.outbox import SqlOutbox

    now = datetime.now(UTC)
    out: dict[str, Any] = {"now": now.isoformat()}
    with app.app_context():
        partners = db.session.execute(
            text("SELECT count(*) FROM users WHERE role = 'client' AND couple_id IS NOT NULL")
        ).scalar_one()
        out["partners"] = int(partners)
        # From an empty outbox, so that every run measures the same first pass.
        for table in ("reminders", "reminder_plans", "replan_requests"):
            if db.session.execute(text("SELECT to_regclass(:t)"), {"t": table}).scalar():
                db.session.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - fixed names
        db.session.commit()
        db.session.remove()
        for attempt in ("first", "again"):
            with recording() as recorder:
                started = time.perf_counter()
                cpu = time.process_time()
                added = reminders.plan_all(now=now)
                db.session.commit()
                out[f"{attempt}_pass"] = {
                    "seconds": time.perf_counter() - started,
                    "python_cpu_seconds": time.process_time() - cpu,
                    "added": added,
                    "statements": len(recorder.statements),
                }
            db.session.remove()
            print(f"  plan_all ({attempt}): {out[f'{attempt}_pass']}", flush=True)
        out["reminders_by_status"] = {
            status: int(n)
            for status, n in db.session.execute(
                text("SELECT status, count(*) FROM reminders GROUP BY status")
            )
        }
        # The claim statement, recorded at an instant when nothing is due (a year back),
        # then explained at the instant every planned reminder is due.
        past = now - timedelta(days=365)
        with recording() as recorder:
            SqlOutbox().claim(now=past, limit=500, worker_id="bench-scaling")
            claim = [s for s in recorder.statements if s[0].lstrip().upper().startswith("UPDATE")]
        db.session.remove()
        out["claim_explain"] = explain(
            dsn_of(url), claim, shift=timedelta(days=365, hours=24, minutes=1)
        )
    return out


def load(url: str, extra: list[str]) -> dict[str, Any]:
    """`bench.load` against this database (this process holds the lock already)."""
    output = OUT_DIR / f"scale-load-{make_url(url).database}.json"
    output.unlink(missing_ok=True)
    command = [sys.executable, "-m", "bench.load", "--database-url", url]
    command += [*extra, "--output", str(output)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    print(done.stdout[-3000:], flush=True)
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
    return {
        "command": " ".join(command[1:]),
        "returncode": done.returncode,
        "stdout_tail": done.stdout[-4000:],
        "results": json.loads(output.read_text()) if output.exists() else None,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def partner_files(app: Any, folder: Path, *, seed: int) -> tuple[Path, Path]:
    """Tokens (homework.lua) and token<TAB>body lines (checkin.lua) for 100 partners."""
    from server.models import ACTIVE, Assignment, User

    rng = random.Random(seed)
    with app.app_context():
        chosen = db.session.execute(
            select(User, Assignment)
            .join(Assignment, Assignment.couple_id == User.couple_id)
            .where(User.role == "client", Assignment.status == ACTIVE)
            .order_by(User.id)
            .limit(100)
        ).all()
        lines = []
        for user, assignment in chosen:
            token = start_session(user=user, client="bench").access_token
            body = json.dumps(checkin_body(assignment, rng), separators=(",", ":"))[1:-1]
            lines.append((token, body))
        db.session.commit()
        db.session.remove()
    folder.mkdir(parents=True, exist_ok=True)
    tokens, bodies = folder / "tokens.txt", folder / "checkins.txt"
    tokens.write_text("".join(f"{t}\n" for t, _ in lines))
    bodies.write_text("".join(f"{t}\t{b}\n" for t, b in lines))
    return tokens, bodies


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def pool(app: Any, url: str, *, duration: int, seed: int) -> dict[str, Any]:
    """`tandem serve --workers 2` and `tandem worker` on `url` (e.g. through PgBouncer)
    with wrk on the homework GET and the check-in POST; counts errors in both logs.
    TANDEM_DATABASE_PREPARED_STATEMENTS is taken from this process's environment."""
    folder = OUT_DIR / "scale-pool"
    tokens, bodies = partner_files(app, folder, seed=seed)
    port = free_port()
    env = {
        **os.environ,
        "TANDEM_DATABASE_URL": url,
        "TANDEM_INSTANCE_PATH": str(DEFAULT_INSTANCE),
        "TANDEM_RATELIMIT_ENABLED": "0",
    }
    tandem = str(Path(sys.executable).with_name("tandem"))
    serve_log, worker_log = folder / "serve.log", folder / "worker.log"
    with serve_log.open("w") as s_out, worker_log.open("w") as w_out:
        serve = subprocess.Popen(
            [tandem, "serve", "--workers", "2", "--port", str(port), "--no-migrate"],
            cwd=REPO, env=env, stdout=s_out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        worker = subprocess.Popen(
            [tandem, "worker"],
            cwd=REPO, env=env, stdout=w_out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        results: dict[str, Any] = {}
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(150):
                try:
                    with urllib.request.urlopen(f"{base}/healthz", timeout=2):  # noqa: S310
                        break
                except OSError:
                    time.sleep(0.2)
            for name, script, data in (
                ("homework GET", "homework.lua", tokens),
                ("check-in POST", "checkin.lua", bodies),
            ):
                done = subprocess.run(
                    ["wrk", "-t2", "-c16", f"-d{duration}s", "--timeout", "10s",
                     "-s", str(REPO / "bench" / script), base, "--", str(data)],
                    capture_output=True, text=True, check=False, timeout=duration + 60,
                )  # fmt: skip
                for line in done.stdout.splitlines():
                    if line.startswith("BENCH_JSON "):
                        results[name] = json.loads(line.removeprefix("BENCH_JSON "))
                print(f"  {name}: {results.get(name)}", flush=True)
            time.sleep(3)  # the worker's first passes (plan, replans, dispatch)
        finally:
            _stop(serve)
            _stop(worker)
    errors: dict[str, Any] = {}
    for name, log in (("serve", serve_log), ("worker", worker_log)):
        text_ = log.read_text(errors="replace")
        errors[name] = {
            "tracebacks": text_.count("Traceback"),
            "prepared_statement_errors": len(
                re.findall(
                    r"prepared statement \"_pg3_\d+\" (?:does not exist|already exists)", text_
                )
            ),
            "first_error": next(
                (ln for ln in text_.splitlines() if "Error" in ln and ":" in ln), None
            ),
        }
    return {
        "url": url,
        "prepared_statements": os.environ.get("TANDEM_DATABASE_PREPARED_STATEMENTS", "1"),
        "wrk": results,
        "logs": errors,
    }


def git_head() -> str:
    """HEAD, plus the files changed in the working tree (several people work in it)."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    changed = subprocess.run(
        ["git", "status", "--short", "--untracked-files=no"],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout.split()[1::2]
    return f"{head} + uncommitted {', '.join(changed)}" if changed else head


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--instance", type=Path, default=DEFAULT_INSTANCE)
    parser.add_argument(
        "--steps",
        default="sizes,requests,plan",
        help="comma-separated: sizes, requests, plan, pool (default: the first three)",
    )
    parser.add_argument("--pool-seconds", type=int, default=5, help="wrk seconds in `pool`")
    parser.add_argument("--requests", type=int, default=300, help="requests per scenario")
    parser.add_argument("--load", action="store_true", help="also run bench.load")
    parser.add_argument(
        "--load-args",
        default="--duration 5 --warmup 1",
        help="arguments passed on to bench.load (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=13)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    url = args.database_url
    database = make_url(url).database or "db"
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    # This process's own statements (token minting for `pool`) never prepare: through
    # PgBouncer they would break before the servers under test are even started.
    own = {"TANDEM_DATABASE_PREPARED_STATEMENTS": "0"} if "pool" in steps else {}
    app = bench_app(url, args.instance, TANDEM_RATELIMIT_ENABLED="0", **own)
    out: dict[str, Any] = {
        "database": database,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_head(),
        "cores": os.cpu_count(),
        "load_average_before": os.getloadavg(),
        "prepared_statements": os.environ.get("TANDEM_DATABASE_PREPARED_STATEMENTS", "1"),
    }
    print(f"bench.scaling on {database}, load average {os.getloadavg()}", flush=True)
    with app.app_context():
        upgrade()  # the data may predate the newest migrations (as in bench.load)
    if "sizes" in steps:
        started = time.perf_counter()
        with app.app_context(), db.engine.connect() as connection:
            out["sizes"] = sizes(connection)
        print(f"  sizes in {time.perf_counter() - started:.1f} s", flush=True)
    if "requests" in steps:
        out["requests"] = requests(app, url, count=args.requests, seed=args.seed)
    if "plan" in steps:
        out["plan"] = plan(app, url)
    if "pool" in steps:
        out["pool"] = pool(app, url, duration=args.pool_seconds, seed=args.seed)
    if args.load:
        out["load_average_before_load"] = os.getloadavg()
        out["load"] = load(url, args.load_args.split())
    out["load_average_after"] = os.getloadavg()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    tag = "-".join(steps) + ("-load" if args.load else "")
    path = OUT_DIR / f"scale-{database}-{tag}-{stamp}.json"
    path.write_text(json.dumps(out, indent=2, default=_json_default))
    print(f"written to {path.relative_to(REPO)}")
    return 0


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
