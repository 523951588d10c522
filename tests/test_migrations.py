"""The Alembic migrations and the models describe the same schema, on every database."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from cryptography.fernet import Fernet
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, make_url, text

from server.db import render_item
from server.extensions import db
from server.services.catalog import loaded_catalog, seed_catalog
from tests.conftest import make_app
from tests.factories import SF_CALM, Api, assign, checkin_body
from tests.live import live_server


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


@pytest.fixture
def fresh_url(tmp_path: Path, database_url: str) -> Iterator[str]:
    """An empty database of the suite's kind: a new SQLite file, or on PostgreSQL a
    schema of its own in the test database."""
    if not database_url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    schema = "migration_test"
    engine = create_engine(database_url)
    reset = f"DROP SCHEMA IF EXISTS {schema} CASCADE"
    try:
        with engine.begin() as connection:
            connection.execute(text(reset))
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        url = make_url(database_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
        with engine.begin() as connection:
            connection.execute(text(reset))
    finally:
        engine.dispose()


def _unkeyed_hash(sent: dict[str, Any]) -> str:
    """What revision 0004's code stored: SHA-256 of the request as the server read it."""
    loaded = {
        "visibility": "therapist",
        "flags": {},
        **sent,
        "occurred_at": datetime.fromisoformat(sent["occurred_at"].replace("Z", "+00:00")),
    }
    canonical = json.dumps(loaded, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def test_0005_replaces_unkeyed_fingerprints_and_retries_still_match(
    tmp_path: Path, fresh_url: str
) -> None:
    """Check-ins stored with 0004's unkeyed hash: after the upgrade no such hash is left,
    and an offline retry of each still answers 200 (not 409), a changed one 409."""
    app = make_app(tmp_path, fresh_url)
    with app.app_context():
        upgrade()
        list(seed_catalog(loaded_catalog()))
        db.session.commit()
    api = Api(app.test_client())
    t = api.therapist()
    couple, a, _ = api.couple_with_partners(t)
    aid = assign(api, t, couple["id"])["id"]
    sent = [
        checkin_body(aid, answers={**SF_CALM, "reflection": "Slow."}, reflection="Tender."),
        checkin_body(aid, visibility="private", flags={"stop": True}),
        checkin_body(aid, answers={**SF_CALM, "pain": 6}, flags={"pain": True}),
        checkin_body(aid, exercise="journal-touch-reflection", answers={"distress": 1}),
    ]
    # and one whose text was encrypted with a key no longer configured
    lost = checkin_body(aid, reflection="Written under a key since lost.")
    for body in [*sent, lost]:
        assert api.call("POST", "/api/v1/checkins", a, json=body).status_code == 201
    old = {body["id"]: _unkeyed_hash(body) for body in [*sent, lost]}

    with app.app_context():
        downgrade(revision="0004")
        for checkin_id, unkeyed in old.items():
            db.session.execute(
                text("UPDATE checkins SET body_hash = :h WHERE id = :id"),
                {"h": unkeyed, "id": checkin_id},
            )
        foreign = Fernet(Fernet.generate_key()).encrypt(b'{"reflection": "x"}').decode()
        db.session.execute(
            text("UPDATE checkins SET text_encrypted = :t WHERE id = :id"),
            {"t": foreign, "id": lost["id"]},
        )
        db.session.commit()
        upgrade()
        stored = dict(db.session.execute(text("SELECT id, body_hash FROM checkins")).all())
    assert set(stored) == set(old)
    assert not set(stored.values()) & set(old.values())
    assert stored[lost["id"]] == "unverifiable"

    for body in sent:
        again = api.call("POST", "/api/v1/checkins", a, json=body)
        assert again.status_code == 200, again.get_json()
        changed = {**body, "reflection": "Not what I wrote."}
        assert api.call("POST", "/api/v1/checkins", a, json=changed).status_code == 409
    # what cannot be checked is never taken for a retry (nor stored twice)
    assert api.call("POST", "/api/v1/checkins", a, json=lost).status_code == 409


def test_0005_runs_when_tandem_serve_starts(tmp_path: Path) -> None:
    """The operator's path: an instance whose database is at 0004 with unkeyed hashes,
    upgraded by `tandem serve` at start (two gunicorn workers); a phone's offline retry
    of an old check-in then answers 200, a changed one 409."""
    instance = tmp_path / "instance"
    app = make_app(instance, f"sqlite:///{instance / 'tandem.sqlite3'}")
    with app.app_context():
        upgrade()
        list(seed_catalog(loaded_catalog()))
        db.session.commit()
    api = Api(app.test_client())
    t = api.therapist()
    couple, a, _ = api.couple_with_partners(t)
    aid = assign(api, t, couple["id"])["id"]
    body = checkin_body(aid, answers={**SF_CALM, "reflection": "Slow."}, reflection="Tender.")
    assert api.call("POST", "/api/v1/checkins", a, json=body).status_code == 201
    with app.app_context():
        downgrade(revision="0004")
        db.session.execute(
            text("UPDATE checkins SET body_hash = :h WHERE id = :id"),
            {"h": _unkeyed_hash(body), "id": body["id"]},
        )
        db.session.commit()
        db.engine.dispose()

    with live_server(instance, workers=2) as server:
        same = server.json("POST", "/api/v1/checkins", body, token=a.access_token)
        changed = {**body, "reflection": "Not what I wrote."}
        other = server.json("POST", "/api/v1/checkins", changed, token=a.access_token)
    assert same[0] == 200, (same, server.output)
    assert same[1]["reflection"] == "Tender."
    assert other[0] == 409, other
    with app.app_context():
        stored = db.session.execute(text("SELECT body_hash FROM checkins")).scalars().all()
    assert stored != [_unkeyed_hash(body)] and len(stored) == 1
