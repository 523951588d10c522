"""The `tandem` command line: serve, seed, create accounts, manage the database."""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from cryptography.fernet import Fernet
from flask import Flask, current_app, has_app_context
from flask.cli import FlaskGroup, ScriptInfo, with_appcontext
from flask_migrate import upgrade
from sqlalchemy import text

from server.config import ConfigError
from server.errors import DATABASE_UNAVAILABLE
from server.logs import configure_logging

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

log = logging.getLogger(__name__)


def _echo_err(message: str) -> None:
    click.echo(message, err=True)


def _load_app() -> Flask:
    """The app, loaded but with NO context pushed: for commands that run for long and
    give each unit of work (a request, a job run) its own context and session."""
    return click.get_current_context().ensure_object(ScriptInfo).load_app()


def _check_database() -> None:
    """Fail at start-up, not at the first request, when the database does not answer
    (main() turns the error into one line)."""
    from server.extensions import db

    db.session.execute(text("SELECT 1"))
    db.session.rollback()


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--demo", is_flag=True, help="Also create the demo therapist and couple.")
@click.option("--no-migrate", is_flag=True, help="Do not apply migrations before serving.")
def serve_command(host: str, port: int, workers: int, demo: bool, no_migrate: bool) -> None:
    """Serve Tandem with gunicorn (migrates and seeds first)."""
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host  # noqa: S104
    # Links in emails point at this server unless the operator says where people reach it.
    os.environ.setdefault("TANDEM_PUBLIC_URL", f"http://{shown}:{port}")
    # GET /metrics sums the values of every gunicorn worker: prometheus-client's
    # multiprocess mode, in a private folder of this server's own, made before the app
    # (and prometheus-client) is loaded and removed when the server stops.
    metrics_dir = tempfile.mkdtemp(prefix="tandem-metrics-")
    os.environ[MULTIPROC_ENV] = metrics_dir
    try:
        _serve(host, port, shown, workers, demo, no_migrate)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _serve(host: str, port: int, shown: str, workers: int, demo: bool, no_migrate: bool) -> None:
    from gunicorn.app.base import BaseApplication

    from server.extensions import db
    from server.seeding import seed_all

    app = _load_app()
    # Migrate and seed in a context of our own, committed and closed before the fork.
    with app.app_context():
        _check_database()
        if not no_migrate:
            upgrade()
        for line in seed_all(demo=demo):
            click.echo(line)
        db.session.commit()
        db.session.remove()
        # Each forked worker opens its own connections.
        db.engine.dispose()
    # gunicorn forks its workers from here: with a context still pushed, every request
    # of a worker would share its `g` and database session, and teardown would never run.
    if has_app_context():
        raise RuntimeError("tandem serve must not fork inside an app context")
    if workers > 1 and not app.config["TANDEM_SETTINGS"].uses_redis:
        _echo_err(
            f"tandem: warning: {workers} workers with TANDEM_RATELIMIT_STORAGE=memory:// "
            "count rate limits per worker; use redis://HOST:PORT"
        )

    json_logs = app.config["TANDEM_SETTINGS"].log_format == "json"

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            if json_logs:
                # The app logs each request itself, as JSON (server/logs.py).
                self.cfg.set("accesslog", None)
                self.cfg.set("logger_class", JsonGunicornLogger)
            else:
                self.cfg.set("accesslog", "-")
                self.cfg.set("logger_class", RedactingGunicornLogger)
            self.cfg.set("timeout", 60)
            self.cfg.set("child_exit", _child_exit)

        def load(self) -> Flask:
            return app

    click.echo(f"Tandem is running at http://{shown}:{port}/  (API docs: /api/v1/docs)")
    Server().run()


# --- logs: no secret or personal data in a log line ----------------------------------

# Path segments that are secrets: the invite code in /api/v1/invites/{code}/accept.
_SECRET_SEGMENT = re.compile(r"(/invites/)[^/?#\s\"]+")
# Query parameters that may be shown as they are; every other value is replaced
# (`?token=` of the links in emails, anything a future route adds).
SAFE_QUERY_NAMES = frozenset({"page", "page_size", "from", "to"})
_QUERY_PAIR = re.compile(r"([?&;])([^=&;#\s\"]*)=([^&;#\s\"]*)")
REDACTED = "***"


def redact(text: str) -> str:
    """`text` (a request line, path, query string or referer) without secrets."""
    text = _SECRET_SEGMENT.sub(rf"\g<1>{REDACTED}", text)
    return _QUERY_PAIR.sub(
        lambda m: (
            m.group(0) if m.group(2) in SAFE_QUERY_NAMES else f"{m.group(1)}{m.group(2)}={REDACTED}"
        ),
        text,
    )


def _gunicorn_logger() -> type:
    from gunicorn.glogging import Logger

    class Redacting(Logger):  # type: ignore[misc]
        """gunicorn's logger with secrets taken out of every access-log field."""

        def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> Any:
            atoms = super().atoms(resp, req, environ, request_time)
            return {k: redact(v) if isinstance(v, str) else v for k, v in atoms.items()}

    return Redacting


