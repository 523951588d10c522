"""The `tandem` command line, including a real `tandem serve` on a free port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from flask import Flask

from server.seeding import DEMO_PARTNERS, DEMO_THERAPIST
from tests.factories import Api
from tests.live import read_until


def test_seed_demo_is_idempotent_and_prints_logins(app: Flask, api: Api) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed", "--demo"])
    second = runner.invoke(args=["seed", "--demo"])
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert DEMO_THERAPIST[0] in first.output and DEMO_THERAPIST[1] in first.output
    assert first.output == second.output
    therapist = api.login(DEMO_THERAPIST[0], DEMO_THERAPIST[1])
    couples = api.call("GET", "/api/v1/couples", therapist).get_json()
    assert len(couples) == 1
    assert couples[0]["status"] == "active"
    for email, password, _, _ in DEMO_PARTNERS:
        partner = api.login(email, password)
        assert partner.user["couple_id"] == couples[0]["id"]


def test_create_therapist(app: Flask, api: Api) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["create-therapist", "--email", "Cli@Example.test", "--name", "Dr. Cli"],
        input="a long password\na long password\n",
    )
    assert result.exit_code == 0, result.output
    api.login("cli@example.test", "a long password")
    again = runner.invoke(
        args=[
            "create-therapist",
            "--email",
            "cli@example.test",
            "--name",
            "Dr. Cli",
            "--password",
            "another password",
        ],
    )
    assert again.exit_code == 1
    short = runner.invoke(
        args=["create-therapist", "--email", "x@example.test", "--name", "X", "--password", "short"]
    )
    assert short.exit_code == 2
    assert "password" in short.output


def test_keys_generate_prints_a_valid_key(app: Flask) -> None:
    from cryptography.fernet import Fernet

    out = app.test_cli_runner().invoke(args=["keys", "generate"]).output.strip()
    Fernet(out.encode())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_on_a_fresh_instance_migrates_seeds_and_serves(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    env["TANDEM_INSTANCE_PATH"] = str(tmp_path / "fresh")
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from server.cli import main; main()",
            "serve",
            "--demo",
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert process.poll() is None, "tandem serve exited early"
                assert time.monotonic() < deadline, "tandem serve did not come up"
                time.sleep(0.2)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/auth/token",
            data=json.dumps({"email": DEMO_THERAPIST[0], "password": DEMO_THERAPIST[1]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as r:
            assert r.status == 200
            assert json.load(r)["token_type"] == "Bearer"
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert f"http://localhost:{port}/" in output
    assert DEMO_THERAPIST[0] in output
    assert (tmp_path / "fresh" / "tandem.sqlite3").exists()


def test_audit_prints_a_couples_trail(app: Flask, api: Api) -> None:
    from tests.factories import assign

    t = api.therapist()
    couple, _, _ = api.couple_with_partners(t)
    aid = assign(api, t, couple["id"])["id"]
    api.call("POST", f"/api/v1/assignments/{aid}/advance", t)
    other, _, _ = api.couple_with_partners(t)
    result = app.test_cli_runner().invoke(args=["audit", "--couple", couple["id"]])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    actions = [line.split()[2] for line in lines]
    assert actions == [
        "couple.created",
        "invite.accepted",
        "invite.accepted",
        "assignment.assigned",
        "assignment.advanced",
    ]
    assert t.user["email"] in lines[-1]
    assert other["id"] not in result.output


def test_keys_rotate_rekeys_checkin_fingerprints(
    app: Flask, api: Api, tmp_path: Path, database_url: str
) -> None:
    """After `keys rotate` every check-in's fingerprint is the newest key's, checkable with
    that key alone (the older one can then be removed)."""
    from cryptography.fernet import Fernet
    from sqlalchemy import select

    from server.extensions import db
    from server.models import CheckIn
    from server.services.keys import fingerprint_of_row
    from tests.conftest import make_app
    from tests.factories import assign, check_in

    t = api.therapist()
    couple, a, _ = api.couple_with_partners(t)
    aid = assign(api, t, couple["id"])["id"]
    check_in(api, a, aid, reflection="Only this one has text.")
    check_in(api, a, aid)
    new_key = Fernet.generate_key().decode()
    old_keys = ",".join(app.config["TANDEM_SETTINGS"].data_keys)
    rotated = make_app(tmp_path, database_url, TANDEM_DATA_KEYS=f"{new_key},{old_keys}")
    result = rotated.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "checkins.text_encrypted: 1 re-encrypted" in result.output
    assert "checkins.body_hash: 2 re-keyed" in result.output
    only_new = make_app(tmp_path, database_url, TANDEM_DATA_KEYS=new_key)
    with only_new.app_context():
        rows = db.session.execute(
            select(
                CheckIn.id,
                CheckIn.assignment_id,
                CheckIn.exercise,
                CheckIn.occurred_at,
                CheckIn.answers,
                CheckIn.text_encrypted,
                CheckIn.visibility,
                CheckIn.flags,
                CheckIn.body_hash,
            )
        ).all()
        assert len(rows) == 2
        for row in rows:
            assert row.body_hash == fingerprint_of_row(row)


UNREACHABLE = "postgresql+psycopg://tandem:hunter2secret@127.0.0.1:1/none?connect_timeout=2"


def _tandem(tmp_path: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    env.update(TANDEM_INSTANCE_PATH=str(tmp_path / "instance"), TANDEM_DATABASE_URL=database_url)
    return subprocess.run(
        [sys.executable, "-c", "from server.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _one_clear_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("tandem:")]
    assert len(lines) == 1, result.stderr
    assert "TANDEM_DATABASE_URL" in lines[0]
    assert "hunter2secret" not in result.stdout + result.stderr  # never the password
    return lines[0]


@pytest.mark.parametrize(
    "command", [("serve", "--port", "1"), ("db", "upgrade"), ("worker",), ("seed",)]
)
def test_an_unreachable_database_stops_start_up_with_one_line(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    line = _one_clear_line(_tandem(tmp_path, UNREACHABLE, *command))
    assert "127.0.0.1:1/none" in line


@pytest.mark.parametrize("command", [("serve", "--port", "1"), ("db", "upgrade")])
def test_a_missing_database_stops_start_up_with_one_line(
    tmp_path: Path, pg_url: str, command: tuple[str, ...]
) -> None:
    from sqlalchemy.engine import make_url

    missing = make_url(pg_url).set(
        database=f"tandem_missing_{os.getpid()}", password="hunter2secret"
    )
    line = _one_clear_line(
        _tandem(tmp_path, missing.render_as_string(hide_password=False), *command)
    )
    assert "does not exist" in line


def test_a_sqlite_file_in_a_missing_folder_stops_start_up_with_one_line(tmp_path: Path) -> None:
    line = _one_clear_line(
        _tandem(
            tmp_path, f"sqlite:///{tmp_path / 'gone' / 'tandem.sqlite3'}", "serve", "--port", "1"
        )
    )
    assert "unable to open database file" in line


def test_a_worker_started_before_the_database_is_migrated_waits_then_runs(
    tmp_path: Path,
) -> None:
    """Started beside `tandem serve` on a new database, the worker waits for the
    migrations instead of failing every job and backing off for up to 15 minutes."""
    url = f"sqlite:///{tmp_path / 'tandem.sqlite3'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    env.update(TANDEM_INSTANCE_PATH=str(tmp_path / "instance"), TANDEM_DATABASE_URL=url)
    worker = subprocess.Popen(
        [sys.executable, "-c", "from server.cli import main; main()", "worker"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        waiting = read_until(worker, "to migrate it", timeout=60)
        assert "schema is at nothing (an empty database)" in waiting
        time.sleep(2.5)  # a poll or two while nothing changes: still waiting, no job ran
        assert worker.poll() is None
        migrated = _tandem(tmp_path, url, "db", "upgrade")
        assert migrated.returncode == 0, migrated.stderr
        ran = read_until(worker, "job dispatch done", timeout=30)
        worker.send_signal(signal.SIGTERM)
        _, rest = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
    said = waiting + ran + rest
    assert worker.returncode == 0, said
    # Said once, not at every poll (neither by us nor by alembic).
    assert said.count("to migrate it") == 1, said
    assert "Context impl" not in said, said
    assert "database unavailable" not in said
    assert "Traceback" not in said


def test_a_worker_refuses_a_database_newer_than_its_code(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "tandem.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        connection.execute("INSERT INTO alembic_version VALUES ('ffffffffffff')")
    result = _tandem(tmp_path, f"sqlite:///{path}", "worker")
    assert result.returncode == 1, result.stderr
    assert "newer than this version of Tandem" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_and_worker_run_outside_the_cli_app_context() -> None:
    """Flask's CLI group pushes an app context around every command registered on
    `app.cli`; the long-running ones must not be there (issue 9, defect 1)."""
    from server import cli

    registered: list[str] = []

    class Recorder:
        def add_command(self, command: object) -> None:
            registered.append(getattr(command, "name", ""))

    class FakeApp:
        cli = Recorder()

    cli.register_commands(FakeApp())  # type: ignore[arg-type]
    assert "serve" not in registered and "worker" not in registered
    assert "seed" in registered


def test_redact_takes_secrets_out_of_access_log_fields() -> None:
    from server.cli import redact

    assert (
        redact('"POST /api/v1/invites/K7QP-XW2M/accept HTTP/1.1"')
        == '"POST /api/v1/invites/***/accept HTTP/1.1"'
    )
    assert redact("/app/verify?token=abc.def&page=2") == "/app/verify?token=***&page=2"
    assert redact("https://x.test/portal/login?next=/portal/&email=a@b.test") == (
        "https://x.test/portal/login?next=***&email=***"
    )
    assert redact("/api/v1/me/reminders?from=2026-03-01&to=2026-03-08") == (
        "/api/v1/me/reminders?from=2026-03-01&to=2026-03-08"
    )
