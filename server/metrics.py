"""`GET /metrics`: Prometheus text format, for operators (docs/operations.md).

Two sources:

* **Requests**, counted in the web process that served them: a counter and a latency
  histogram by route template (the URL rule, never the raw path: invite codes and
  tokens live in paths and queries), method and status. Under `tandem serve` (gunicorn,
  several processes) prometheus-client runs in multiprocess mode: each process writes
  its values to files in `PROMETHEUS_MULTIPROC_DIR` (a private folder `tandem serve`
  creates before forking and removes at exit) and a scrape, answered by any one
  process, sums them all.
* **The database**, read at scrape time in four aggregate statements: outbox rows by
  status (reminders and emails) and the age of the oldest due row, dispatch outcomes,
  open alerts and the oldest one's age, and each worker job's last success. The worker
  is another process (or host), so its outcomes are not counted in memory: the outbox
  rows keep each outcome, and `tandem worker` writes each job's last success into
  `worker_heartbeats` (server/worker.py).

Served only when `TANDEM_METRICS_TOKEN` is set (else 404, as if the route did not
exist), and only to `Authorization: Bearer <that token>` (else 401).
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, g, request
from flask.typing import ResponseReturnValue
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select

from server.db import utcnow
from server.errors import DATABASE_UNAVAILABLE, problem
from server.extensions import db
from server.logs import route_template

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Methods outside this set are counted as "other" (a label must not take any value).
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

blp = Blueprint("metrics", __name__)

REQUESTS = Counter(
    "tandem_http_requests",
    "HTTP requests served, by route template, method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "tandem_http_request_duration_seconds",
    "Time to answer a request (commit included), by route template and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def init_app(app: Flask) -> None:
    """Count every request (after server.logs' hooks: they give the start time)."""
    app.register_blueprint(blp)

    @app.after_request
    def count_request(response: Response) -> Response:
        started = g.get("request_started")
        route = route_template()
        method = request.method if request.method in _METHODS else "other"
        REQUESTS.labels(route, method, str(response.status_code)).inc()
        if started is not None:
            LATENCY.labels(route, method).observe(time.perf_counter() - started)
        return response


@blp.get("/metrics")
def metrics() -> ResponseReturnValue:
    """Prometheus text format, behind TANDEM_METRICS_TOKEN."""
    token = current_app.config["TANDEM_SETTINGS"].metrics_token
    if token is None:
        abort(404)  # exactly as a route that does not exist
    given = request.headers.get("Authorization", "")
    scheme, _, presented = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        presented.strip().encode(), token.encode()
    ):
        return problem(
            401,
            "Metrics need the bearer token of TANDEM_METRICS_TOKEN.",
            code="unauthorized",
        )
    body = generate_latest(_process_registry()) + generate_latest(_database_registry())
    return Response(body, mimetype=None, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _process_registry() -> CollectorRegistry:
    """Request metrics: every web process's in multiprocess mode, else this one's."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


def _database_registry() -> CollectorRegistry:
    """The database's gauges; when it does not answer, only `tandem_database_up 0` (the
    request metrics are still served: a scrape never fails for the database)."""
    registry = CollectorRegistry(auto_describe=False)
    try:
        state: dict[str, Any] | None = read_database_state(utcnow())
    except DATABASE_UNAVAILABLE:
        db.session.rollback()
        log.warning("metrics: the database does not answer")
        state = None
    registry.register(DatabaseCollector(state))
    return registry


def _age(now: datetime, then: datetime | None) -> float:
    return max(0.0, (now - then).total_seconds()) if then is not None else 0.0


def read_database_state(now: datetime) -> dict[str, Any]:
    """What the database says at `now`, in five aggregate statements."""
    from server.models import Alert, OutboundEmail, Reminder, ReplanRequest, WorkerHeartbeat

    outboxes: dict[str, dict[str, int]] = {}
    oldest_due: dict[str, float] = {}
    for name, model in (("reminders", Reminder), ("emails", OutboundEmail)):
        due = case(
            ((model.status == "pending") & (model.next_attempt_at <= now), model.next_attempt_at)
        )
        rows = db.session.execute(
            select(model.status, func.count(), func.min(due)).group_by(model.status)
        ).all()
        outboxes[name] = {status: count for status, count, _ in rows}
        oldest = [when for _, _, when in rows if when is not None]
        oldest_due[name] = _age(now, min(oldest)) if oldest else 0.0
    alert_rows = db.session.execute(
        select(Alert.kind, func.count(), func.min(Alert.created_at))
        .where(Alert.acknowledged_at.is_(None))
        .group_by(Alert.kind)
    ).all()
    heartbeats = db.session.execute(
        select(WorkerHeartbeat.job, WorkerHeartbeat.last_success_at)
    ).all()
    replans, oldest_replan = db.session.execute(
        select(func.count(), func.min(ReplanRequest.requested_at))
    ).one()
    db.session.rollback()  # read only: end the transaction
    return {
        "outboxes": outboxes,
        "oldest_due": oldest_due,
        "alerts": {kind: (count, _age(now, oldest)) for kind, count, oldest in alert_rows},
        "heartbeats": {job: when.timestamp() for job, when in heartbeats},
        "replans": (replans, _age(now, oldest_replan)),
    }


# Statuses after which an outbox row is never tried again.
OUTCOMES = {"reminders": ("sent", "failed", "dropped", "cancelled"), "emails": ("sent", "failed")}


class DatabaseCollector(Collector):
    """Gauges of one scrape's `read_database_state`."""

    def __init__(self, state: dict[str, Any] | None) -> None:
        self.state = state

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from server.models import EMAIL_STATUSES, REMINDER_STATUSES

        yield GaugeMetricFamily(
            "tandem_database_up",
            "1 when this scrape could read the database, else 0 (then no database gauges).",
            value=0 if self.state is None else 1,
        )
        if self.state is None:
            return

        rows = GaugeMetricFamily(
            "tandem_outbox_rows", "Outbox rows by outbox and status.", labels=["outbox", "status"]
        )
        outcomes = GaugeMetricFamily(
            "tandem_dispatch_outcomes",
            "Outbox rows that reached a final status (sent, failed, dropped, cancelled), "
            "from the database: rows deleted with an account leave the count.",
            labels=["outbox", "outcome"],
        )
        due = GaugeMetricFamily(
            "tandem_outbox_oldest_due_age_seconds",
            "Age of the oldest pending row whose time has come (0 when none is due).",
            labels=["outbox"],
        )
        statuses = {"reminders": REMINDER_STATUSES, "emails": EMAIL_STATUSES}
        for outbox, counts in self.state["outboxes"].items():
            for status in sorted(set(statuses[outbox]) | set(counts)):
                rows.add_metric([outbox, status], counts.get(status, 0))
            for outcome in OUTCOMES[outbox]:
                outcomes.add_metric([outbox, outcome], counts.get(outcome, 0))
            due.add_metric([outbox], self.state["oldest_due"][outbox])
        yield rows
        yield outcomes
        yield due

        open_alerts = GaugeMetricFamily(
            "tandem_alerts_open", "Unacknowledged alerts by kind.", labels=["kind"]
        )
        oldest_alert = GaugeMetricFamily(
            "tandem_alerts_oldest_open_age_seconds",
            "Age of the oldest unacknowledged alert of each kind (0 when none is open).",
            labels=["kind"],
        )
        alerts = self.state["alerts"]
        for kind in sorted(set(alerts) | {"safety", "risk", "inactivity"}):
            count, age = alerts.get(kind, (0, 0.0))
            open_alerts.add_metric([kind], count)
            oldest_alert.add_metric([kind], age)
        yield open_alerts
        yield oldest_alert

        last_success = GaugeMetricFamily(
            "tandem_worker_job_last_success_timestamp_seconds",
            "When each `tandem worker` job last ran successfully (Unix time).",
            labels=["job"],
        )
        for job, when in sorted(self.state["heartbeats"].items()):
            last_success.add_metric([job], when)
        yield last_success

        waiting, age = self.state["replans"]
        yield GaugeMetricFamily(
            "tandem_replan_requests",
            "Partners waiting for the worker's replan job to re-plan their reminders.",
            value=waiting,
        )
        yield GaugeMetricFamily(
            "tandem_replan_oldest_age_seconds",
            "Age of the oldest waiting re-plan request (0 when none waits).",
            value=age,
        )
