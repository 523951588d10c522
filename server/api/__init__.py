"""The REST API under /api/v1 (flask-smorest), its OpenAPI document and docs UI."""

from __future__ import annotations

from importlib import resources
from typing import Any

from flask import Blueprint, Flask, Response, send_from_directory
from flask_smorest import Api as SmorestApi

from server.errors import handle_http_exception
from server.schemas.common import ProblemSchema

API_PREFIX = "/api/v1"
# Lists answer 50 items unless `page_size` (at most 100) says otherwise.
DEFAULT_PAGE_SIZE = 50


def page_of(items: list[Any], pagination_parameters: Any) -> list[Any]:
    """One page of an in-memory list, filling the X-Pagination metadata."""
    pagination_parameters.item_count = len(items)
    start = pagination_parameters.first_item
    return items[start : start + pagination_parameters.page_size]


class Api(SmorestApi):
    """flask-smorest's Api whose errors are problem+json (handled in `server.errors`)."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self) -> None:
        # server.errors registers the app-wide handlers; keep smorest's off.
        pass

    def handle_http_exception(self, error):  # type: ignore[no-untyped-def]
        return handle_http_exception(error)


_docs_static = Blueprint("docs_static", __name__)


@_docs_static.get(f"{API_PREFIX}/docs/static/<path:filename>")
def docs_static(filename: str) -> Response:
    """Swagger UI's files, served from the installed package (no CDN)."""
    dist = resources.files("flask_swagger_ui") / "dist"
    return send_from_directory(str(dist), filename, max_age=3600)


def init_app(app: Flask) -> None:
    from server.api import (
        alerts,
        assignments,
        auth,
        catalog,
        checkins,
        couples,
        invites,
        me,
        reminders,
    )

    app.config.update(
        API_TITLE="Tandem API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=f"{API_PREFIX}/docs/static/",
    )
    # One Api per app: its OpenAPI spec registers schemas, which may happen only once.
    api = Api()
    api.init_app(
        app,
        spec_kwargs={
            "info": {
                "description": (
                    "Tandem's v1 contract. Errors are application/problem+json (RFC 9457)."
                )
            }
        },
    )
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "Access token"}
    )
    for module in (auth, invites, me, reminders, couples, assignments, checkins, alerts):
        api.register_blueprint(module.blp, url_prefix=f"{API_PREFIX}{module.PREFIX}")
    api.register_blueprint(catalog.exercises_blp, url_prefix=f"{API_PREFIX}/exercises")
    api.register_blueprint(catalog.programs_blp, url_prefix=f"{API_PREFIX}/programs")
    from server.api.shared_checkins import blp as shared_checkins_blp

    api.register_blueprint(shared_checkins_blp, url_prefix=API_PREFIX)
    app.register_blueprint(_docs_static)
