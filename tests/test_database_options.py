"""TANDEM_DATABASE_PREPARED_STATEMENTS: psycopg 3 prepares a statement on the server
after its fifth run on a connection, which PgBouncer in transaction mode (before 1.21)
cannot follow; `0` turns that off (docs/scaling.md, "Connection pooling")."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from server import ConfigError, create_app
from server.extensions import db

VARIABLE = "TANDEM_DATABASE_PREPARED_STATEMENTS"


def settings(tmp_path: Path, **env: str) -> dict[str, str]:
    return {"TANDEM_INSTANCE_PATH": str(tmp_path / "instance"), **env}


def test_on_by_default_and_a_bad_value_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(VARIABLE, raising=False)
    assert create_app(settings(tmp_path)).config["TANDEM_SETTINGS"].database_prepared_statements
    with pytest.raises(ConfigError) as raised:
        create_app(settings(tmp_path, **{VARIABLE: "sometimes"}))
    assert raised.value.variable == VARIABLE


def test_sqlite_ignores_it(tmp_path: Path) -> None:
    app = create_app(settings(tmp_path, **{VARIABLE: "0"}))
    assert "connect_args" not in app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    with app.app_context():
        try:
            assert db.session.execute(text("SELECT 1")).scalar_one() == 1
        finally:
            db.session.remove()
            db.engine.dispose()


def prepared_after_repeats(url: str, tmp_path: Path, value: str) -> int:
    """How many statements this connection holds prepared after one ran eight times."""
    app = create_app(settings(tmp_path, TANDEM_DATABASE_URL=url, **{VARIABLE: value}))
    with app.app_context():
        try:
            with db.engine.connect() as connection:
                for n in range(8):
                    connection.execute(text("SELECT CAST(:n AS integer) + 1"), {"n": n})
                return int(
                    connection.execute(
                        text("SELECT count(*) FROM pg_prepared_statements")
                    ).scalar_one()
                )
        finally:
            db.engine.dispose()


@pytest.mark.postgres
def test_postgresql_prepares_statements_only_when_allowed(pg_url: str, tmp_path: Path) -> None:
    # One transaction: even through PgBouncer all nine statements share a server connection.
    assert prepared_after_repeats(pg_url, tmp_path, "1") >= 1
    assert prepared_after_repeats(pg_url, tmp_path, "0") == 0
