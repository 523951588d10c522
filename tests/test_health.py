"""Liveness and readiness."""

from __future__ import annotations

from pathlib import Path

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
