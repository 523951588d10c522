"""Errors: our exceptions and the one place that turns every error into problem+json.

RFC 9457 bodies: `{"type","title","status","detail"}` plus `errors` (field → messages)
for validation failures and a machine-readable `code` where it helps a client.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, json
from limits.errors import StorageError
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
# Every 401 names the scheme to use (RFC 9110 § 15.5.2, RFC 6750 § 3).
BEARER_CHALLENGE = 'Bearer realm="tandem"'
# Headers worth keeping from werkzeug's own error responses.
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


class APIError(Exception):
    """Base of the errors services raise; each maps to one HTTP status."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        errors: Mapping[str, list[str]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        self.errors = dict(errors) if errors else None


class Unauthorized(APIError):
    status = 401
    code = "unauthorized"
    # RFC 6750's challenge; `InvalidToken` adds `error="invalid_token"`.
    challenge = BEARER_CHALLENGE


class InvalidToken(Unauthorized):
    """An access token was sent but is not (or no longer) valid."""

    code = "invalid_token"
    challenge = f'{BEARER_CHALLENGE}, error="invalid_token"'


class Forbidden(APIError):
    status = 403
    code = "forbidden"


class NotFound(APIError):
    status = 404
    code = "not_found"


class Conflict(APIError):
    status = 409
    code = "conflict"


class Gone(APIError):
    status = 410
    code = "gone"


class ValidationFailed(APIError):
    status = 422
    code = "validation_failed"


class InvalidTransition(Conflict):
    code = "invalid_transition"


def problem(
    status: int,
    detail: str | None = None,
    *,
    code: str | None = None,
    errors: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Build a problem+json response."""
    title = HTTPStatus(status).phrase
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    body["detail"] = detail or title
    if code:
        body["code"] = code
    if errors:
        body["errors"] = errors
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    if status == 401 and "WWW-Authenticate" not in response.headers:
        response.headers["WWW-Authenticate"] = BEARER_CHALLENGE
    return response


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Flatten marshmallow/webargs messages into `{"field.sub.0": [messages]}`.

    webargs nests them under the location (`json`, `query`); that level is dropped.
    """
    if isinstance(messages, Mapping):
        out: dict[str, list[str]] = {}
        for key, value in messages.items():
            if not prefix and key in ("json", "query", "form", "path", "headers", "files"):
                name = ""
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            for field, msgs in flatten_errors(value, name).items():
                out.setdefault(field, []).extend(msgs)
        return out
    if isinstance(messages, list | tuple):
        if all(isinstance(m, str) for m in messages):
            return {prefix or "_body": list(messages)}
        out = {}
        for m in messages:
            for field, msgs in flatten_errors(m, prefix).items():
                out.setdefault(field, []).extend(msgs)
        return out
    return {prefix or "_body": [str(messages)]}


_DETAILS = {
    400: "The request body is not valid JSON.",
    401: "Authentication is required: send a valid access token.",
    404: "There is nothing here.",
    405: "This method is not allowed here.",
    413: "The request body is too large (the limit is 1 MiB).",
    422: "Some fields are invalid.",
    429: "Too many requests; try again later.",
}


def handle_http_exception(error: HTTPException) -> Response:
    """Turn werkzeug's and webargs' HTTP errors into problem+json."""
    # An outage met outside the view (the commit, the rate limiter's after-request).
    unavailable = outage(error)
    if unavailable is not None:
        return unavailable
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    errors = None
    if status == 422 and "messages" in data:
        errors = flatten_errors(data["messages"])
    headers = {k: v for k, v in error.get_headers() if k in _KEPT_HEADERS}
    headers.update(data.get("headers") or {})
    if status >= 500:
        log.error("server error %s: %s", status, error.description)
        return problem(status, "Something went wrong on our side.", headers=headers)
    detail = _DETAILS.get(status)
    if status == 400 and "messages" not in data and error.description:
        detail = "The request could not be understood."
    if status == 429:
        detail = "Too many attempts; try again later."
    return problem(status, detail, errors=errors, headers=headers)


def handle_api_error(error: APIError) -> Response:
    challenge = getattr(error, "challenge", None)
    headers = {"WWW-Authenticate": challenge} if challenge else None
    return problem(
        error.status, error.detail, code=error.code, errors=error.errors, headers=headers
    )


# What SQLAlchemy raises when the database cannot be reached (down, refusing
# connections, a connection cut under us, the pool exhausted): a 503, not a 500.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, DisconnectionError, PoolTimeoutError)
RETRY_AFTER = "5"
# Outages of what the app depends on, each a 503 with its own code (never a 500).
_OUTAGES: tuple[tuple[tuple[type[Exception], ...], str, str], ...] = (
    (
        DATABASE_UNAVAILABLE,
        "database_unavailable",
        "The database is not available right now; try again shortly.",
    ),
    (
        # flask-limiter's storage (Redis) does not answer: limited routes fail closed.
        (StorageError,),
        "rate_limit_unavailable",
        "This is not available right now; try again shortly.",
    ),
)


def outage(error: BaseException | None) -> Response | None:
    """The 503 for an error that means a dependency is down (also when it was raised
    outside the view and wrapped in a 500), else None. Logs one line (no traceback:
    the cause is outside the code)."""
    error = getattr(error, "original_exception", None) or error
    for kinds, code, detail in _OUTAGES:
        if isinstance(error, kinds):
            log.warning("%s: %s", code, _first_line(error))
            return problem(503, detail, code=code, headers={"Retry-After": RETRY_AFTER})
    return None


def _first_line(error: BaseException) -> str:
    cause = getattr(error, "orig", None) or getattr(error, "storage_error", None) or error
    text = str(cause).strip().splitlines()
    return f"{cause.__class__.__name__}: {text[0] if text else ''}"


def handle_outage(error: Exception) -> Response:
    return outage(error) or handle_unexpected(error)


def handle_unexpected(error: Exception) -> Response:
    """Log an unexpected exception once and answer a generic 500 that leaks nothing."""
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    unavailable = outage(error)
    if unavailable is not None:
        return unavailable
    log.exception("unhandled exception")
    return problem(500, "Something went wrong on our side.")


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(APIError, handle_api_error)
    for kinds, _, _ in _OUTAGES:
        for kind in kinds:
            app.register_error_handler(kind, handle_outage)
    app.register_error_handler(Exception, handle_unexpected)
