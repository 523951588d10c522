"""Headers that tell the truth: nothing under /api/v1 may be cached, every 401 names
its scheme (RFC 6750), the docs page has a CSP and cannot be framed; bodies that hold
nothing required may be left out; every list is paginated the same way, and a page past
the end is a 404, never a 500.

The last tests run the real `tandem serve` (gunicorn) and a real Chromium on the docs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask

from server.seeding import DEMO_THERAPIST
from server.worker import plan_pass
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.factories import Actor, Api, assign, check_in
from tests.live import LiveServer, live_server

NO_STORE = "no-store"


@pytest.fixture
def world(api: Api) -> dict[str, Any]:
    t = api.therapist()
    couple, a, b = api.couple_with_partners(t)
    assignment = assign(api, t, couple["id"])
    return {"therapist": t, "couple": couple, "a": a, "b": b, "assignment": assignment}


def assert_api_headers(headers: Any, what: str) -> None:
    assert headers.get("Cache-Control") == NO_STORE, what
    assert headers.get("X-Content-Type-Options") == "nosniff", what
    assert headers.get("X-Frame-Options") == "DENY", what


def test_every_kind_of_api_response_says_no_store(api: Api, world: dict[str, Any]) -> None:
    t: Actor = world["therapist"]
    fresh = api.couple(t)
    code = fresh["invites"][0]["code"]
    calls = {
        "200 profile": api.call("GET", "/api/v1/me", t),
        "200 tokens": api.client.post(
            "/api/v1/auth/token", json={"email": t.user["email"], "password": t.password}
        ),
        "200 refreshed tokens": api.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": t.refresh_token}
        ),
        "201 tokens of a new partner": api.client.post(
            f"/api/v1/invites/{code}/accept",
            json={
                "email": "new.partner@example.test",
                "password": "a long password",
                "name": "New",
                "timezone": "Europe/Berlin",
            },
        ),
        "200 list": api.call("GET", "/api/v1/couples", t),
        "401": api.call("GET", "/api/v1/me"),
        "403": api.call("GET", "/api/v1/couples", world["a"]),
        "404 no such route": api.call("GET", "/api/v1/nowhere", t),
        "404 no such couple": api.call("GET", "/api/v1/couples/nope", t),
        "405": api.call("DELETE", "/api/v1/auth/token"),
        "422": api.call("POST", "/api/v1/couples", t, json={"label": ""}),
        "400": api.call(
            "POST", "/api/v1/couples", t, data="{", headers={"Content-Type": "application/json"}
        ),
        "the spec": api.call("GET", "/api/v1/openapi.json"),
        "the docs": api.call("GET", "/api/v1/docs"),
        "204": api.call("POST", "/api/v1/auth/logout", world["b"]),
    }
    for what, response in calls.items():
        assert response.status_code < 500, (what, response.status_code)
        assert_api_headers(response.headers, what)
    assert calls["201 tokens of a new partner"].status_code == 201
    assert calls["200 tokens"].get_json()["access_token"]


def test_a_401_without_a_token_names_the_bearer_scheme(api: Api) -> None:
    r = api.call("GET", "/api/v1/me")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="tandem"'
    assert r.content_type == "application/problem+json"


@pytest.mark.parametrize(
    "token", ["not-a-token", "eyJzaWQiOiJ4In0.aaaa.bbbb", "x" * 300], ids=["junk", "forged", "long"]
)
def test_a_bad_token_is_invalid_token(api: Api, token: str) -> None:
    r = api.call("GET", "/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="tandem", error="invalid_token"'


def test_a_token_whose_login_ended_is_invalid_token(api: Api, world: dict[str, Any]) -> None:
    a: Actor = world["a"]
    assert api.call("POST", "/api/v1/auth/logout", a).status_code == 204
    r = api.call("GET", "/api/v1/me", a)
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    assert r.get_json()["code"] == "session_revoked"


def test_every_401_carries_a_challenge(api: Api, world: dict[str, Any]) -> None:
    """RFC 9110: a 401 always says how to authenticate, wrong passwords included."""
    t: Actor = world["therapist"]
    wrong = api.client.post(
        "/api/v1/auth/token", json={"email": t.user["email"], "password": "wrong password!"}
    )
    spent = api.client.post("/api/v1/auth/refresh", json={"refresh_token": "never-issued"})
    for r in (wrong, spent):
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"].startswith("Bearer ")


# --- bodies nobody needs to send ------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "content_type"),
    [(None, None), ("", "application/json"), ("{}", "application/json")],
    ids=["no body", "empty body", "empty object"],
)
def test_optional_bodies_may_be_left_out(
    api: Api, world: dict[str, Any], data: str | None, content_type: str | None
) -> None:
    t: Actor = world["therapist"]
    aid = world["assignment"]["id"]
    headers = {"Content-Type": content_type} if content_type else {}

    def send(method: str, path: str, who: Actor) -> int:
        return api.call(method, path, who, data=data, headers=headers).status_code

    assert send("POST", f"/api/v1/assignments/{aid}/pause", t) == 200
    assert send("POST", f"/api/v1/assignments/{aid}/resume", t) == 200
    assert send("POST", f"/api/v1/assignments/{aid}/advance", t) == 200
    assert send("PATCH", f"/api/v1/assignments/{aid}", t) == 200
    assert send("PATCH", "/api/v1/me", world["a"]) == 200
    assert send("PUT", "/api/v1/me/reminder-settings", world["a"]) == 200
    assert send("POST", "/api/v1/auth/logout", world["b"]) == 204


# --- pagination -------------------------------------------------------------------------


def test_a_page_past_the_end_is_404_and_page_one_of_nothing_is_empty(api: Api) -> None:
    t = api.therapist()
    empty = api.call("GET", "/api/v1/couples", t)
    assert empty.status_code == 200 and empty.get_json() == []
    assert json.loads(empty.headers["X-Pagination"]) == {"total": 0, "total_pages": 0}
    past = api.call("GET", "/api/v1/couples?page=2", t)
    assert past.status_code == 404
    assert past.content_type == "application/problem+json"
    assert past.get_json()["code"] == "page_out_of_range"
    api.couple(t)
    api.couple(t)
    assert api.call("GET", "/api/v1/couples?page=2&page_size=1", t).status_code == 200
    assert api.call("GET", "/api/v1/couples?page=3&page_size=1", t).status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        f"page={10**17}",
        f"page={10**18}",
        f"page={2**63}",
        f"page_size={10**17}",
        "page=1000001",
        f"page={'9' * 5000}",
        "page=1e3",
        "page=-1",
    ],
    ids=["1e17", "1e18", "2^63", "size 1e17", "past the cap", "5000 digits", "float", "neg"],
)
def test_huge_pages_are_4xx_on_every_list(api: Api, world: dict[str, Any], query: str) -> None:
    t: Actor = world["therapist"]
    a: Actor = world["a"]
    cid = world["couple"]["id"]
    lists = [
        ("/api/v1/couples", t),
        (f"/api/v1/couples/{cid}/assignments", t),
        (f"/api/v1/couples/{cid}/checkins", t),
        ("/api/v1/alerts", t),
        ("/api/v1/exercises", t),
        ("/api/v1/programs", t),
        ("/api/v1/me/checkins", a),
        ("/api/v1/me/reminders", a),
        ("/api/v1/me/shared-checkins", a),
    ]
    for path, who in lists:
        r = api.call("GET", f"{path}?{query}", who)
        assert 400 <= r.status_code < 500, (path, r.status_code)
        assert r.content_type == "application/problem+json", path


def test_reminders_are_a_paginated_list_in_their_window(
    api: Api, app: Flask, world: dict[str, Any]
) -> None:
    a: Actor = world["a"]
    times = ["10:00", "18:00"]
    r = api.call("PUT", "/api/v1/me/reminder-settings", a, json={"times": times})
    assert r.status_code == 200, r.get_json()
    with app.app_context():
        plan_pass(datetime.now(UTC))
    everything = api.call("GET", "/api/v1/me/reminders", a)
    assert everything.status_code == 200
    total = json.loads(everything.headers["X-Pagination"])["total"]
    assert total == len(everything.get_json()) >= 2
    first = api.call("GET", "/api/v1/me/reminders?page=1&page_size=1", a)
    meta = json.loads(first.headers["X-Pagination"])
    assert len(first.get_json()) == 1
    assert meta["total"] == total and meta["total_pages"] == total and meta["next_page"] == 2
    second = api.call("GET", "/api/v1/me/reminders?page=2&page_size=1", a).get_json()
    assert second[0]["id"] != first.get_json()[0]["id"]
    assert api.call("GET", f"/api/v1/me/reminders?page={total + 1}&page_size=1", a).status_code == (
        404
    )
    # The window still applies: nothing in a window before any reminder.
    before = api.call("GET", "/api/v1/me/reminders?from=2026-01-01&to=2026-01-02", a)
    assert before.get_json() == [] and json.loads(before.headers["X-Pagination"])["total"] == 0
    check_in(api, a, world["assignment"]["id"])  # lists stay consistent after writes
    assert api.call("GET", "/api/v1/me/reminders", a).status_code == 200


# --- the real server and a real browser ------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("headers"), workers=1, demo=True) as server:
        yield server


def test_the_served_api_sends_the_same_headers(served: LiveServer) -> None:
    email, password, _ = DEMO_THERAPIST
    status, headers, body = served.request(
        "POST", "/api/v1/auth/token", body={"email": email, "password": password}
    )
    assert status == 200
    assert headers["Cache-Control"] == NO_STORE
    token = json.loads(body)["access_token"]
    status, headers, _ = served.request("GET", "/api/v1/me", headers={"Authorization": "Bearer x"})
    assert status == 401
    assert headers["Cache-Control"] == NO_STORE
    assert headers["WWW-Authenticate"] == 'Bearer realm="tandem", error="invalid_token"'
    status, headers, _ = served.request(
        "GET", "/api/v1/couples?page=99", headers={"Authorization": f"Bearer {token}"}
    )
    assert status == 404 and headers["Content-Type"] == "application/problem+json"
    status, headers, _ = served.request("GET", "/api/v1/docs")
    assert status == 200
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_swagger_ui_works_under_its_csp_in_a_real_browser(served: LiveServer) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(20_000)
            problems: list[str] = []
            page.on(
                "console",
                lambda m: problems.append(m.text) if m.type in ("error", "warning") else None,
            )
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on(
                "response",
                lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
            )
            page.goto(f"{served.base_url}/api/v1/docs")
            page.wait_for_selector(".swagger-ui .info .title")
            assert "Tandem API" in page.inner_text(".swagger-ui .info .title")
            # The operations are listed and one opens (scripts and styles really run).
            page.wait_for_selector("#operations-auth-createToken")
            page.click("#operations-auth-createToken .opblock-summary")
            page.wait_for_selector("#operations-auth-createToken .opblock-body")
            assert page.is_visible(".swagger-ui .opblock-tag-section")
            # The page must not be frameable: the browser refuses to show it in a frame.
            framing = browser.new_page()
            framing.set_content(
                f'<iframe src="{served.base_url}/api/v1/docs"></iframe>',
                wait_until="domcontentloaded",
            )
            framing.wait_for_timeout(2000)
            assert len(framing.frames) == 2
            shown = framing.frames[1]
            assert not shown.url.startswith(served.base_url) or (
                shown.query_selector(".swagger-ui") is None
            ), shown.url
        finally:
            browser.close()
    csp = [p for p in problems if "Content Security Policy" in p or "Refused to" in p]
    assert not csp, csp
    assert not problems, problems


@pytest.mark.parametrize("value", ["\u00b3", "\u0663", "\uff11", "1\u0660"])
def test_page_numbers_are_ascii_digits_only(api: Api, value: str) -> None:
    """`int()` reads superscript, Arabic-Indic and fullwidth digits; a page number is ASCII."""
    t = api.therapist()
    for name in ("page", "page_size"):
        response = api.call("GET", f"/api/v1/couples?{name}={value}", t)
        assert response.status_code == 422, (name, value)
        assert response.content_type == "application/problem+json"
