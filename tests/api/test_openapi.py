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


def test_protected_operations_declare_bearer_auth(api: Api) -> None:
    paths = spec(api)["paths"]
    assert paths["/api/v1/me"]["get"]["security"] == [{"bearerAuth": []}]
    assert "security" not in paths["/api/v1/auth/token"]["post"]


def test_every_operation_has_a_summary(api: Api) -> None:
    for path, item in spec(api)["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                assert operation.get("summary"), f"{method.upper()} {path} has no summary"


def test_docs_are_served_without_a_cdn(api: Api, app: Flask) -> None:
    page = api.call("GET", "/api/v1/docs").get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets, page
    for asset in assets:
        assert asset.startswith("/api/v1/docs/static/"), asset
        r = api.call("GET", asset)
        assert r.status_code == 200, asset
        r.close()
    assert "/api/v1/openapi.json" in page
