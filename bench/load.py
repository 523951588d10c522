"""Load test: Tandem's hot paths against their same-work floor, both under `gunicorn`
(same worker count, sync workers, same environment) on the bench database, driven by
`wrk` in one run.

    .venv/bin/python -m bench.generate          # once: the data set (see generate.py)
    .venv/bin/python -m bench.load              # ~2 minutes: prints the table

Scenarios (10 s each by default, after a 2 s warm-up each), in this order:
  floor homework    GET /api/v1/me/homework on bench/floor_app.py     (bench/homework.lua)
  homework          GET /api/v1/me/homework on Tandem                 (bench/homework.lua)
  floor homework    again
  floor checkin     POST /api/v1/checkins on bench/floor_app.py       (bench/checkin.lua)
  checkin           POST /api/v1/checkins on Tandem                   (bench/checkin.lua)
  floor checkin     again
Each Tandem figure is reported between two runs of its floor; the ratio is Tandem's
requests/s over the mean of the two floors', the p99 ratio Tandem's p99 over the mean
of the floors' p99. Absolute numbers drift from run to run, the ratios much less.
`--bare` adds the old yardstick (GET /hello of bench/bare_app.py) before and after.

Requests rotate over many partners (`--partners`, `--writers`: hundreds of tokens).
Statements per request are counted in-process on the same data before the load: one
request of each kind through Tandem's test client (a `before_cursor_execute` listener,
as in tests/api/test_query_counts.py) and through the floor (its own counter).

Tokens are minted directly, not obtained through `/api/v1/auth/token`: for each chosen
partner the script opens a real login session with the app's own `start_session` (the
same rows and signed token a sign-in produces), which skips only the argon2 password
check, ~0.1 s of CPU per partner. One real sign-in through `/api/v1/auth/token` is done
against the running server as a check that the generated accounts work. Access tokens
live 15 minutes, far longer than a run.

Everything listens on 127.0.0.1 only; the servers are started in their own process
groups and killed when the run ends, however it ends.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask_migrate import upgrade
from sqlalchemy import func, select

from bench.common import (
    BENCH_DIR,
    DEFAULT_INSTANCE,
    OUT_DIR,
    PASSWORD,
    bench_app,
    checkin_body,
    database_url,
    server_environ,
)
from server.auth import start_session
from server.extensions import db
from server.models import ACTIVE, Assignment, User

REPO = BENCH_DIR.parent
TARGETS = {"homework": 0.80, "checkin": 0.60}  # of the floor's requests/s
P99_TARGET = 1.5  # homework p99 ÷ the floor's
WRK_HINT = "wrk is not installed: `apt-get install -y wrk` (Debian/Ubuntu), then run again."


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(name: str, app_spec: str, env: dict[str, str], workers: int) -> Iterator[str]:
    """Run `gunicorn -w N app_spec` on a free loopback port; yields its base URL and
    kills the whole process group on the way out."""
    port = free_port()
    log_path = OUT_DIR / f"{name}.log"
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [
        str(gunicorn),
        "--workers", str(workers),
        "--bind", f"127.0.0.1:{port}",
        "--log-level", "warning",
        app_spec,
    ]  # fmt: skip
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def http(url: str, *, headers: dict[str, str] | None = None, body: Any = None) -> int:
    """The status of one request to our own loopback servers."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {**(headers or {}), **({"Content-Type": "application/json"} if data else {})}
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_ready(url: str, name: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if http(url) == 200:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"bench.load: {name} did not answer at {url} (see {OUT_DIR / name}.log)")


def prepare_partners(
    url: str, instance: Path, *, readers: int, writers: int, seed: int, out_dir: Path = OUT_DIR
) -> tuple[Path, Path, str]:
    """Choose partners with a running assignment, mint their tokens and write the files
    the Lua scripts read; returns (tokens file, check-ins file, one email)."""
    rng = random.Random(seed)
    app = bench_app(url, instance)
    with app.app_context():
        # The data may predate the newest migrations: bring the schema up to the code's.
        upgrade()
        chosen = db.session.execute(
            select(User, Assignment)
            .join(Assignment, Assignment.couple_id == User.couple_id)
            .where(User.role == "client", Assignment.status == ACTIVE)
            .order_by(func.random())
            .limit(max(readers, writers))
        ).all()
        if not chosen:
            raise SystemExit("bench.load: no partner with an active assignment: run bench.generate")
        tokens = []
        bodies = []
        for n, (user, assignment) in enumerate(chosen):
            token = start_session(user=user).access_token
            if n < readers:
                tokens.append(token)
            if n < writers:
                bodies.append(f"{token}\t{_body_rest(assignment, rng)}")
        email = next((u.email for u, _ in chosen if u.email_verified_at is not None), "")
        db.session.commit()
    out_dir.mkdir(parents=True, exist_ok=True)
    tokens_file = out_dir / "tokens.txt"
    checkins_file = out_dir / "checkins.txt"
    tokens_file.write_text("\n".join(tokens) + "\n")
    checkins_file.write_text("\n".join(bodies) + "\n")
    return tokens_file, checkins_file, email


