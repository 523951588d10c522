"""Logging in one place: `configure_logging(format)` for every `tandem` command, and the
request id and per-request log line of the web app.

`TANDEM_LOG_FORMAT=json` writes one JSON object per line on standard error for every
log record: time, level, logger, message and, inside a request, its id, route template
and method. Each request adds one line (logger `tandem.request`) with its status,
duration and the caller's role. A request line never holds the raw path, the query
string, a body, a token, an invite code or an email: only the route template
(`/api/v1/invites/<code>/accept`). With `text` (the default) gunicorn's access log,
redacted by server/cli.py, says the same.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import IO, Any

from flask import Flask, Response, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
# A request id from the caller is kept only when it is a sane token.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
REQUEST_LOGGER = "tandem.request"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
UNMATCHED_ROUTE = "<unmatched>"

request_log = logging.getLogger(REQUEST_LOGGER)


def route_template() -> str:
    """The matched URL rule (`/api/v1/couples/<couple_id>`), never the raw path."""
    rule = request.url_rule
    return rule.rule if rule is not None else UNMATCHED_ROUTE


def caller_role() -> str:
    """`therapist` or `client` once authenticated (API or portal), else `anonymous`."""
    user = g.get("user")
    if user is not None:
        return str(user.role)
    if g.get("therapist") is not None:
        return "therapist"
    return "anonymous"


class JsonFormatter(logging.Formatter):
    """One JSON object per record. Request fields come from the request being served."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        if has_request_context():
            entry["request_id"] = g.get("request_id")
            entry["route"] = route_template()
            entry["method"] = request.method
        for key in ("status", "duration_ms", "role"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(log_format: str, stream: IO[str] | None = None) -> None:
    """The root logger of this process: `text` (the default) or `json`, on standard
    error. An unknown format falls back to text (start-up then refuses it with one line,
    server/config.py)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # APScheduler logs every job run at INFO; the worker logs its own reports.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def init_app(app: Flask) -> None:
    """Request ids on every response and, with json logs, one line per request. Call
    first in create_app: its `before_request` then runs first and its `after_request`
    last (after the unit of work's commit), so the duration includes the commit."""
    log_each_request = app.config["TANDEM_SETTINGS"].log_format == "json"

    @app.before_request
    def start_request() -> None:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = given if _SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def finish_request(response: Response) -> Response:
        request_id = g.get("request_id") or uuid.uuid4().hex
        response.headers[REQUEST_ID_HEADER] = request_id
        if log_each_request:
            started = g.get("request_started")
            duration = (time.perf_counter() - started) * 1000 if started is not None else 0.0
            request_log.info(
                "request",
                extra={
                    "status": response.status_code,
                    "duration_ms": round(duration, 2),
                    "role": caller_role(),
                },
            )
        return response
