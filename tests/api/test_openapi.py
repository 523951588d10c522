"""The served OpenAPI document is valid 3.1, covers the contract, and the docs need no CDN."""

from __future__ import annotations

import re

from flask import Flask
from openapi_spec_validator import validate

from tests.factories import Api

# The routes of API.md that exist so far (method, path).
CONTRACT = [
    ("post", "/api/v1/auth/therapists"),
    ("post", "/api/v1/auth/token"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/logout"),
    ("post", "/api/v1/invites/{code}/accept"),
    ("get", "/api/v1/me"),
    ("patch", "/api/v1/me"),
    ("post", "/api/v1/couples"),
    ("get", "/api/v1/couples"),
    ("get", "/api/v1/couples/{couple_id}"),
    ("get", "/api/v1/me/export"),
    ("delete", "/api/v1/me"),
    ("get", "/api/v1/exercises"),
    ("get", "/api/v1/exercises/{slug}"),
    ("get", "/api/v1/programs"),
    ("get", "/api/v1/programs/{slug}"),
    ("post", "/api/v1/programs"),
    ("post", "/api/v1/couples/{couple_id}/assignments"),
    ("get", "/api/v1/couples/{couple_id}/assignments"),
    ("get", "/api/v1/assignments/{assignment_id}"),
    ("patch", "/api/v1/assignments/{assignment_id}"),
    ("post", "/api/v1/assignments/{assignment_id}/advance"),
    ("post", "/api/v1/assignments/{assignment_id}/pause"),
    ("post", "/api/v1/assignments/{assignment_id}/resume"),
    ("get", "/api/v1/couples/{couple_id}/progress"),
    ("get", "/api/v1/couples/{couple_id}/checkins"),
    ("get", "/api/v1/alerts"),
    ("post", "/api/v1/alerts/{alert_id}/ack"),
    ("get", "/api/v1/me/homework"),
    ("post", "/api/v1/checkins"),
    ("get", "/api/v1/me/checkins"),
    ("get", "/api/v1/checkins/{checkin_id}"),
]


def spec(api: Api) -> dict:  # type: ignore[type-arg]
    r = api.call("GET", "/api/v1/openapi.json")
    assert r.status_code == 200
    return r.get_json()  # type: ignore[no-any-return]


def test_the_spec_is_valid_openapi_3_1(api: Api) -> None:
    document = spec(api)
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_the_spec_covers_the_contract(api: Api) -> None:
    paths = spec(api)["paths"]
    for method, path in CONTRACT:
        assert method in paths.get(path, {}), f"{method.upper()} {path} missing from the spec"


def operations(document: dict) -> list[tuple[str, str, dict]]:  # type: ignore[type-arg]
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def resolve(document: dict, node: dict) -> dict:  # type: ignore[type-arg]
    while "$ref" in node:
        *_, kind, name = node["$ref"].split("/")
        node = document["components"][kind][name]
    return node


def test_protected_operations_declare_bearer_auth(api: Api) -> None:
    paths = spec(api)["paths"]
    assert paths["/api/v1/me"]["get"]["security"] == [{"bearerAuth": []}]
    # Anonymous operations say so (an empty list), rather than leave it to a default.
    assert paths["/api/v1/auth/token"]["post"]["security"] == []


def test_every_operation_has_a_summary(api: Api) -> None:
    for method, path, operation in operations(spec(api)):
        assert operation.get("summary"), f"{method.upper()} {path} has no summary"


def test_every_operation_has_a_unique_readable_operation_id(api: Api) -> None:
    ids = [operation.get("operationId") for _, _, operation in operations(spec(api))]
    assert all(ids), ids
    assert len(ids) == len(set(ids)), sorted(ids)
    assert all(re.fullmatch(r"[a-z][A-Za-z]+", i) for i in ids), ids  # type: ignore[arg-type]
    # Stable: clients generated from the spec name their methods after these.
    assert {
        "createToken",
        "listCouples",
        "getCouple",
        "createAssignment",
        "advanceAssignment",
        "listMyReminders",
        "acknowledgeAlert",
        "createProgram",
    } <= set(ids)  # type: ignore[arg-type]


def test_every_error_is_documented_as_problem_json(api: Api) -> None:
    document = spec(api)
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert {"code", "errors"} <= set(problem["properties"])
    for method, path, operation in operations(document):
        assert "default" not in operation["responses"], (method, path)  # each error is listed
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            content = resolve(document, response).get("content", {})
            assert list(content) == ["application/problem+json"], (method, path, status)
            schema = content["application/problem+json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Problem"}, (method, path, status)


def test_each_operation_lists_the_errors_it_can_answer(api: Api) -> None:
    for method, path, operation in operations(spec(api)):
        statuses = set(operation["responses"])
        where = f"{method.upper()} {path}"
        if operation["security"]:
            assert "401" in statuses, where
        else:
            assert "401" not in statuses or path.startswith("/api/v1/auth/"), where
        if "requestBody" in operation:
            assert {"400", "413", "422"} <= statuses, where
        if "{" in path:
            assert "404" in statuses, where
        if any(p["name"] == "page" for p in operation.get("parameters", [])):
            assert {"404", "422"} <= statuses, where  # a page past the end; a bad page
        assert "503" in statuses, where
    paths = spec(api)["paths"]
    # Role checks: 403 where a role is required, none where any user may call.
    assert "403" in paths["/api/v1/couples"]["post"]["responses"]
    assert "403" in paths["/api/v1/checkins"]["post"]["responses"]
    assert "403" not in paths["/api/v1/me"]["get"]["responses"]


def test_rate_limited_operations_document_429(api: Api, app: Flask) -> None:
    """Every route flask-limiter guards lists 429 (with Retry-After), and only those."""
    from flask_limiter.util import get_qualified_name

    from server.extensions import limiter

    paths = spec(api)["paths"]
    limited = set()
    for rule in app.url_map.iter_rules():
        name = get_qualified_name(app.view_functions[rule.endpoint])
        if rule.rule.startswith("/api/v1/") and limiter.limit_manager.decorated_limits(name):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            for method in rule.methods - {"HEAD", "OPTIONS"}:  # type: ignore[operator]
                limited.add((method.lower(), path))
    assert ("post", "/api/v1/auth/token") in limited
    documented = {
        (method, path)
        for method, path, operation in operations(spec(api))
        if "429" in operation["responses"]
    }
    assert documented == limited
    headers = paths["/api/v1/auth/token"]["post"]["responses"]["429"]["headers"]
    assert "Retry-After" in headers


def test_request_bodies_are_required_only_when_a_field_is(api: Api) -> None:
    document = spec(api)
    optional = set()
    for method, path, operation in operations(document):
        body = operation.get("requestBody")
        if body is None:
            continue
        schema = resolve(document, body["content"]["application/json"]["schema"])
        assert body["required"] is bool(schema.get("required")), (method, path)
        if not body["required"]:
            optional.add(f"{method.upper()} {path}")
    assert {
        "POST /api/v1/assignments/{assignment_id}/advance",
        "POST /api/v1/assignments/{assignment_id}/pause",
        "POST /api/v1/assignments/{assignment_id}/resume",
        "POST /api/v1/assignments/{assignment_id}/complete",
        "PATCH /api/v1/me",
        "PATCH /api/v1/assignments/{assignment_id}",
        "PUT /api/v1/me/reminder-settings",
    } <= optional


def test_x_pagination_is_declared_as_the_json_text_it_is(api: Api) -> None:
    document = spec(api)
    header = document["components"]["headers"]["PAGINATION"]
    assert header["schema"]["type"] == "string"
    assert header["schema"]["contentMediaType"] == "application/json"
    assert header["schema"]["contentSchema"] == {"$ref": "#/components/schemas/PaginationMetadata"}
    assert header["description"]
    lists = [
        (path, operation)
        for method, path, operation in operations(document)
        if any(p["name"] == "page" for p in operation.get("parameters", []))
    ]
    assert "/api/v1/me/reminders" in {path for path, _ in lists}
    for path, operation in lists:
        ok = operation["responses"]["200"]
        assert ok["headers"]["X-Pagination"] == {"$ref": "#/components/headers/PAGINATION"}, path
        page = next(p for p in operation["parameters"] if p["name"] == "page")
        size = next(p for p in operation["parameters"] if p["name"] == "page_size")
        assert page["schema"]["maximum"] <= 10**6, path  # page x page_size fits an OFFSET
        assert size["schema"]["maximum"] == 100, path


def test_post_programs_documents_what_it_answers(api: Api) -> None:
    """A slug already taken is 422 naming `slug` (the catalog validator's answer), as the
    spec says; 409 is left for two requests racing for one slug."""
    responses = spec(api)["paths"]["/api/v1/programs"]["post"]["responses"]
    assert "slug already taken" in responses["422"]["description"]
    assert "same moment" in responses["409"]["description"]
    t = api.therapist()
    body = {
        "slug": "my-course",
        "title": "My course",
        "stages": [
            {
                "title": "One",
                "guidance": "Go slowly.",
                "exercises": [{"exercise": "sf-1-nongenital-touch", "per_week": 2}],
            }
        ],
    }
    assert api.call("POST", "/api/v1/programs", t, json=body).status_code == 201
    again = api.call("POST", "/api/v1/programs", t, json=body)
    assert again.status_code == 422
    assert again.content_type == "application/problem+json"
    assert "slug" in again.get_json()["errors"]
    unknown = dict(body, slug="other", stages=[dict(body["stages"][0])])
    unknown["stages"][0]["exercises"] = [{"exercise": "no-such-exercise", "per_week": 1}]
    assert api.call("POST", "/api/v1/programs", t, json=unknown).status_code == 422


def test_docs_are_served_without_a_cdn(api: Api, app: Flask) -> None:
    r = api.call("GET", "/api/v1/docs")
    page = r.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets, page
    for asset in assets:
        if asset == "data:,":  # no favicon to fetch
            continue
        assert asset.startswith("/api/v1/docs/static/"), asset
        r = api.call("GET", asset)
        assert r.status_code == 200, asset
        body = r.get_data(as_text=True)
        r.close()
        if asset.endswith("tandem-docs.js"):
            assert "/api/v1/openapi.json" in body


def test_docs_page_has_a_csp_and_cannot_be_framed(api: Api) -> None:
    r = api.call("GET", "/api/v1/docs")
    csp = r.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no other origin
    assert directives["frame-ancestors"] == "'none'"
    assert r.headers["X-Frame-Options"] == "DENY"
    # No inline script for the CSP to have to allow: every <script> loads a file.
    page = r.get_data(as_text=True)
    assert "<script" in page
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), page
