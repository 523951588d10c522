"""GET /metrics (issue 13, Observability): the token rules, what a scrape says after real
requests, outbox rows, alerts and worker runs, and what it never says."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import delete, event

from server.config import ConfigError, load_settings
from server.db import utcnow
from server.extensions import db
from server.models import ReplanRequest
from tests.conftest import make_app
from tests.factories import SF_CALM, Api, assign, check_in

TOKEN = "metrics-token-for-the-tests-0123456789"


@pytest.fixture
def metrics_app(app: Flask, clean_db: None, tmp_path: Path, database_url: str) -> Flask:
    """The test database (schema and catalog from `app`) with TANDEM_METRICS_TOKEN set."""
    return make_app(tmp_path / "instance", database_url, TANDEM_METRICS_TOKEN=TOKEN)


@pytest.fixture
def metrics_client(metrics_app: Flask) -> FlaskClient:
    return metrics_app.test_client()


def scrape(client: FlaskClient) -> str:
    r = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    assert r.content_type.startswith("text/plain; version=")
    return r.get_data(as_text=True)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape: (name, labels) → value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)


# --- who may scrape -------------------------------------------------------------------


def test_metrics_is_404_when_no_token_is_configured(client: FlaskClient) -> None:
    """As if the route did not exist, even with a bearer token."""
    r = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    missing = client.get("/no-such-page")
    assert r.status_code == 404
    assert r.content_type == "application/problem+json"
    assert r.get_json() == missing.get_json()


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        f"Basic {TOKEN}",
        "Bearer ",
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN.upper()}",
    ],
)
def test_metrics_needs_the_bearer_token(metrics_client: FlaskClient, authorization: str) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    r = metrics_client.get("/metrics", headers=headers)
    assert r.status_code == 401
    assert r.content_type == "application/problem+json"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert "tandem_" not in r.get_data(as_text=True)


def test_metrics_answers_with_the_token(metrics_client: FlaskClient) -> None:
    text = scrape(metrics_client)
    assert "# TYPE tandem_http_requests_total counter" in text
    assert "# TYPE tandem_http_request_duration_seconds histogram" in text


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"TANDEM_METRICS_TOKEN": "short"}, "TANDEM_METRICS_TOKEN"),
        ({"TANDEM_METRICS_TOKEN": "long enough but has spaces in it"}, "TANDEM_METRICS_TOKEN"),
        ({"TANDEM_LOG_FORMAT": "xml"}, "TANDEM_LOG_FORMAT"),
    ],
)
def test_bad_observability_settings_are_refused(
    tmp_path: Path, environ: dict[str, str], variable: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(tmp_path, environ)
    assert refused.value.variable == variable


def test_observability_settings_default_and_parse(tmp_path: Path) -> None:
    default = load_settings(tmp_path, {})
    assert (default.metrics_token, default.log_format) == (None, "text")
    settings = load_settings(
        tmp_path, {"TANDEM_METRICS_TOKEN": f" {TOKEN} ", "TANDEM_LOG_FORMAT": "JSON"}
    )
    assert (settings.metrics_token, settings.log_format) == (TOKEN, "json")
    assert TOKEN not in repr(settings)


def test_a_short_token_stops_start_up_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    env.update(TANDEM_INSTANCE_PATH=str(tmp_path), TANDEM_METRICS_TOKEN="tooshort")
    result = subprocess.run(
        [sys.executable, "-c", "from server.cli import main; main()", "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tandem: configuration error: TANDEM_METRICS_TOKEN: too short")
    assert "tooshort" not in result.stderr


# --- what a scrape says ---------------------------------------------------------------

REFLECTION = "We laughed about the blue blanket in the kitchen"


def test_requests_are_counted_by_route_template_never_the_raw_path(
    metrics_client: FlaskClient,
) -> None:
    api = Api(metrics_client)
    before = scrape(metrics_client)
    therapist = api.therapist()
    couple = api.couple(therapist)
    code = couple["invites"][0]["code"]
    partner = api.join(code, email="private.person@example.test")
    metrics_client.get("/api/v1/no-such-thing-secret42?token=query-secret-99")
    metrics_client.get("/healthz?token=query-secret-99")
    after = scrape(metrics_client)

    route = "/api/v1/invites/<code>/accept"
    grew = value(after, "tandem_http_requests_total", route=route, method="POST", status="201")
    assert grew - value(
        before, "tandem_http_requests_total", route=route, method="POST", status="201"
    ) == pytest.approx(1)
    assert value(
        after, "tandem_http_request_duration_seconds_count", route=route, method="POST"
    ) - value(
        before, "tandem_http_request_duration_seconds_count", route=route, method="POST"
    ) == pytest.approx(1)
    unmatched = ("tandem_http_requests_total", "<unmatched>", "GET", "404")
    assert value(after, unmatched[0], route=unmatched[1], method="GET", status="404") > value(
        before, unmatched[0], route=unmatched[1], method="GET", status="404"
    )
    assert value(after, "tandem_http_requests_total", route="/healthz", method="GET", status="200")
    for secret in (
        code,
        "private.person@example.test",
        therapist.access_token,
        partner.access_token,
        "secret42",
        "query-secret-99",
        couple["id"],
    ):
        assert secret not in after


def _reminder(user_id: str, key: str, status: str, due_in: timedelta) -> object:
    from server.models import Reminder

    at = utcnow() + due_in
    return Reminder(user_id=user_id, key=key, send_at=at, next_attempt_at=at, status=status)


def test_outbox_alerts_and_worker_jobs_come_from_the_database(
    metrics_app: Flask, metrics_client: FlaskClient
) -> None:
    from server.models import OutboundEmail
    from server.worker import record_success

    api = Api(metrics_client)
    therapist = api.therapist()
    couple, a, b = api.couple_with_partners(therapist)
    assignment = assign(api, therapist, couple["id"])
    check_in(
        api, a, assignment["id"], answers={**SF_CALM, "pain": 8}, reflection=REFLECTION
    )  # a safety alert; A's reminders wait for a re-plan (a hold re-plans both)
    worker_ran = utcnow() - timedelta(minutes=3)
    with metrics_app.app_context():
        db.session.add_all(
            [
                _reminder(a.id, "m-due", "pending", -timedelta(minutes=10)),
                _reminder(a.id, "m-due-later", "pending", -timedelta(minutes=2)),
                _reminder(a.id, "m-not-yet", "pending", timedelta(hours=2)),
                _reminder(a.id, "m-sent", "sent", -timedelta(hours=1)),
                _reminder(a.id, "m-failed", "failed", -timedelta(hours=1)),
                _reminder(a.id, "m-dropped", "dropped", -timedelta(hours=1)),
                OutboundEmail(user_id=a.id, kind="password_reset", status="failed"),
            ]
        )
        db.session.execute(delete(ReplanRequest))
        db.session.add_all(
            [
                ReplanRequest(user_id=a.id, requested_at=utcnow() - timedelta(minutes=5)),
                ReplanRequest(user_id=b.id, requested_at=utcnow()),
            ]
        )
        db.session.commit()
        record_success("dispatch", worker_ran)
        record_success("dispatch", worker_ran)  # an upsert: one row per job
        db.session.remove()

    text = scrape(metrics_client)

    assert value(text, "tandem_database_up") == 1
    assert value(text, "tandem_outbox_rows", outbox="reminders", status="pending") >= 3
    assert value(text, "tandem_outbox_rows", outbox="reminders", status="sending") == 0
    assert value(text, "tandem_dispatch_outcomes", outbox="reminders", outcome="sent") == 1
    assert value(text, "tandem_dispatch_outcomes", outbox="reminders", outcome="failed") == 1
    assert value(text, "tandem_dispatch_outcomes", outbox="reminders", outcome="dropped") == 1
    assert value(text, "tandem_dispatch_outcomes", outbox="emails", outcome="failed") == 1
    age = value(text, "tandem_outbox_oldest_due_age_seconds", outbox="reminders")
    assert 600 <= age < 700  # the row due 10 minutes ago, not the later or future ones
    assert value(text, "tandem_alerts_open", kind="safety") == 1
    assert value(text, "tandem_alerts_open", kind="inactivity") == 0
    assert 0 <= value(text, "tandem_alerts_oldest_open_age_seconds", kind="safety") < 60
    assert value(
        text, "tandem_worker_job_last_success_timestamp_seconds", job="dispatch"
    ) == pytest.approx(worker_ran.timestamp(), abs=0.001)
    assert value(text, "tandem_replan_requests") == 2
    assert 300 <= value(text, "tandem_replan_oldest_age_seconds") < 360
    for secret in (REFLECTION, a.user["email"], a.id, couple["id"]):
        assert secret not in text

    # Acknowledged: the alert leaves the open count.
    alerts = api.call("GET", "/api/v1/alerts", therapist).get_json()
    r = api.call("POST", f"/api/v1/alerts/{alerts[0]['id']}/ack", therapist)
    assert r.status_code == 200, r.get_json()
    assert value(scrape(metrics_client), "tandem_alerts_open", kind="safety") == 0


def test_the_scrape_still_answers_when_the_database_does_not(tmp_path: Path) -> None:
    """Request metrics stay visible and `tandem_database_up` says 0: never a 500."""
    down = make_app(
        tmp_path,
        "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2",
        TANDEM_METRICS_TOKEN=TOKEN,
    ).test_client()
    assert down.get("/healthz").status_code == 200
    text = scrape(down)
    assert value(text, "tandem_database_up") == 0
    assert value(text, "tandem_http_requests_total", route="/healthz", method="GET", status="200")
    assert "tandem_outbox_rows" not in text


def test_the_scrape_reads_the_database_in_five_statements(
    metrics_app: Flask, metrics_client: FlaskClient
) -> None:
    with metrics_app.app_context():
        engine = db.engine
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        scrape(metrics_client)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 5, statements


def test_the_worker_records_each_jobs_last_success(metrics_app: Flask) -> None:
    """`tandem worker`'s jobs (server.worker.run) write their heartbeat after a run that
    succeeded; a run that fails writes none."""
    from server import worker
    from server.models import WorkerHeartbeat

    stop = threading.Event()
    started = utcnow()
    thread = threading.Thread(
        target=worker.run, args=(metrics_app,), kwargs={"every": {"mail": 3600}, "stop_event": stop}
    )
    thread.start()
    try:
        deadline = started + timedelta(seconds=30)
        seen = None
        while seen is None and utcnow() < deadline:
            with metrics_app.app_context():
                seen = db.session.get(WorkerHeartbeat, "mail")
                db.session.remove()
    finally:
        stop.set()
        thread.join(timeout=30)
    assert seen is not None, "the mail job wrote no heartbeat"
    assert seen.last_success_at >= started

    def broken() -> None:
        raise RuntimeError("boom")

    run = worker._in_context(metrics_app, broken, "plan")
    with pytest.raises(RuntimeError):
        run()
    with metrics_app.app_context():
        assert db.session.get(WorkerHeartbeat, "plan") is None