RedactingGunicornLogger = _gunicorn_logger()


def _json_gunicorn_logger() -> type:
    from gunicorn.glogging import Logger

    from server.logs import JsonFormatter

    class Json(Logger):  # type: ignore[misc]
        """gunicorn's own messages (workers booting, signals) as JSON lines too."""

        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            for handler in self.error_log.handlers:
                handler.setFormatter(JsonFormatter())

    return Json


JsonGunicornLogger = _json_gunicorn_logger()


def _child_exit(server: Any, worker: Any) -> None:
    """gunicorn's hook when a worker exits: its live gauges leave /metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


@click.command("seed")
@click.option("--demo", is_flag=True, help="Also create a demo therapist and couple.")
@with_appcontext
def seed_command(demo: bool) -> None:
    """Load the shipped content (and demo data). Safe to run again."""
    from server.extensions import db
    from server.seeding import seed_all

    for line in seed_all(demo=demo):
        click.echo(line)
    db.session.commit()


@click.command("create-therapist")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.password_option(help="At least 10 characters (asked for when not given).")
@with_appcontext
def create_therapist_command(email: str, name: str, password: str) -> None:
    """Create a therapist account (verified: it signs in at once)."""
    from server.errors import APIError
    from server.extensions import db
    from server.schemas.users import TherapistCreateSchema
    from server.services.accounts import create_therapist

    errors = TherapistCreateSchema().validate({"email": email, "name": name, "password": password})
    if errors:
        for field, messages in errors.items():
            _echo_err(f"tandem: {field}: {' '.join(messages)}")
        sys.exit(2)
    try:
        user = create_therapist(email=email, password=password, name=name)
        db.session.commit()
    except APIError as exc:
        _echo_err(f"tandem: {exc.detail}")
        sys.exit(1)
    click.echo(f"Created therapist {user.email} ({user.id}).")


@click.group("keys")
def keys_group() -> None:
    """Encryption keys for free text at rest."""


@keys_group.command("generate")
def keys_generate() -> None:
    """Print a new data key (put it first in TANDEM_DATA_KEYS to rotate)."""
    click.echo(Fernet.generate_key().decode())


@keys_group.command("rotate")
@with_appcontext
def keys_rotate() -> None:
    """Re-encrypt all stored free text, and re-key all fingerprints, with the first key
    of TANDEM_DATA_KEYS."""
    from server.services.keys import FINGERPRINT_COLUMNS, rotate_data_keys

    for column, count in rotate_data_keys().items():
        done = "re-keyed" if column in FINGERPRINT_COLUMNS else "re-encrypted"
        click.echo(f"{column}: {count} {done}")
    click.echo("Done: older keys may now be removed from TANDEM_DATA_KEYS.")


def _parse_now(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            "expected an ISO 8601 instant, e.g. 2026-03-08T19:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        raise click.BadParameter("give a time zone offset, e.g. Z or +01:00")
    return parsed.astimezone(UTC)


@click.group("reminders")
def reminders_group() -> None:
    """Plan and send reminders by hand (the worker does both on its own)."""


@reminders_group.command("plan")
@click.option("--now", "now_text", help="Plan as if it were this instant (ISO 8601).")
@with_appcontext
def reminders_plan(now_text: str | None) -> None:
    """Plan every partner's reminders for the 24 hours after NOW."""
    from server.worker import plan_pass

    result = plan_pass(_parse_now(now_text))
    click.echo(f"Planned {result['planned']} new reminders.")


@reminders_group.command("dispatch")
@click.option("--now", "now_text", help="Send what is due at this instant (ISO 8601).")
@with_appcontext
def reminders_dispatch(now_text: str | None) -> None:
    """Send the reminders that are due at NOW."""
    from server.worker import dispatch_pass

    report = dispatch_pass(_parse_now(now_text))
    click.echo(f"Dispatch: {report}")


@click.command("worker")
def worker_command() -> None:
    """Run the reminder worker (plan, dispatch, inactivity nudges) until SIGTERM."""
    from server import worker
    from server.extensions import db

    # No context for the whole run: each job run pushes its own (server/worker.py).
    app = _load_app()
    with app.app_context():
        _check_database()
        _wait_for_migrations()
        db.session.remove()
    sys.exit(worker.run(app))


SCHEMA_POLL_SECONDS = 2.0


def _wait_for_migrations(poll: float = SCHEMA_POLL_SECONDS) -> None:
    """Wait until the database's schema is the one this code was written for.

    A worker started beside `tandem serve` on a new or older database would otherwise
    fail every job on missing tables and back off for up to 15 minutes: it waits
    instead (saying so once), since `tandem serve` migrates at start. It does not
    migrate itself: two processes migrating at once would race. A database newer than
    this code stops start-up with one line."""
    from alembic.script import ScriptDirectory

    config = current_app.extensions["migrate"].migrate.get_config()
    script = ScriptDirectory.from_config(config)
    wanted = set(script.get_heads())
    known = {revision.revision for revision in script.walk_revisions()}
    # Alembic says which dialect it runs on each time it looks: not every 2 s.
    alembic_log = logging.getLogger("alembic.runtime.migration")
    quiet = alembic_log.level
    alembic_log.setLevel(logging.WARNING)
    try:
        _wait_for(wanted, known, poll)
    finally:
        alembic_log.setLevel(quiet)


