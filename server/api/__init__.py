"""The REST API under /api/v1 (flask-smorest), its OpenAPI document and docs UI.

`Blueprint` is flask-smorest's with Tandem's conventions, so that every operation's
documentation says what the server really does:

- error responses are `application/problem+json` (the `Problem` schema), and each
  operation lists the errors it can answer: 400/413/422 with a body, 422 with query
  arguments, 401 (with `WWW-Authenticate`) when it needs a token, 403 when it checks a
  role, 404 on path ids and on a page past the end, 409/410/429 where declared;
- a request body is required only when its schema has a required field;
- every operation has a stable `operationId`;
- lists are paginated in one place: `page` (1..MAX_PAGE), `page_size` (1..100), the
  `X-Pagination` header (a JSON text) and 404 for a page past the end.
"""

from __future__ import annotations

import http
import json
import re
from copy import deepcopy
from functools import wraps
from importlib import resources
from typing import Any

import marshmallow as ma
from flask import Blueprint as FlaskBlueprint
from flask import Flask, Response, current_app, request, send_from_directory
from flask_smorest import Api as SmorestApi
from flask_smorest import Blueprint as SmorestBlueprint
from flask_smorest.pagination import PaginationParameters
from flask_smorest.utils import prepare_response, resolve_schema_instance, unpack_tuple_response

from server.errors import PROBLEM_JSON, NotFound, handle_http_exception
from server.input_guard import ArgumentsParser
from server.schemas.common import AsciiInteger, PaginationMetadataSchema, ProblemSchema

API_PREFIX = "/api/v1"
# Lists answer 50 items unless `page_size` (at most 100) says otherwise.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
# Far beyond any real list, and small enough that page * page_size fits every database's
# OFFSET (a page of 10^17 used to overflow SQLite's 64-bit integers: a 500).
MAX_PAGE = 1_000_000
PAGINATION_HEADER = "X-Pagination"

# Headers of every API response (errors included): nothing here may be cached (tokens,
# health data), framed or sniffed. The docs page gets its own policy (`DOCS_CSP`).
API_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}
# Swagger UI's bundle needs no inline script (its start-up is a file of ours) and no
# other origin; it sets styles from script (allowed without 'unsafe-inline' for
# styles set through the CSSOM) and uses inline SVG/data: images.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

# Descriptions of the errors an operation answers without saying so itself.
_ERROR_DESCRIPTIONS = {
    400: "Malformed request: the body is not JSON, or its text is not valid Unicode",
    401: "No access token, or one that is invalid, expired or whose login has ended",
    403: "The caller's role may not use this operation",
    404: "Nothing here: no such object, or not the caller's",
    413: "The request body is larger than 1 MiB",
    422: "Invalid fields (`errors` names each one)",
    429: "Too many attempts: wait for `Retry-After` seconds",
    503: (
        "A service Tandem depends on (the database, the rate-limit store) does not answer: "
        "retry after `Retry-After` seconds"
    ),
}


def page_of(items: list[Any], pagination_parameters: Any) -> list[Any]:
    """One page of an in-memory list, filling the X-Pagination metadata."""
    pagination_parameters.item_count = len(items)
    start = pagination_parameters.first_item
    return items[start : start + pagination_parameters.page_size]


class PaginationQueryArgsSchema(ma.Schema):
    """`page` and `page_size` of every list (other query arguments are not ours)."""

    class Meta:
        unknown = ma.EXCLUDE

    # ASCII digits only: int() would take "³" or "٣" as a page number.
    page = AsciiInteger(
        minimum=1,
        maximum=MAX_PAGE,
        load_default=1,
        validate=ma.validate.Range(min=1, max=MAX_PAGE),
        metadata={"description": "Page number, from 1"},
    )
    page_size = AsciiInteger(
        minimum=1,
        maximum=MAX_PAGE_SIZE,
        load_default=DEFAULT_PAGE_SIZE,
        validate=ma.validate.Range(min=1, max=MAX_PAGE_SIZE),
        metadata={"description": f"Items per page (default {DEFAULT_PAGE_SIZE})"},
    )

    @ma.post_load
    def make_paginator(self, data: dict[str, int], **kwargs: Any) -> PaginationParameters:
        return PaginationParameters(**data)


