"""Tandem's Flask application."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response, g
from sqlalchemy.engine import make_url

from exercises.catalog import Catalog, load_catalog
from exercises.schema import CatalogError
from server.config import ConfigError, Settings, load_settings

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024

__all__ = ["ConfigError", "create_app"]


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. `overrides` may hold `TANDEM_*` settings (instead of the
    environment) and Flask config keys; a bad setting raises `ConfigError`."""
    overrides = dict(overrides or {})
    environ = {
        **os.environ,
        **{
            k: str(v)
            for k, v in overrides.items()
            if k.startswith("TANDEM_") and isinstance(v, str | int | Path)
        },
    }
    instance_path = Path(environ.get("TANDEM_INSTANCE_PATH") or Path.cwd() / "instance").resolve()
    settings = load_settings(instance_path, environ)

    catalog = _load_catalog(settings.catalog_path)

    app = Flask(__name__, instance_path=str(instance_path))
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep problem+json's field order
    app.config.update(
        TANDEM_SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        # No pre-ping round trip per request; connections are recycled before servers
        # (or proxies) drop idle ones.
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings),
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        RATELIMIT_ENABLED=settings.ratelimit_enabled,
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage,
        # Redis down: limited routes fail closed with 503 problem+json (server/errors.py),
        # after at most a second of waiting, instead of a 500 or no limits at all.
        RATELIMIT_STORAGE_OPTIONS=(
            {"wrap_exceptions": True, "socket_connect_timeout": 1, "socket_timeout": 1}
            if settings.uses_redis
            else {}
        ),
        RATELIMIT_HEADERS_ENABLED=True,
    )
    app.config.update(
        {
            k: v
            for k, v in overrides.items()
            if not k.startswith("TANDEM_") or k == "TANDEM_PASSWORD_PROFILE"
        }
    )

    import server.models  # noqa: F401 - every model must be mapped before first use
    from server import api, auth, crypto, errors, health, input_guard, logs, metrics, portal
    from server.db import render_item
    from server.extensions import db, limiter, migrate

    app.extensions["tandem.catalog"] = catalog
    # First: their before_request hooks run first, their after_request hooks last.
    logs.init_app(app)
    metrics.init_app(app)
    db.init_app(app)
    migrate.init_app(
        app,
        db,
        directory=str(Path(__file__).parent / "migrations"),
        render_as_batch=True,
        compare_type=True,
        render_item=render_item,
    )
    input_guard.init_app(app)  # before the rate limiter: garbage is refused uncounted
    limiter.init_app(app)
    crypto.init_app(app)
    auth.init_app(app)
    errors.init_app(app)
    api.init_app(app)
    portal.init_app(app)
    from server import partner_app  # the partners' web app at /app/ (after auth)

    partner_app.init_app(app)
    from server import account_pages  # partners' reset pages at /account/ (issue 10)

    account_pages.init_app(app)
    app.register_blueprint(health.blp)
    _register_unit_of_work(app)

    from server.cli import register_commands

    register_commands(app)
    return app


def _engine_options(settings: Settings) -> dict[str, Any]:
    """SQLAlchemy engine options. TANDEM_DATABASE_PREPARED_STATEMENTS=0 stops psycopg 3
    from preparing statements on the server (needed behind PgBouncer in transaction
    mode: the next transaction may run on another server connection)."""
    options: dict[str, Any] = {"pool_recycle": 1800}
    if (
        not settings.database_prepared_statements
        and make_url(settings.database_url).get_driver_name() == "psycopg"
    ):
        options["connect_args"] = {"prepare_threshold": None}
    return options


def _load_catalog(path: Path) -> Catalog:
    """The app refuses to start on content that does not validate (questionnaires too)."""
    from exercises.measures import load_measures

    try:
        load_measures(path)
        return load_catalog(path)
    except CatalogError as exc:
        count = len(exc.problems)
        raise ConfigError(
            "TANDEM_CATALOG_PATH",
            f"{count} problem{'s' if count != 1 else ''} in the catalog at {path}, first: "
            f"{exc.problems[0]} (run `tandem catalog check` for all)",
        ) from None


def _register_unit_of_work(app: Flask) -> None:
    """One transaction per request: commit on success, roll back on any error."""
    from server import auth
    from server.extensions import db

    @app.after_request
    def commit_or_rollback(response: Response) -> Response:
        if response.status_code >= 400:
            db.session.rollback()
            return response
        auth.record_login_use()
        # A read in autocommit (server.auth's `autocommit_reads`) committed each statement
        # as it ran: with nothing pending there is nothing to commit (teardown closes it).
        if not (g.get("autocommit_reads") and not _pending_changes(db.session)):
            db.session.commit()
        return response


def _pending_changes(session: Any) -> bool:
    return bool(session.new or session.dirty or session.deleted)
