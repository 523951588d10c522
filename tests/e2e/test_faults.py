"""Faults, on PostgreSQL, against real processes (issue 9):

- the database goes away under load (its connections cut, then refused for a few
  seconds) and comes back: `/readyz` says 503, each web worker fails at most the
  request in flight with a 503 problem+json and then serves again without a restart;
  the reminder worker logs once, backs off, resumes, and every reminder is delivered
  exactly once beyond the batch it had claimed;
- Redis (rate-limit storage) goes away: sign-in fails closed with 503 problem+json
  (never a 500), `/readyz` names Redis; Redis back, all is normal again.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask_migrate import upgrade
from sqlalchemy.engine import make_url

from server.extensions import db
from server.seeding import DEMO_THERAPIST
from tests.conftest import make_app
from tests.e2e.test_dispatch_processes import WORKER as SWEEPER
from tests.e2e.test_dispatch_processes import _fill_outbox
from tests.e2e.test_serve_live import Browser
from tests.live import LiveServer, free_port, live_server, serve_env
from tests.notifications.fake_fcm import FakeFCM, client_env

FAULT_WORKER = Path(__file__).with_name("fault_worker.py")
ROOT = Path(__file__).resolve().parents[2]
DOWN_SECONDS = 3
BATCH = 500  # what one dispatch pass claims at a time (server.worker.dispatch_pass)


# --- a PostgreSQL database of the test's own, and a hand on its switch ---------------


class Database:
    def __init__(self, server_url: str) -> None:
        self.name = f"tandem_fault_{uuid.uuid4().hex[:10]}"
        base = make_url(server_url)
        self.url = base.set(database=self.name).render_as_string(hide_password=False)
        admin = base.set(drivername="postgresql", database="postgres")
        self.admin = psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True)
        self.admin.execute(f'CREATE DATABASE "{self.name}"')

    def cut_connections(self) -> int:
        """Terminate every connection to the database (the app's); how many."""
        rows = self.admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (self.name,),
        ).fetchall()
        return len(rows)

    def refuse_connections(self) -> None:
        self.admin.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
        self.cut_connections()

    def allow_connections(self) -> None:
        self.admin.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')

    def drop(self) -> None:
        self.allow_connections()
        self.admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.admin.close()


@pytest.fixture
def database(pg_url: str) -> Iterator[Database]:
    made = Database(pg_url)
    try:
        yield made
    finally:
        made.drop()


def _problem(status: int, headers: dict[str, str], body: bytes, code: str) -> None:
    assert status == 503, (status, body[:300])
    assert headers.get("Content-Type") == "application/problem+json", headers
    assert headers.get("Retry-After"), headers
    assert json.loads(body)["code"] == code, body


def _sign_in(server: LiveServer) -> dict[str, str]:
    status, tokens = server.json(
        "POST", "/api/v1/auth/token", {"email": DEMO_THERAPIST[0], "password": DEMO_THERAPIST[1]}
    )
    assert status == 200, tokens
    return {"Authorization": f"Bearer {tokens['access_token']}"}


# --- the database goes away: web workers ---------------------------------------------


def test_web_workers_answer_503_while_the_database_is_away_then_serve_again(
    database: Database, tmp_path: Path
) -> None:
    instance = tmp_path / "instance"
    env = serve_env(instance, TANDEM_DATABASE_URL=database.url)
    seen: Counter[int] = Counter()
    with live_server(instance, workers=2, demo=True, env=env) as server:
        auth = _sign_in(server)

        def call() -> tuple[int, dict[str, str], bytes]:
            status, headers, body = server.request("GET", "/api/v1/me", headers=auth)
            seen[status] += 1
            return status, headers, body

        assert [call()[0] for _ in range(20)] == [200] * 20  # both workers hold a connection

        # 1. Every connection cut under the workers: each worker fails at most the one
        #    request that finds its connection dead (no pre-ping), then reconnects.
        assert database.cut_connections() >= 1
        after_cut = [call() for _ in range(30)]
        failed = [r for r in after_cut if r[0] != 200]
        assert len(failed) <= 2, [r[0] for r in after_cut]
        for status, headers, body in failed:
            _problem(status, headers, body, "database_unavailable")
        assert [r[0] for r in after_cut[-10:]] == [200] * 10

        # 2. The database refuses connections for a few seconds; requests keep coming.
        database.refuse_connections()
        down_until = time.monotonic() + DOWN_SECONDS
        while time.monotonic() < down_until:
            _problem(*call(), "database_unavailable")
            status, headers, body = server.request("GET", "/readyz")
            _problem(status, headers, body, "database_unavailable")
            assert json.loads(body)["checks"]["database"] == "failed"
            assert server.request("GET", "/healthz")[0] == 200
        database.allow_connections()

        # 3. Back: every request succeeds again, no restart needed.
        assert [call()[0] for _ in range(20)] == [200] * 20
        assert server.request("GET", "/readyz")[0] == 200
    assert 500 not in seen
    output = server.output
    assert output.count("Booting worker") == 2, output[-3000:]  # no worker restarted
    assert "Traceback" not in output, output[-3000:]
    assert "database_unavailable: OperationalError" in output


# --- the database goes away: the reminder worker -------------------------------------


def _worker_env(database: Database, instance: Path) -> dict[str, str]:
    env = serve_env(instance, TANDEM_DATABASE_URL=database.url)
    env["PYTHONPATH"] = str(ROOT)
    env.update(client_env())  # the workers trust the fake FCM's TLS certificate
    return env