def _body_rest(assignment: Assignment, rng: random.Random) -> str:
    """A valid check-in body without `id` and `occurred_at` (the Lua script adds them),
    as JSON members."""
    return json.dumps(checkin_body(assignment, rng), separators=(",", ":"))[1:-1]


def check_tandem(base: str, tokens_file: Path, email: str) -> None:
    """One minted token and one real sign-in work against the running server."""
    token = tokens_file.read_text().split("\n", 1)[0]
    status = http(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    if status != 200:
        raise SystemExit(f"bench.load: a minted token was refused ({status})")
    if not email:
        print(
            "note: no generated account has a verified email (older bench.generate data "
            "does not set email_verified_at), so the real sign-in check is skipped"
        )
        return
    status = http(f"{base}/api/v1/auth/token", body={"email": email, "password": PASSWORD})
    if status != 200:
        raise SystemExit(f"bench.load: signing in as {email} failed ({status})")


def wrk(
    url: str, script: str, args: list[str], *, duration: int, threads: int, connections: int
) -> dict[str, Any]:
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout", "10s",
        "-s", str(BENCH_DIR / script),
        url,
    ]  # fmt: skip
    if args:
        command += ["--", *args]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + 60, check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return dict(json.loads(line.removeprefix("BENCH_JSON ")))
    raise SystemExit(f"bench.load: wrk gave no result:\n{done.stdout}\n{done.stderr}")