def _wait_for(wanted: set[str], known: set[str], poll: float) -> None:
    """Poll the database's migration heads until they are `wanted`."""
    from alembic.runtime.migration import MigrationContext

    from server.extensions import db

    said = False
    while True:
        with db.engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
        if current == wanted:
            if said:
                log.info("worker: the database schema is at %s; starting", ", ".join(current))
            return
        unknown = current - known
        if unknown:
            raise click.ClickException(
                f"the database schema ({', '.join(sorted(unknown))}) is newer than this "
                "version of Tandem: upgrade Tandem before starting its worker"
            )
        if not said:
            log.warning(
                "worker: the database schema is at %s, this version needs %s: waiting for "
                "`tandem serve` (or `flask --app server db upgrade`) to migrate it",
                ", ".join(sorted(current)) or "nothing (an empty database)",
                ", ".join(sorted(wanted)),
            )
            said = True
        time.sleep(poll)


@click.command("audit")
@click.option("--couple", "couple_id", help="Only events about this couple.")
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@with_appcontext
def audit_command(couple_id: str | None, limit: int) -> None:
    """Print the audit trail: when, who, what, which object."""
    from server.extensions import db
    from server.models import User
    from server.services.audit import list_events

    events = list_events(couple_id=couple_id, limit=limit)
    actors = {
        user.id: user.email
        for user in db.session.query(User).filter(
            User.id.in_({e.actor_id for e in events if e.actor_id})
        )
    }
    for event in events:
        actor = actors.get(event.actor_id or "", event.actor_id or "-")
        when = event.at.strftime("%Y-%m-%dT%H:%M:%SZ")
        click.echo(
            f"{when}  {actor:<32}  {event.action:<24}  {event.object_type} {event.object_id}"
        )
    if not events:
        click.echo("No audit events.")


@click.group("catalog")
def catalog_group() -> None:
    """The exercise and program content."""


@catalog_group.command("check")
@click.argument("path", required=False, type=click.Path(file_okay=False, path_type=Path))
def catalog_check(path: Path | None) -> None:
    """Validate the catalog content (default: TANDEM_CATALOG_PATH or the shipped one) and
    list every problem. Works even when the app refuses to start because of them."""
    from exercises.catalog import check_catalog, default_catalog_path

    root = path or Path(os.environ.get("TANDEM_CATALOG_PATH") or default_catalog_path())
    problems = check_catalog(root)
    for problem in problems:
        _echo_err(str(problem))
    if problems:
        _echo_err(f"{len(problems)} problem(s) in {root}")
        sys.exit(1)
    click.echo(f"{root}: the catalog is valid.")


def register_commands(app: Flask) -> None:
    """Commands that are one unit of work: they run inside the CLI's app context."""
    for command in (
        seed_command,
        create_therapist_command,
        keys_group,
        audit_command,
        reminders_group,
    ):
        app.cli.add_command(command)


_loaded: dict[str, str] = {}


def _create_app(*_: Any) -> Flask:
    from server import create_app

    app = create_app()
    _loaded["database_url"] = app.config["TANDEM_SETTINGS"].database_url
    return app


def _database_problem(exc: BaseException) -> str:
    """One line for a database that cannot be reached: which one (no password), why."""
    from sqlalchemy.engine import make_url

    url = _loaded.get("database_url")
    where = make_url(url).render_as_string(hide_password=True) if url else "?"
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    why = lines[0] if lines else cause.__class__.__name__
    return f"tandem: cannot use the database {where} (TANDEM_DATABASE_URL): {why}"


def main() -> None:
    """Entry point of the `tandem` console script."""
    # A bad TANDEM_LOG_FORMAT is refused with one line when the app loads (server/config.py).
    configure_logging((os.environ.get("TANDEM_LOG_FORMAT") or "text").strip().lower())
    cli = FlaskGroup(
        name="tandem",
        create_app=_create_app,
        load_dotenv=False,
        set_debug_flag=False,
        help="Tandem: homework companion for couples in therapy.",
    )
    # Needs no app: it must work when the app refuses to start on broken content.
    cli.add_command(catalog_group)
    # Long-running processes: registered here, not on `app.cli`, so that the CLI pushes
    # no app context around them (Flask's group pushes one for every app command).
    cli.add_command(serve_command)
    cli.add_command(worker_command)
    try:
        cli.main(prog_name="tandem")
    except ConfigError as exc:
        _echo_err(f"tandem: configuration error: {exc}")
        sys.exit(2)
    except DATABASE_UNAVAILABLE as exc:
        _echo_err(_database_problem(exc))
        sys.exit(1)
