"""Test fixtures: one app per test session on SQLite (default) or PostgreSQL.

Set TANDEM_TEST_DATABASE_URL to a PostgreSQL URL to run the same suite there; the
database is emptied and migrated at the start. Every test that uses the database starts
from empty tables. That run leaves out (deselects, and says how many) the tests that
never reach the test database: the pure packages' tests and the servers started on a
SQLite file of their own do exactly the same work on both runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import MetaData, delete, text

from notifications.mail import Email, MemoryMailer
from server import create_app
from server.extensions import db, limiter
from server.models import CATALOG_SCOPE
from server.services.catalog import loaded_catalog, seed_catalog
from server.services.mail import background_sender
from tests.factories import Api

TEST_DB_ENV = "TANDEM_TEST_DATABASE_URL"
# Settings an operator's shell might carry that must not leak into the tests.
_ISOLATE = (
    "TANDEM_DATABASE_URL",
    "TANDEM_SECRET_KEY",
    "TANDEM_DATA_KEYS",
    "TANDEM_NOTIFIER",
    "TANDEM_FIREBASE_CREDENTIALS",
    "TANDEM_ALLOW_THERAPIST_SIGNUP",
    "TANDEM_RATELIMIT_ENABLED",
    "TANDEM_RATELIMIT_STORAGE",
    "TANDEM_INSTANCE_PATH",
    "TANDEM_MAILER",
    "TANDEM_SMTP_URL",
    "TANDEM_MAIL_FROM",
    "TANDEM_PUBLIC_URL",
    "TANDEM_METRICS_TOKEN",
    "TANDEM_LOG_FORMAT",
)


def pytest_configure(config: pytest.Config) -> None:
    for name in _ISOLATE:
        os.environ.pop(name, None)


def uses_the_test_database(item: pytest.Item) -> bool:
    """The test reaches TANDEM_TEST_DATABASE_URL's database: through the `database_url`
    fixture (every app, client and `pg_url` fixture depends on it), or a parameter that
    picks PostgreSQL (a served process on a database of its own beside it)."""
    if "database_url" in getattr(item, "fixturenames", ()):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and "postgresql" in callspec.params.values()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not os.environ.get(TEST_DB_ENV):
        return
    independent = [item for item in items if not uses_the_test_database(item)]
    if independent:
        items[:] = [item for item in items if uses_the_test_database(item)]
        config.hook.pytest_deselected(items=independent)


def pytest_report_header(config: pytest.Config) -> str:
    url = os.environ.get(TEST_DB_ENV)
    if not url:
        return "database: SQLite (set TANDEM_TEST_DATABASE_URL for PostgreSQL)"
    return (
        "database: TANDEM_TEST_DATABASE_URL; the tests that never reach it are deselected "
        "(they ran on SQLite)"
    )


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get(TEST_DB_ENV)
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'tandem-test.sqlite3'}"


@pytest.fixture(scope="session")
def pg_url(database_url: str) -> str:
    """The PostgreSQL test database; tests that need one skip without it."""
    if not database_url.startswith("postgresql"):
        pytest.skip(f"needs PostgreSQL: set {TEST_DB_ENV}=postgresql+psycopg://...")
    return database_url


_made_apps: list[Flask] = []


def make_app(instance: Path, database_url: str, **overrides: Any) -> Flask:
    settings = {
        "TANDEM_INSTANCE_PATH": str(instance),
        "TANDEM_DATABASE_URL": database_url,
        "TANDEM_PASSWORD_PROFILE": "cheapest",
        "TESTING": True,
    }
    settings.update(overrides)
    app = create_app(settings)
    _made_apps.append(app)
    return app


@pytest.fixture(autouse=True)
def _dispose_extra_apps() -> Iterator[None]:
    """Close the connections of apps a test made, before they are garbage: an unclosed
    PostgreSQL connection collected later would fail whichever test runs then."""
    start = len(_made_apps)
    yield
    while len(_made_apps) > start:
        extra = _made_apps.pop()
        with extra.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[Flask]:
    app = make_app(tmp_path_factory.mktemp("instance"), database_url)
    _made_apps.remove(app)
    with app.app_context():
        _drop_everything()
        upgrade()
        list(seed_catalog(loaded_catalog()))
        db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _drop_everything() -> None:
    """Start from an empty database, whatever an earlier run left in it."""
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
            return
        meta = MetaData()
        meta.reflect(connection)
        connection.execute(text("PRAGMA foreign_keys=OFF"))
        for table in meta.sorted_tables:
            table.drop(connection)
    with db.engine.begin() as connection:
        # The connection goes back to the pool: foreign keys must be on again.
        connection.execute(text("PRAGMA foreign_keys=ON"))


@pytest.fixture
def clean_db(app: Flask) -> Iterator[None]:
    """Empty tables and rate-limit counters before each test that touches the app.

    The shipped catalog, seeded once per session, stays.
    """
    with app.app_context():
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                if table.name == "exercise_versions":
                    continue
                statement = delete(table)
                if table.name == "program_versions":
                    statement = statement.where(table.c.scope != CATALOG_SCOPE)
                connection.execute(statement)
        limiter.reset()
    yield
    with app.app_context():
        db.session.remove()


@pytest.fixture
def client(app: Flask, clean_db: None) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def api(client: FlaskClient) -> Api:
    return Api(client)


@pytest.fixture
def app_ctx(app: Flask, clean_db: None) -> Iterator[Flask]:
    with app.app_context():
        yield app


@pytest.fixture
def outbox(app: Flask, clean_db: None) -> Iterator[MemoryMailer]:
    """The app's mailer replaced by one that keeps the emails (the real outbox, the real
    background sender; only the last step, SMTP or the log, is swapped)."""
    mailer = MemoryMailer()
    previous = app.extensions.get("tandem.mailer")
    app.extensions["tandem.mailer"] = mailer
    yield mailer
    background_sender(app).wait_idle()
    if previous is None:
        app.extensions.pop("tandem.mailer", None)
    else:
        app.extensions["tandem.mailer"] = previous


def sent_emails(app: Flask, mailer: MemoryMailer, count: int) -> list[Email]:
    """The emails once the background sender has handled everything handed to it."""
    assert background_sender(app).wait_idle()
    emails = mailer.wait_for(count, timeout=0)
    assert len(emails) == count, [e.subject for e in emails]
    return emails