def count_statements(
    url: str, instance: Path, tokens_file: Path, checkins_file: Path
) -> dict[str, dict[str, int]]:
    """SQL statements one request sends, Tandem's and the floor's, on this data set (a
    warm-up request first: the first request of a process loads things once)."""
    from sqlalchemy import event

    from bench.floor_app import create_floor

    token = tokens_file.read_text().split("\n", 1)[0]
    writer, rest = checkins_file.read_text().split("\n", 1)[0].split("\t", 1)
    app = bench_app(url, instance)
    settings = app.config["TANDEM_SETTINGS"]
    floor_app = create_floor(
        database_url=url,
        secret_key=settings.secret_key,
        data_keys=settings.data_keys,
        catalog_path=settings.catalog_path,
    )
    floor = floor_app.extensions["floor"]

    def body() -> dict[str, Any]:
        now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        return {"id": str(uuid.uuid4()), "occurred_at": now, **json.loads("{" + rest + "}")}

    def calls(client: Any) -> dict[str, Any]:
        return {
            "homework": lambda: client.get(
                "/api/v1/me/homework", headers={"Authorization": f"Bearer {token}"}
            ),
            "checkin": lambda: client.post(
                "/api/v1/checkins", json=body(), headers={"Authorization": f"Bearer {writer}"}
            ),
        }

    out: dict[str, dict[str, int]] = {"tandem": {}, "floor": {}}
    seen: list[str] = []
    with app.app_context():
        engine = db.engine
    listener = lambda *a: seen.append(a[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        for name, call in calls(app.test_client()).items():
            call()
            seen.clear()
            response = call()
            if response.status_code >= 300:
                raise SystemExit(f"bench.load: Tandem {name} answered {response.status_code}")
            out["tandem"][name] = len(seen)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
        with app.app_context():
            db.engine.dispose()
    for name, call in calls(floor_app.test_client()).items():
        call()
        before = floor.statements
        response = call()
        if response.status_code >= 300:
            raise SystemExit(f"bench.load: the floor's {name} answered {response.status_code}")
        out["floor"][name] = floor.statements - before
    if floor._conn is not None:
        floor._conn.close()
    return out


def summary(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per Tandem scenario: the ratio to the mean of its two floors, and the p99 ratio."""
    out: dict[str, dict[str, float]] = {}
    for name in ("homework", "checkin"):
        if name not in results:
            continue
        floors = [results[f"floor {name}"], results[f"floor {name} (again)"]]
        floor_rps = sum(f["rps"] for f in floors) / 2
        floor_p99 = sum(f["p99_ms"] for f in floors) / 2
        out[name] = {
            "floor_rps_mean": floor_rps,
            "floor_p99_ms_mean": floor_p99,
            "ratio": results[name]["rps"] / floor_rps,
            "p99_ratio": results[name]["p99_ms"] / floor_p99,
        }
    return out


def table(
    results: dict[str, dict[str, Any]],
    ratios: dict[str, dict[str, float]],
    statements: dict[str, dict[str, int]],
) -> str:
    lines = [
        "| scenario | requests/s | p50 ms | p95 ms | p99 ms | errors | statements "
        "| ratio | p99 ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        errors = r["non_2xx_3xx"] + r["connect_errors"] + r["read_errors"] + r["timeouts"]
        kind = name.removeprefix("floor ").removesuffix(" (again)")
        side = "floor" if name.startswith("floor") else "tandem"
        count = statements.get(side, {}).get(kind, "")
        ratio = p99 = ""
        if name in ratios:
            ratio = f"**{ratios[name]['ratio']:.2f}**"
            p99 = f"**{ratios[name]['p99_ratio']:.2f}**"
        lines.append(
            f"| {name} | {r['rps']:,.0f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {errors} | {count} | {ratio} | {p99} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: $TANDEM_DATABASE_URL or tandem_bench")
    parser.add_argument("--instance", type=Path, default=DEFAULT_INSTANCE)
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario (≤ 60)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per scenario")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per server")
    parser.add_argument("--partners", type=int, default=400, help="partners reading homework")
    parser.add_argument("--writers", type=int, default=400, help="partners posting check-ins")
    parser.add_argument(
        "--only", choices=("homework", "checkin"), help="one hot path (with its two floors)"
    )
    parser.add_argument("--bare", action="store_true", help="also GET /hello of bare_app.py")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--output", type=Path, help="results JSON (default: bench/out/...)")
    args = parser.parse_args(argv)
    if not 1 <= args.duration <= 60 or not 0 <= args.warmup <= 10:
        parser.error("--duration must be 1..60 and --warmup 0..10 seconds")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print(f"bench.load: {WRK_HINT}", file=sys.stderr)
        return 2
    url = database_url(args.database_url)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    busy = os.getloadavg()[0]
    if busy > 1.0:
        print(f"note: the machine is busy (load average {busy:.1f}); wrk, both servers and "
              "PostgreSQL share its cores, so expect lower and noisier figures")  # fmt: skip
    # Each run its own files: runs against other data sets may be starting meanwhile.
    tokens_file, checkins_file, email = prepare_partners(
        url,
        args.instance,
        readers=args.partners,
        writers=args.writers,
        seed=args.seed,
        out_dir=OUT_DIR / f"partners-{os.getpid()}",
    )
    print(f"{tokens_file.read_text().count(chr(10))} partners read, "
          f"{checkins_file.read_text().count(chr(10))} write")  # fmt: skip
    statements = count_statements(url, args.instance, tokens_file, checkins_file)
    print(f"statements per request: {statements}")
    env = server_environ(url, args.instance)
    load = {"threads": args.threads, "connections": args.connections}
    homework = ("homework.lua", [str(tokens_file)], "")
    checkin = ("checkin.lua", [str(checkins_file)], "")
    scenarios: list[tuple[str, str, str, list[str], str]] = []
    for kind, spec in (("homework", homework), ("checkin", checkin)):
        if args.only in (None, kind):
            scenarios += [
                (f"floor {kind}", "floor", *spec),
                (kind, "tandem", *spec),
                (f"floor {kind} (again)", "floor", *spec),
            ]
    if args.bare:
        scenarios = [
            ("bare", "bare", "bare.lua", [], "/hello"),
            *scenarios,
            ("bare (again)", "bare", "bare.lua", [], "/hello"),
        ]
    results: dict[str, dict[str, Any]] = {}
    with (
        serving("bare", "bench.bare_app:app", env, args.workers) as bare,
        serving("floor", "bench.floor_app:app_from_environ()", env, args.workers) as floor,
        serving("tandem", "server:create_app()", env, args.workers) as tandem,
    ):
        servers = {"bare": bare, "floor": floor, "tandem": tandem}
        wait_ready(f"{bare}/hello", "bare")
        wait_ready(f"{floor}/healthz", "floor")
        wait_ready(f"{tandem}/healthz", "tandem")
        check_tandem(tandem, tokens_file, email)
        for name, server, script, script_args, path in scenarios:
            base = servers[server]
            if args.warmup:
                wrk(base + path, script, script_args, duration=args.warmup, **load)
            loadavg = os.getloadavg()
            results[name] = wrk(base + path, script, script_args, duration=args.duration, **load)
            r = results[name]
            r["load_average_before"] = loadavg
            print(f"  {name:<22} {r['rps']:>8,.0f} req/s  p50 {r['p50_ms']:.1f} ms  "
                  f"p99 {r['p99_ms']:.1f} ms  non-2xx {r['non_2xx_3xx']}  "
                  f"(load {loadavg[0]:.2f})", flush=True)  # fmt: skip
    ratios = summary(results)
    print()
    print(table(results, ratios, statements))
    print()
    for name, target in (("homework", TARGETS["homework"]), ("checkin", TARGETS["checkin"])):
        if name not in ratios:
            continue
        ratio = ratios[name]["ratio"]
        verdict = "meets" if ratio >= target else "MISSES"
        p99 = ratios[name]["p99_ratio"]
        print(f"{name}: {ratio:.2f} of its floor ({verdict} the {target:.2f} target); "
              f"p99 {p99:.2f}x the floor's")  # fmt: skip
    if "homework" in ratios:
        p99 = ratios["homework"]["p99_ratio"]
        print(f"homework p99 ratio {p99:.2f} ({'meets' if p99 <= P99_TARGET else 'MISSES'} "
              f"the ≤ {P99_TARGET} target)")  # fmt: skip
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.output or OUT_DIR / f"results-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "at": stamp,
                "cores": os.cpu_count(),
                "load_average_at_start": busy,
                "load_average_at_end": os.getloadavg(),
                "database_url": url,
                "settings": {k: str(v) for k, v in vars(args).items()},
                "statements": statements,
                "ratios": ratios,
                "results": results,
            },
            indent=2,
        )
    )
    print(f"results written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