def pagination_metadata(page: int, page_size: int, item_count: int) -> dict[str, int]:
    """The X-Pagination metadata (flask-smorest's shape)."""
    meta: dict[str, int] = {"total": item_count}
    pages = (item_count + page_size - 1) // page_size
    meta["total_pages"] = pages
    if pages:
        meta.update(first_page=1, last_page=pages, page=page)
        if page > 1:
            meta["previous_page"] = page - 1
        if page < pages:
            meta["next_page"] = page + 1
    return meta


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


_VERBS = {"get": "get", "post": "create", "put": "replace", "patch": "update", "delete": "delete"}


def _operation_id(obj: Any, method: str, paginated: bool) -> str:
    """`createToken` for a view function, `listCouples`/`getCouple`/`updateMe` for a
    MethodView (its class name without `Item`/`View`)."""
    if not isinstance(obj, type):
        return _camel(obj.__name__)
    name = re.sub(r"(Item|View)$", "", obj.__name__)
    verb = "list" if paginated else _VERBS[method]
    return verb + name


class Blueprint(SmorestBlueprint):
    """flask-smorest's Blueprint documenting Tandem's conventions (see the module)."""

    ARGUMENTS_PARSER = ArgumentsParser()  # the body server.input_guard parsed and checked

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._prepare_doc_cbks.append(self._prepare_tandem_doc)

    def add_url_rule(  # type: ignore[no-untyped-def]
        self, rule, endpoint=None, view_func=None, provide_automatic_options=None, **options
    ):
        before = set(self._docs)
        super().add_url_rule(rule, endpoint, view_func, provide_automatic_options, **options)
        for endpoint_docs in (self._docs[e] for e in set(self._docs) - before):
            for method, doc in endpoint_docs.items():
                if method == "parameters":
                    continue
                doc["tandem"] = {
                    "path_ids": "<" in rule,
                    "operation_id": _operation_id(view_func, method, "pagination" in doc),
                }

    def arguments(self, schema: Any, *, location: str = "json", **kwargs: Any) -> Any:
        """As flask-smorest's; a JSON body is required only if a field of it is."""
        if location == "json" and "required" not in kwargs:
            instance = resolve_schema_instance(schema)
            kwargs["required"] = any(f.required for f in instance.fields.values())
        return super().arguments(schema, location=location, **kwargs)

    def paginate(self, pager: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        """Pagination in the view (it sets `item_count`); `page` past the end is 404."""
        if pager is not None or kwargs:
            raise TypeError("Tandem's lists take no pager or page defaults of their own")

        def decorator(func: Any) -> Any:
            @wraps(func)
            def wrapper(*args: Any, **kw: Any) -> Any:
                params = self.PAGINATION_ARGUMENTS_PARSER.parse(
                    PaginationQueryArgsSchema, request, location="query"
                )
                kw["pagination_parameters"] = params
                result, status, headers = unpack_tuple_response(
                    current_app.ensure_sync(func)(*args, **kw)
                )
                if params.item_count is None:
                    raise RuntimeError(f"item_count not set in {request.endpoint}")
                if params.page > 1 and params.first_item >= params.item_count:
                    raise NotFound(
                        "This page is past the end of the list.", code="page_out_of_range"
                    )
                headers = dict(headers or {})
                headers[PAGINATION_HEADER] = json.dumps(
                    pagination_metadata(params.page, params.page_size, params.item_count)
                )
                return result, status, headers

            wrapper._apidoc = deepcopy(getattr(wrapper, "_apidoc", {}))  # type: ignore[attr-defined]
            wrapper._apidoc["pagination"] = {  # type: ignore[attr-defined]
                "parameters": {"in": "query", "schema": PaginationQueryArgsSchema},
                "response": {422: "UNPROCESSABLE_ENTITY"},
            }
            return wrapper

        return decorator

    def _document_pagination_metadata(self, spec: Any, resp_doc: dict[str, Any]) -> None:
        resp_doc.setdefault("headers", {})[PAGINATION_HEADER] = "PAGINATION"

    def _prepare_tandem_doc(
        self, doc: dict[str, Any], doc_info: dict[str, Any], *, spec: Any, **kwargs: Any
    ) -> dict[str, Any]:
        tandem = doc_info.get("tandem", {})
        if tandem.get("operation_id"):
            doc["operationId"] = tandem["operation_id"]
        params = doc_info.get("arguments", {}).get("parameters", [])
        has_body = any(p.get("in") == "json" for p in params) or "requestBody" in doc
        has_query = "pagination" in doc_info or any(p.get("in") == "query" for p in params)
        guard = doc_info.get("login_required")
        if guard is None:
            doc["security"] = []  # anyone may call it (said, not left to a default)
        implied = {
            400: has_body,
            413: has_body,
            422: has_body or has_query,
            401: guard is not None,
            403: bool(guard and guard.get("role")),
            404: bool(tandem.get("path_ids")),
            503: True,
        }
        responses = {int(k) if str(k).isdigit() else k: v for k, v in doc["responses"].items()}
        for status, applies in implied.items():
            if applies and status not in responses:
                responses[status] = http.HTTPStatus(status).name
        if 403 in responses and isinstance(responses[403], str) and guard and guard.get("role"):
            responses[403] = _problem_response(f"Only a {guard['role']} may do this", spec)
        if "pagination" in doc_info:
            past_end = "a page past the end of the list (`page` > 1)"
            if isinstance(responses.get(404), dict):
                responses[404]["description"] += f"; or {past_end}"
            else:
                responses[404] = _problem_response(past_end[0].upper() + past_end[1:], spec)
        for status, response in responses.items():
            if isinstance(status, int) and status >= 400 and isinstance(response, dict):
                if "content" not in response:
                    response.update(_problem_response(response["description"], spec))
                if status == 401:
                    response.setdefault("headers", {})["WWW-Authenticate"] = "WWW_AUTHENTICATE"
                if status in (429, 503):
                    response.setdefault("headers", {})["Retry-After"] = "RETRY_AFTER"
        doc["responses"] = {str(k): responses[k] for k in sorted(responses, key=str)}
        return doc


# What the input guard (server.input_guard) refuses in any request, said in the spec so
# that every schema-valid request is one the server accepts.
NO_NUL = "^[^\\x00]*$"
INT64 = 2**63 - 1


def _field_limits(self: Any, field: ma.fields.Field, ret: dict[str, Any], **kwargs: Any) -> dict:
    """Strings hold no NUL character; integers fit in 64 bits (API.md, "Conventions")."""
    extra: dict[str, Any] = {}
    if isinstance(field, ma.fields.String) and "pattern" not in ret and "enum" not in ret:
        extra["pattern"] = NO_NUL
    if isinstance(field, ma.fields.Integer):
        extra["minimum"] = max(ret.get("minimum", -INT64), -INT64)
        extra["maximum"] = min(ret.get("maximum", INT64), INT64)
    return extra


def _problem_response(description: str, spec: Any) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "schema": ProblemSchema}
    prepare_response(response, spec, PROBLEM_JSON)
    return response