def _counts(database: Database) -> dict[str, int]:
    with psycopg.connect(
        make_url(database.url).set(drivername="postgresql").render_as_string(hide_password=False)
    ) as connection:
        rows = connection.execute("SELECT status, count(*) FROM reminders GROUP BY status")
        return dict(rows.fetchall())


def test_the_worker_logs_once_backs_off_resumes_and_delivers_each_reminder_once(
    database: Database, tmp_path: Path
) -> None:
    instance = tmp_path / "instance"
    app = make_app(instance, database.url)
    with app.app_context():
        upgrade()
    wanted = _fill_outbox(app)
    with app.app_context():  # its connections are cut too: let it hold none
        db.session.remove()
        db.engine.dispose()
    with FakeFCM(keep_alive=True) as fake:
        worker = subprocess.Popen(
            [sys.executable, str(FAULT_WORKER), fake.url, "0.5"],
            env=_worker_env(database, instance),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 120
            while len(fake.messages) < 1500:
                assert worker.poll() is None, worker.communicate()[0][-3000:]
                assert time.monotonic() < deadline, "the worker sends nothing"
                time.sleep(0.05)
            # Under load: cut its connection, then refuse connections for a while.
            database.refuse_connections()
            at_cut = len(fake.messages)
            time.sleep(DOWN_SECONDS)  # the outage itself, in real time
            assert len(fake.messages) - at_cut <= BATCH  # at most the batch in flight
            database.allow_connections()
            # It resumes on its own: nothing pending is left, and it stops sending.
            deadline = time.monotonic() + 180
            while True:
                counts = _counts(database)
                if counts.get("pending", 0) == 0:
                    break
                assert worker.poll() is None, worker.communicate()[0][-3000:]
                assert time.monotonic() < deadline, counts
                time.sleep(0.2)
        finally:
            worker.send_signal(signal.SIGTERM)
            output = worker.communicate(timeout=60)[0]
        assert worker.returncode == 0, output[-3000:]
        # The rows it had claimed when the database went away come back after their
        # lease: a dispatcher running as if 6 minutes later sends them.
        sweeper = subprocess.run(
            [sys.executable, str(SWEEPER), fake.url, str(6 * 60)],
            env=_worker_env(database, instance),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert sweeper.returncode == 0, sweeper.stdout[-3000:] + sweeper.stderr[-3000:]
        delivered = Counter(m["data"]["reminder_id"] for m in fake.messages)
    assert set(delivered) == wanted  # none lost
    duplicates = sum(count - 1 for count in delivered.values())
    assert duplicates <= BATCH, duplicates  # at most the claimed batch, sent twice
    assert _counts(database) == {"sent": len(wanted)}
    failures = [line for line in output.splitlines() if "job dispatch failed" in line]
    assert len(failures) == 1, output[-5000:]  # logged once...
    assert "database unavailable" in failures[0] and "backing off" in failures[0]
    assert "Traceback" not in output, output[-5000:]  # ...in one line
    assert "worker: job dispatch resumed after" in output  # and it said it was back


# --- Redis goes away ------------------------------------------------------------------


class RedisServer:
    """A private Redis (never the machine's shared one on 6379) that can be killed and
    started again on the same port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self._answers():
            assert self.process.poll() is None, "redis-server exited"
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server")
def test_redis_going_away_fails_sign_in_closed_and_readyz_names_it(
    database: Database, tmp_path: Path
) -> None:
    instance = tmp_path / "instance"
    redis = RedisServer(free_port())
    env = serve_env(
        instance,
        TANDEM_DATABASE_URL=database.url,
        TANDEM_RATELIMIT_STORAGE=f"redis://127.0.0.1:{redis.port}",
    )
    credentials = {"email": DEMO_THERAPIST[0], "password": DEMO_THERAPIST[1]}
    statuses: list[int] = []

    def request(server: LiveServer, *args: Any, **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
        status, headers, body = server.request(*args, **kwargs)
        statuses.append(status)
        return status, headers, body

    redis.start()
    try:
        with live_server(instance, workers=2, demo=True, env=env) as server:
            auth = _sign_in(server)
            status, _, body = request(server, "GET", "/readyz")
            assert status == 200 and json.loads(body)["redis"] == "ok"

            redis.kill()  # Redis goes away
            for _ in range(6):  # both workers
                status, headers, body = request(
                    server, "POST", "/api/v1/auth/token", body=credentials
                )
                _problem(status, headers, body, "rate_limit_unavailable")
                status, headers, body = request(server, "GET", "/readyz")
                _problem(status, headers, body, "redis_unavailable")
                assert json.loads(body)["checks"] == {
                    "database": "ok",
                    "instance": "ok",
                    "redis": "failed",
                }
                # what is not rate limited goes on working
                assert request(server, "GET", "/api/v1/me", headers=auth)[0] == 200
            browser = Browser(server)
            _, _, page = browser.open("/portal/login")
            status, _, page = browser.open(
                "/portal/login", {**credentials, "csrf_token": browser.csrf(page)}
            )
            statuses.append(status)
            assert status == 503 and "Not available right now" in page

            redis.start()  # Redis is back on the same address
            deadline = time.monotonic() + 20
            while request(server, "POST", "/api/v1/auth/token", body=credentials)[0] != 200:
                assert time.monotonic() < deadline, "sign-in did not come back with Redis"
            assert request(server, "GET", "/readyz")[0] == 200
            assert [
                request(server, "POST", "/api/v1/auth/token", body=credentials)[0] for _ in range(4)
            ] == [200] * 4
    finally:
        redis.kill()
    assert 500 not in statuses
    assert "Traceback" not in server.output, server.output[-3000:]
