"""Liveness and readiness probes."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from server.errors import problem
from server.extensions import db, limiter

log = logging.getLogger(__name__)
blp = Blueprint("health", __name__)


@blp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """200 while the process runs."""
    return jsonify(status="ok")


@blp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """200 when every dependency answers; 503 problem+json naming those that do not."""
    checks = {"database": _database(), "instance": _instance_folder()}
    if current_app.config["TANDEM_SETTINGS"].uses_redis:
        checks["redis"] = _redis()
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        log.warning("readiness check failed: %s", ", ".join(failed))
        names = " and ".join(failed)
        response = problem(
            503,
            f"Not ready: the {names} {'does' if len(failed) == 1 else 'do'} not answer.",
            code=f"{failed[0]}_unavailable",
            headers={"Retry-After": "5"},
        )
        # Which dependencies failed, for monitoring: {"database": "ok", "redis": "failed"}.
        body = response.get_json()
        body["checks"] = {name: "ok" if ok else "failed" for name, ok in checks.items()}
        response.set_data(current_app.json.dumps(body))
        return response
    return jsonify(status="ready", **{name: "ok" for name in checks})


def _database() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return False
    return True


def _redis() -> bool:
    """The rate-limit storage answers a PING (within its one-second socket timeout)."""
    try:
        return bool(limiter.storage.check())
    except Exception:  # any failure means "not ready"
        return False


def _instance_folder() -> bool:
    """The instance files the app relies on (default database, generated keys) exist."""
    return all(path.is_file() for path in current_app.config["TANDEM_SETTINGS"].instance_files)