class Api(SmorestApi):
    """flask-smorest's Api whose errors are problem+json (handled in `server.errors`)."""

    ERROR_SCHEMA = ProblemSchema
    # Each operation lists the errors it answers; no catch-all `default`.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_error_handlers(self) -> None:
        # server.errors registers the app-wide handlers; keep smorest's off.
        pass

    def handle_http_exception(self, error):  # type: ignore[no-untyped-def]
        return handle_http_exception(error)

    def _register_responses(self) -> None:
        """Shared error responses: problem+json, described for Tandem."""
        for status in http.HTTPStatus:
            if status < 400:
                continue
            response: dict[str, Any] = {
                "description": _ERROR_DESCRIPTIONS.get(status, status.phrase),
                "schema": self.ERROR_SCHEMA,
            }
            if status == 401:
                response["headers"] = {"WWW-Authenticate": "WWW_AUTHENTICATE"}
            if status in (429, 503):
                response["headers"] = {"Retry-After": "RETRY_AFTER"}
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)

    def _register_pagination_header(self) -> None:
        """The headers our responses document: X-Pagination, WWW-Authenticate, Retry-After
        (flask-smorest registers its pagination header here; ours replaces it)."""
        self.spec.components.header(
            "PAGINATION",
            {
                "description": (
                    "Pagination metadata, a JSON text such as "
                    '`{"total": 120, "total_pages": 3, "first_page": 1, "last_page": 3, '
                    '"page": 2, "previous_page": 1, "next_page": 3}`'
                ),
                "required": True,
                "schema": {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": {"$ref": "#/components/schemas/PaginationMetadata"},
                },
            },
            lazy=True,
        )
        self.spec.components.header(
            "WWW_AUTHENTICATE",
            {
                "description": (
                    'The Bearer challenge (RFC 6750), with `error="invalid_token"` when a '
                    "token was sent but is not (or no longer) valid"
                ),
                "required": True,
                "schema": {"type": "string"},
            },
            lazy=True,
        )
        self.spec.components.header(
            "RETRY_AFTER",
            {"description": "Seconds to wait", "schema": {"type": "string"}},
            lazy=True,
        )


