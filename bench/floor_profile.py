"""In-process profile of a hot path, Tandem's or the floor's, over the bench data.

    .venv/bin/python -m bench.floor_profile homework --side tandem --requests 2000

Uses the tokens and check-in bodies in bench/out/profile/ (`--fresh` mints them first:
access tokens live 15 minutes), rotating over them like wrk does,
through the app's test client (no gunicorn, no wrk): what is left is the app and the
database. Prints the mean wall time per request and cProfile's top functions.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from bench.common import DEFAULT_INSTANCE, OUT_DIR, bench_app, database_url
from bench.floor_app import create_floor

FILES = OUT_DIR / "profile"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", choices=("homework", "checkin"))
    parser.add_argument("--side", choices=("tandem", "floor"), default="tandem")
    parser.add_argument("--database-url")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--fresh", action="store_true", help="mint new tokens first")
    parser.add_argument("--plain", action="store_true", help="time only, no profiler")
    args = parser.parse_args(argv)
    url = database_url(args.database_url)
    app = bench_app(url, DEFAULT_INSTANCE)
    if args.side == "floor":
        settings = app.config["TANDEM_SETTINGS"]
        app = create_floor(
            database_url=url,
            secret_key=settings.secret_key,
            data_keys=settings.data_keys,
            catalog_path=settings.catalog_path,
        )
    client = app.test_client()
    if args.fresh:
        from bench.load import prepare_partners

        prepare_partners(url, DEFAULT_INSTANCE, readers=400, writers=400, seed=7, out_dir=FILES)
    tokens = (FILES / "tokens.txt").read_text().split()
    writers = [line.split("\t", 1) for line in (FILES / "checkins.txt").read_text().splitlines()]

    def one(n: int) -> Any:
        if args.path == "homework":
            token = tokens[n % len(tokens)]
            return client.get("/api/v1/me/homework", headers={"Authorization": f"Bearer {token}"})
        token, rest = writers[n % len(writers)]
        now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        body = {"id": str(uuid.uuid4()), "occurred_at": now, **json.loads("{" + rest + "}")}
        return client.post(
            "/api/v1/checkins", json=body, headers={"Authorization": f"Bearer {token}"}
        )

    for n in range(max(len(tokens), len(writers))):  # warm: every frozen copy parsed once
        assert one(n).status_code < 300
    profiler = cProfile.Profile()
    started = time.perf_counter()
    if not args.plain:
        profiler.enable()
    for n in range(args.requests):
        one(n)
    profiler.disable()
    took = time.perf_counter() - started
    print(f"{args.side} {args.path}: {took / args.requests * 1000:.3f} ms per request "
          f"({'timed' if args.plain else 'profiled'}, {args.requests} requests)")  # fmt: skip
    if args.plain:
        return 0
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
