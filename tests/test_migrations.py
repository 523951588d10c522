"""The Alembic migrations and the models describe the same schema, on every database."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade

from server.db import render_item
from server.extensions import db
from tests.conftest import make_app


def _diff(app: Flask) -> list[object]:
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "render_item": render_item}
        )
        return list(compare_metadata(context, db.metadata))


def test_migrations_match_the_models(app: Flask) -> None:
    """The suite's database (SQLite or PostgreSQL) was built by `upgrade()` alone."""
    assert _diff(app) == []


def test_downgrade_to_base_and_up_again(tmp_path: Path) -> None:
    app = make_app(tmp_path, f"sqlite:///{tmp_path / 'roundtrip.sqlite3'}")
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        upgrade()
    assert _diff(app) == []
