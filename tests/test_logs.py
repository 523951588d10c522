"""Structured logs (issue 13): TANDEM_LOG_FORMAT=json gives one JSON object per line,
one per request with its id, route template, status, duration and caller role, and
never content, tokens, invite codes, emails or query strings. X-Request-ID is taken
when sane, else made, and returned on every response."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from server.logs import configure_logging
from tests.conftest import make_app
from tests.factories import SF_CALM, Api, assign, check_in

REFLECTION = "Our secret word is marmalade and we kept it"
PARTNER_EMAIL = "very.private.partner@example.test"
REQUEST_FIELDS = {
    "time",
    "level",
    "logger",
    "message",
    "request_id",
    "route",
    "method",
    "status",
    "duration_ms",
    "role",
}


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The process's logging, configured as `tandem` does with json, into a buffer."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def _app(tmp_path: Path, database_url: str, log_format: str) -> Flask:
    return make_app(tmp_path / "instance", database_url, TANDEM_LOG_FORMAT=log_format)


@pytest.fixture
def json_client(app: Flask, clean_db: None, tmp_path: Path, database_url: str) -> FlaskClient:
    return _app(tmp_path, database_url, "json").test_client()


def lines_of(stream: io.StringIO) -> list[dict[str, Any]]:
    text = stream.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]  # each line is one object


def test_json_logs_hold_the_request_fields_and_nothing_personal(
    json_client: FlaskClient, captured: io.StringIO
) -> None:
    api = Api(json_client)
    therapist = api.therapist()
    couple = api.couple(therapist)
    code = couple["invites"][0]["code"]
    partner = api.join(code, email=PARTNER_EMAIL)
    assignment = assign(api, therapist, couple["id"])
    check_in(api, partner, assignment["id"], answers=dict(SF_CALM), reflection=REFLECTION)
    api.call("GET", "/api/v1/me", partner)
    json_client.post("/api/v1/auth/token", json={"email": PARTNER_EMAIL, "password": "wrong-pw"})
    json_client.get("/account/reset?token=query-token-secret-77")
    json_client.get("/api/v1/invites/code-in-the-path-55/accept-nope?page=1")

    entries = lines_of(captured)
    requests = [e for e in entries if e["logger"] == "tandem.request"]
    assert len(requests) >= 9
    for entry in requests:
        assert set(entry) >= REQUEST_FIELDS, entry
        assert re.fullmatch(r"[0-9a-f]{32}", entry["request_id"])
        assert isinstance(entry["duration_ms"], float | int) and entry["duration_ms"] >= 0
        assert entry["level"] == "INFO"
    seen = {(e["method"], e["route"], e["status"], e["role"]) for e in requests}
    assert ("POST", "/api/v1/invites/<code>/accept", 201, "anonymous") in seen
    assert ("POST", "/api/v1/couples", 201, "therapist") in seen
    assert ("GET", "/api/v1/me", 200, "client") in seen
    assert ("POST", "/api/v1/checkins", 201, "client") in seen
    assert ("POST", "/api/v1/auth/token", 401, "anonymous") in seen
    assert ("GET", "<unmatched>", 404, "anonymous") in seen
    assert len({e["request_id"] for e in requests}) == len(requests)

    log = captured.getvalue()
    for secret in (
        code,
        PARTNER_EMAIL,
        therapist.user["email"],
        therapist.access_token,
        therapist.refresh_token,
        partner.access_token,
        REFLECTION,
        "marmalade",
        "wrong-pw",
        "query-token-secret-77",
        "code-in-the-path-55",
        "?",  # no query string at all
    ):
        assert secret not in log, secret


def test_a_log_record_inside_a_request_carries_its_id(
    json_client: FlaskClient, captured: io.StringIO
) -> None:
    app = json_client.application

    @app.get("/test-only/log-something")
    def log_something() -> str:
        logging.getLogger("tandem.test").warning("something happened")
        return "ok"

    r = json_client.get("/test-only/log-something", headers={"X-Request-ID": "abc.DEF-123_x"})
    assert r.headers["X-Request-ID"] == "abc.DEF-123_x"
    entries = [e for e in lines_of(captured) if e["request_id"] == "abc.DEF-123_x"]
    assert [(e["logger"], e["level"]) for e in entries] == [
        ("tandem.test", "WARNING"),
        ("tandem.request", "INFO"),
    ]
    assert entries[0]["message"] == "something happened"
    assert entries[0]["route"] == "/test-only/log-something"


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("req-1.A_b", True),
        ("x" * 64, True),
        ("x" * 65, False),
        ("two words", False),
        ("a/b", False),
        ("é", False),
        ("", False),
        (None, False),
    ],
)
def test_request_ids_are_taken_when_sane_else_made(
    json_client: FlaskClient, captured: io.StringIO, given: str | None, kept: bool
) -> None:
    headers = {"X-Request-ID": given} if given is not None else {}
    for path in ("/healthz", "/api/v1/me", "/nothing-here"):  # 200, 401, 404
        r = json_client.get(path, headers=headers)
        returned = r.headers["X-Request-ID"]
        if kept:
            assert returned == given
        else:
            assert re.fullmatch(r"[0-9a-f]{32}", returned)
        logged = [e for e in lines_of(captured) if e["logger"] == "tandem.request"][-1]
        assert logged["request_id"] == returned
        assert logged["status"] == r.status_code


def test_text_logs_have_no_request_lines_but_still_return_request_ids(
    app: Flask, clean_db: None, tmp_path: Path, database_url: str
) -> None:
    """With text (the default), gunicorn's redacted access log says what a request line
    would: the app adds none."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging("text", stream=stream)
    try:
        client = _app(tmp_path, database_url, "text").test_client()
        r = client.get("/healthz")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["X-Request-ID"])
    assert "tandem.request" not in stream.getvalue()