_docs_static = FlaskBlueprint("docs_static", __name__)

_DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Tandem API</title>
<link rel="icon" href="data:,">
<link href="{base}swagger-ui.css" rel="stylesheet" type="text/css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{base}swagger-ui-bundle.js"></script>
<script src="{base}tandem-docs.js"></script>
</body>
</html>
"""

# Swagger UI's start-up, as a file: the page's CSP allows no inline script.
_DOCS_SCRIPT = (
    'window.addEventListener("load", function () {\n'
    "  window.ui = SwaggerUIBundle({\n"
    f'    url: "{API_PREFIX}/openapi.json",\n'
    '    dom_id: "#swagger-ui",\n'
    "    validatorUrl: null,\n"
    "    deepLinking: false\n"
    "  });\n"
    "});\n"
)


@_docs_static.get(f"{API_PREFIX}/docs")
def docs_page() -> Response:
    """The interactive docs (Swagger UI from the installed package: no CDN)."""
    response = Response(_DOCS_PAGE.format(base=f"{API_PREFIX}/docs/static/"), mimetype="text/html")
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


@_docs_static.get(f"{API_PREFIX}/docs/static/<path:filename>")
def docs_static(filename: str) -> Response:
    """Swagger UI's files, served from the installed package (no CDN), and its start-up."""
    if filename == "tandem-docs.js":
        return Response(_DOCS_SCRIPT, mimetype="text/javascript")
    dist = resources.files("flask_swagger_ui") / "dist"
    return send_from_directory(str(dist), filename, max_age=3600)


def _api_headers(response: Response) -> Response:
    if request.path == API_PREFIX or request.path.startswith(f"{API_PREFIX}/"):
        for name, value in API_HEADERS.items():
            response.headers.setdefault(name, value)
    return response


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
        measures,
        reminders,
    )

    app.config.update(
        API_TITLE="Tandem API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        # The docs page is ours (`docs_page`): its start-up script is a file, for the CSP.
        OPENAPI_SWAGGER_UI_PATH=None,
    )
    # One Api per app: its OpenAPI spec registers schemas, which may happen only once.
    api = Api()
    api.init_app(
        app,
        spec_kwargs={
            "info": {
                "description": (
                    "Tandem's v1 contract. Errors are application/problem+json (RFC 9457); "
                    "every response carries `Cache-Control: no-store`."
                ),
                "license": {"name": "Proprietary", "identifier": "LicenseRef-Proprietary"},
            },
            "servers": [{"url": "/", "description": "This server"}],
        },
    )
    api.ma_plugin.converter.add_attribute_function(_field_limits)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "Access token"}
    )
    api.spec.components.schema("PaginationMetadata", schema=PaginationMetadataSchema)
    for module in (auth, invites, me, reminders, couples, assignments, checkins, alerts):
        api.register_blueprint(module.blp, url_prefix=f"{API_PREFIX}{module.PREFIX}")
    api.register_blueprint(catalog.exercises_blp, url_prefix=f"{API_PREFIX}/exercises")
    api.register_blueprint(catalog.programs_blp, url_prefix=f"{API_PREFIX}/programs")
    from server.api.shared_checkins import blp as shared_checkins_blp

    api.register_blueprint(shared_checkins_blp, url_prefix=API_PREFIX)
    api.register_blueprint(measures.blp, url_prefix=API_PREFIX)
    app.register_blueprint(_docs_static)
    app.after_request(_api_headers)


__all__ = ["API_PREFIX", "DEFAULT_PAGE_SIZE", "Blueprint", "init_app", "page_of"]
