"""Liveness and readiness."""

from __future__ import annotations

import shutil
from pathlib import Path

from cryptography.fernet import Fernet
from flask.testing import FlaskClient

from tests.conftest import make_app


def test_healthz_and_readyz(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 200
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.get_json()["database"] == "ok"


def test_readyz_is_503_when_the_database_does_not_answer(tmp_path: Path) -> None:
    app = make_app(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2")
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.content_type == "application/problem+json"


def test_readyz_is_503_when_the_instance_folder_is_gone(tmp_path: Path) -> None:
    """With the default SQLite file and generated keys, the instance folder is part of
    what the app needs (issue 9, defect 6)."""
    instance = tmp_path / "instance"
    app = make_app(instance, "")  # the default: a SQLite file in the instance folder
    client = app.test_client()
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
    r = client.get("/readyz")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["instance"] == "ok"
    shutil.rmtree(instance)
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.content_type == "application/problem+json"
    assert r.get_json()["code"] == "instance_unavailable"
    assert r.get_json()["checks"]["instance"] == "failed"


def test_readyz_ignores_the_instance_folder_when_nothing_lives_there(
    tmp_path: Path, database_url: str
) -> None:
    instance = tmp_path / "instance"
    app = make_app(
        instance,
        database_url,
        TANDEM_SECRET_KEY="s" * 40,
        TANDEM_DATA_KEYS=Fernet.generate_key().decode(),
    )
    assert app.config["TANDEM_SETTINGS"].instance_files == ()
    shutil.rmtree(instance)
    assert app.test_client().get("/readyz").status_code == 200


def test_readyz_names_the_database_when_it_does_not_answer(tmp_path: Path) -> None:
    app = make_app(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2")
    r = app.test_client().get("/readyz")
    assert r.status_code == 503
    body = r.get_json()
    assert body["code"] == "database_unavailable"
    assert body["checks"]["database"] == "failed"
    assert "database" in body["detail"]
    assert r.headers["Retry-After"]
