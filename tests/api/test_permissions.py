"""The permission matrix: every route of the app x every kind of caller → status.

The table is checked against the app's URL map, so a route added without an entry
here fails `test_every_route_is_in_the_matrix`. Later issues extend the table.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask

from tests.factories import (
    PASSWORD,
    SF_CALM,
    Actor,
    Api,
    World,
    assign,
    build_world,
    check_in,
    checkin_body,
    issue_account_token,
    unique_email,
)
from tests.portal.matrix import ACCOUNT_MATRIX, PORTAL_MATRIX

ROLES = ("anonymous", "client", "other_partner", "therapist", "other_therapist")


def actor_for(world: World, role: str) -> Actor | None:
    return {
        "anonymous": None,
        "client": world.client,
        "other_partner": world.other_client,
        "therapist": world.therapist,
        "other_therapist": world.other_therapist,
    }[role]


@dataclass(frozen=True)
class Case:
    """How to call one route, and what each caller gets."""

    rule: str
    method: str
    path: Callable[[Api, World], str]
    expect: dict[str, int]
    body: Callable[[Api, World], Any] | None = None

    @property
    def key(self) -> str:
        return f"{self.method} {self.rule}"


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(ROLES, status)


def signed_in(status: int) -> dict[str, int]:
    return {**everyone(status), "anonymous": 401}


def therapist_only(own: int, others: int = 404) -> dict[str, int]:
    """A therapist route about the main couple: clients 403, the other therapist 404."""
    return {
        "anonymous": 401,
        "client": 403,
        "other_partner": 403,
        "therapist": own,
        "other_therapist": others,
    }


def custom_program(api: Api, world: World) -> str:
    """A custom program owned by the main therapist; returns its slug."""
    slug = f"own-{uuid.uuid4().hex[:8]}"
    r = api.call("POST", "/api/v1/programs", world.therapist, json=custom_program_body(slug))
    assert r.status_code == 201, r.get_json()
    return slug


def custom_program_body(slug: str | None = None) -> dict[str, Any]:
    return {
        "slug": slug or f"own-{uuid.uuid4().hex[:8]}",
        "title": "Gentle start",
        "stages": [
            {
                "title": "Appreciate",
                "guidance": "Small and often.",
                "exercises": [{"exercise": "daily-appreciations", "per_week": 4}],
            }
        ],
    }


def measure_response_body(api: Api, world: World) -> dict[str, Any]:
    """The main couple is asked the CSI-4; a response to it."""
    r = api.call(
        "PUT",
        f"/api/v1/couples/{world.couple['id']}/measures",
        world.therapist,
        json={"schedule": [{"measure": "csi-4", "every_weeks": 1}]},
    )
    assert r.status_code == 200, r.get_json()
    answers = {"q1": 4, "q2": 4, "q3": 4, "q4": 4}
    return {"id": str(uuid.uuid4()), "measure": "csi-4", "answers": answers}


def assignment_id(api: Api, world: World, program: str = "sensate-focus-course") -> str:
    return str(assign(api, world.therapist, world.couple["id"], program)["id"])


def one_stage_assignment_id(api: Api, world: World) -> str:
    return assignment_id(api, world, custom_program(api, world))


def paused_assignment_id(api: Api, world: World) -> str:
    aid = assignment_id(api, world)
    assert api.call("POST", f"/api/v1/assignments/{aid}/pause", world.therapist).status_code == 200
    return aid


def advanced_assignment_id(api: Api, world: World) -> str:
    aid = assignment_id(api, world)
    advance = api.call("POST", f"/api/v1/assignments/{aid}/advance", world.therapist)
    assert advance.status_code == 200
    return aid


def checkin_id(api: Api, world: World, **kwargs: Any) -> str:
    return str(check_in(api, world.client, assignment_id(api, world), **kwargs)["id"])


def alert_id(api: Api, world: World) -> str:
    answers = {**SF_CALM, "pain": 8}
    check_in(api, world.client, assignment_id(api, world), answers=answers)
    alerts = api.call("GET", "/api/v1/alerts", world.therapist).get_json()
    return str(alerts[0]["id"])


def client_device_id(api: Api, world: World) -> str:
    """A device of the main couple's first partner."""
    r = api.call(
        "POST",
        "/api/v1/me/devices",
        world.client,
        json={"token": f"tok-{uuid.uuid4()}", "platform": "ios"},
    )
    return str(r.get_json()["id"])


def client_session_id(api: Api, world: World) -> str:
    """The login of the main couple's first partner (ending it is theirs alone)."""
    serializer = api.client.application.extensions["tandem.token_serializer"]
    return str(serializer.loads(world.client.access_token)["sid"])


def fresh_couple_id(api: Api, world: World) -> str:
    return str(api.couple(world.therapist)["id"])


CASES = [
    Case("/healthz", "GET", lambda a, w: "/healthz", everyone(200)),
    Case("/readyz", "GET", lambda a, w: "/readyz", everyone(200)),
    # Not configured in these tests (TANDEM_METRICS_TOKEN unset): as if it did not exist.
    # With a token, only its bearer gets in (tests/test_metrics.py).
    Case("/metrics", "GET", lambda a, w: "/metrics", everyone(404)),
    Case("/static/<path:filename>", "GET", lambda a, w: "/static/missing.css", everyone(404)),
    # The partner app's shell is public: it holds no data (that comes through /app/api/).
    Case("/app/", "GET", lambda a, w: "/app/", everyone(200)),
    Case("/app/sw.js", "GET", lambda a, w: "/app/sw.js", everyone(200)),
    Case(
        "/app/manifest.webmanifest", "GET", lambda a, w: "/app/manifest.webmanifest", everyone(200)
    ),
    Case("/app/static/<path:filename>", "GET", lambda a, w: "/app/static/app.js", everyone(200)),
    Case("/app/push-config.json", "GET", lambda a, w: "/app/push-config.json", everyone(200)),
    Case("/api/v1/openapi.json", "GET", lambda a, w: "/api/v1/openapi.json", everyone(200)),
    Case("/api/v1/docs", "GET", lambda a, w: "/api/v1/docs", everyone(200)),
    Case(
        "/api/v1/docs/static/<path:filename>",
        "GET",
        lambda a, w: "/api/v1/docs/static/swagger-ui.css",
        everyone(200),
    ),
    Case(
        "/api/v1/auth/therapists",
        "POST",
        lambda a, w: "/api/v1/auth/therapists",
        everyone(202),
        body=lambda a, w: {"email": unique_email(), "password": PASSWORD, "name": "Dr. New"},
    ),
    Case(
        "/api/v1/auth/verify-email",
        "POST",
        lambda a, w: "/api/v1/auth/verify-email",
        everyone(204),
        body=lambda a, w: {"token": issue_account_token(a, unique_email(), "verify_email")},
    ),
    Case(
        "/api/v1/auth/password-reset",
        "POST",
        lambda a, w: "/api/v1/auth/password-reset",
        everyone(202),
        body=lambda a, w: {"email": w.partner.user["email"]},
    ),
    Case(
        "/api/v1/auth/password-reset/confirm",
        "POST",
        lambda a, w: "/api/v1/auth/password-reset/confirm",
        everyone(204),
        body=lambda a, w: {
            "token": issue_account_token(a, unique_email(), "password_reset"),
            "new_password": "a brand new password",
        },
    ),
    Case(
        "/api/v1/auth/token",
        "POST",
        lambda a, w: "/api/v1/auth/token",
        everyone(200),
        body=lambda a, w: {"email": w.therapist.user["email"], "password": PASSWORD},
    ),
    Case(
        "/api/v1/auth/refresh",
        "POST",
        lambda a, w: "/api/v1/auth/refresh",
        everyone(200),
        body=lambda a, w: {"refresh_token": a.login(w.partner.user["email"]).refresh_token},
    ),
    Case("/api/v1/auth/logout", "POST", lambda a, w: "/api/v1/auth/logout", signed_in(204)),
    Case(
        "/api/v1/invites/<code>/accept",
        "POST",
        lambda a, w: f"/api/v1/invites/{a.couple(w.therapist)['invites'][0]['code']}/accept",
        everyone(201),
        body=lambda a, w: {
            "email": unique_email(),
            "password": PASSWORD,
            "name": "Kim",
            "timezone": "Europe/Paris",
        },
    ),
    Case("/api/v1/me", "GET", lambda a, w: "/api/v1/me", signed_in(200)),
    Case(
        "/api/v1/me",
        "PATCH",
        lambda a, w: "/api/v1/me",
        signed_in(200),
        body=lambda a, w: {"name": "Renamed"},
    ),
    Case("/api/v1/exercises", "GET", lambda a, w: "/api/v1/exercises", signed_in(200)),
    Case(
        "/api/v1/exercises/<slug>",
        "GET",
        lambda a, w: "/api/v1/exercises/speaker-listener",
        signed_in(200),
    ),
    Case("/api/v1/programs", "GET", lambda a, w: "/api/v1/programs", signed_in(200)),
    Case(
        "/api/v1/programs",
        "POST",
        lambda a, w: "/api/v1/programs",
        therapist_only(201, 201),
        body=lambda a, w: custom_program_body(),
    ),
    Case(
        "/api/v1/programs/<slug>",
        "GET",
        lambda a, w: f"/api/v1/programs/{custom_program(a, w)}",
        {
            "anonymous": 401,
            "client": 404,
            "other_partner": 404,
            "therapist": 200,
            "other_therapist": 404,
        },
    ),
    Case(
        "/api/v1/couples/<couple_id>/assignments",
        "GET",
        lambda a, w: f"/api/v1/couples/{w.couple['id']}/assignments",
        therapist_only(200),
    ),
    Case(
        "/api/v1/couples/<couple_id>/assignments",
        "POST",
        lambda a, w: f"/api/v1/couples/{w.couple['id']}/assignments",
        therapist_only(201),
        body=lambda a, w: {"program": "communication-foundations"},
    ),
    Case(
        "/api/v1/assignments/<assignment_id>",
        "GET",
        lambda a, w: f"/api/v1/assignments/{assignment_id(a, w)}",
        {
            "anonymous": 401,
            "client": 200,
            "other_partner": 404,
            "therapist": 200,
            "other_therapist": 404,
        },
    ),
    Case(
        "/api/v1/assignments/<assignment_id>",
        "PATCH",
        lambda a, w: f"/api/v1/assignments/{assignment_id(a, w)}",
        therapist_only(200),
        body=lambda a, w: {
            "note": "Go gently.",
            "overrides": {"sf-1-nongenital-touch": {"per_week": 2}},
        },
    ),
    Case(
        "/api/v1/assignments/<assignment_id>/advance",
        "POST",
        lambda a, w: f"/api/v1/assignments/{assignment_id(a, w)}/advance",
        therapist_only(200),
        body=lambda a, w: {"reason": "Both ready."},
    ),
    Case(
        "/api/v1/assignments/<assignment_id>/complete",
        "POST",
        lambda a, w: f"/api/v1/assignments/{one_stage_assignment_id(a, w)}/complete",
        therapist_only(200),
    ),
    Case(
        "/api/v1/assignments/<assignment_id>/pause",
        "POST",
        lambda a, w: f"/api/v1/assignments/{assignment_id(a, w)}/pause",
        therapist_only(200),
    ),
    Case(
        "/api/v1/assignments/<assignment_id>/back",
        "POST",
        lambda a, w: f"/api/v1/assignments/{advanced_assignment_id(a, w)}/back",
        therapist_only(200),
        body=lambda a, w: {"reason": "Moved on too early."},
    ),
    Case(
        "/api/v1/assignments/<assignment_id>/resume",
        "POST",
        lambda a, w: f"/api/v1/assignments/{paused_assignment_id(a, w)}/resume",
        therapist_only(200),
    ),
    Case(
        "/api/v1/couples/<couple_id>/progress",
        "GET",
        lambda a, w: f"/api/v1/couples/{w.couple['id']}/progress",
        therapist_only(200),
    ),
    Case(
        "/api/v1/couples/<couple_id>/checkins",
        "GET",
        lambda a, w: f"/api/v1/couples/{w.couple['id']}/checkins",
        therapist_only(200),
    ),
    Case(
        "/api/v1/checkins",
        "POST",
        lambda a, w: "/api/v1/checkins",
        {
            "anonymous": 401,
            "client": 201,
            "other_partner": 422,
            "therapist": 403,
            "other_therapist": 403,
        },
        body=lambda a, w: checkin_body(assignment_id(a, w)),
    ),
    Case(
        "/api/v1/checkins/<checkin_id>",
        "GET",
        lambda a, w: f"/api/v1/checkins/{checkin_id(a, w)}",
        {
            "anonymous": 401,
            "client": 200,
            "other_partner": 404,
            "therapist": 200,
            "other_therapist": 404,
        },
    ),
    Case(
        "/api/v1/me/checkins",
        "GET",
        lambda a, w: "/api/v1/me/checkins",
        {
            "anonymous": 401,
            "client": 200,
            "other_partner": 200,
            "therapist": 403,
            "other_therapist": 403,
        },
    ),
    Case(
        "/api/v1/me/shared-checkins",
        "GET",
        lambda a, w: "/api/v1/me/shared-checkins",
        {
            "anonymous": 401,
            "client": 200,
            "other_partner": 200,
            "therapist": 403,
            "other_therapist": 403,
        },
    ),
    Case(
        "/api/v1/me/homework",
        "GET",
        lambda a, w: "/api/v1/me/homework",
        {
            "anonymous": 401,
            "client": 200,
            "other_partner": 200,
            "therapist": 403,
            "other_therapist": 403,
        },
    ),
    Case("/api/v1/me/export", "GET", lambda a, w: "/api/v1/me/export", signed_in(200)),
    Case(
        "/api/v1/me",
        "DELETE",
        lambda a, w: "/api/v1/me",
        {
            "anonymous": 401,
            "client": 204,
            "other_partner": 204,
            "therapist": 409,
            "other_therapist": 204,
        },
        body=lambda a, w: {"password": PASSWORD},
    ),
    Case(
        "/api/v1/me/reminder-settings",
        "GET",
        lambda a, w: "/api/v1/me/reminder-settings",
        {
            "anonymous": 401,
            "client": 200,
            "other_partner": 200,
            "therapist": 403,
            "other_therapist": 403,
        },
    ),
    Case(
        "/api/v1/me/reminder-settings",
        "PUT",
        lambda a, w: "/api/v1/me/reminder-settings",
        {
            "anonymous": 401,
            "client": 200,
            "other_partner": 200,
            "therapist": 403,
            "other_therapist": 403,
        },
        body=lambda a, w: {"times": ["19:30"]},
    ),
    Case(
        "/api/v1/me/reminders",
        "GET",
        lambda a, w: "/api/v1/me/reminders",
        {
            "anonymous": 401,
            "client": 200,
            "other_partner": 200,
            "therapist": 403,
            "other_therapist": 403,
        },
    ),
    Case(
        "/api/v1/me/password",
        "POST",
        lambda a, w: "/api/v1/me/password",
        signed_in(204),
        body=lambda a, w: {"current_password": PASSWORD, "new_password": "another passphrase"},
    ),
    Case("/api/v1/me/sessions", "GET", lambda a, w: "/api/v1/me/sessions", signed_in(200)),
    Case("/api/v1/me/sessions", "DELETE", lambda a, w: "/api/v1/me/sessions", signed_in(204)),
    Case(
        "/api/v1/me/sessions/<session_id>",
        "DELETE",
        lambda a, w: f"/api/v1/me/sessions/{client_session_id(a, w)}",
        {
            "anonymous": 401,
            "client": 204,
            "other_partner": 404,
            "therapist": 404,
            "other_therapist": 404,
        },
    ),
    Case(
        "/api/v1/me/devices",
        "POST",
        lambda a, w: "/api/v1/me/devices",
        signed_in(201),
        body=lambda a, w: {"token": f"tok-{uuid.uuid4()}", "platform": "android"},
    ),
    Case(
        "/api/v1/me/devices/<device_id>",
        "DELETE",
        lambda a, w: f"/api/v1/me/devices/{client_device_id(a, w)}",
        {
            "anonymous": 401,
            "client": 204,
            "other_partner": 404,
            "therapist": 404,
            "other_therapist": 404,
        },
    ),
    Case("/api/v1/alerts", "GET", lambda a, w: "/api/v1/alerts", therapist_only(200, 200)),
    Case(
        "/api/v1/alerts/<alert_id>/ack",
        "POST",
        lambda a, w: f"/api/v1/alerts/{alert_id(a, w)}/ack",
        therapist_only(200),
    ),
    Case("/api/v1/couples", "GET", lambda a, w: "/api/v1/couples", therapist_only(200, 200)),
    Case(
        "/api/v1/couples",
        "POST",
        lambda a, w: "/api/v1/couples",
        therapist_only(201, 201),
        body=lambda a, w: {"label": "New couple"},
    ),
    Case(
        "/api/v1/couples/<couple_id>",
        "GET",
        lambda a, w: f"/api/v1/couples/{w.couple['id']}",
        therapist_only(200),
    ),
    Case(
        "/api/v1/couples/<couple_id>/invites/<int:slot>/reissue",
        "POST",
        lambda a, w: f"/api/v1/couples/{fresh_couple_id(a, w)}/invites/1/reissue",
        therapist_only(201),
    ),
    Case(
        "/api/v1/couples/<couple_id>/partners/<partner_id>/recovery",
        "POST",
        lambda a, w: f"/api/v1/couples/{w.couple['id']}/partners/{w.partner.id}/recovery",
        therapist_only(201),
    ),
    # Measures (issue 12)
    Case("/api/v1/measures", "GET", lambda a, w: "/api/v1/measures", signed_in(200)),
    Case(
        "/api/v1/couples/<couple_id>/measures",
        "GET",
        lambda a, w: f"/api/v1/couples/{w.couple['id']}/measures",
        therapist_only(200),
    ),
    Case(
        "/api/v1/couples/<couple_id>/measures",
        "PUT",
        lambda a, w: f"/api/v1/couples/{w.couple['id']}/measures",
        therapist_only(200),
        body=lambda a, w: {"schedule": [{"measure": "phq-9", "every_weeks": 2}]},
    ),
    Case(
        "/api/v1/me/measures",
        "GET",
        lambda a, w: "/api/v1/me/measures",
        {
            "anonymous": 401,
            "client": 200,
            "other_partner": 200,
            "therapist": 403,
            "other_therapist": 403,
        },
    ),
    Case(
        "/api/v1/measure-responses",
        "POST",
        lambda a, w: "/api/v1/measure-responses",
        {
            "anonymous": 401,
            "client": 201,
            "other_partner": 409,  # not asked of the other couple: not due
            "therapist": 403,
            "other_therapist": 403,
        },
        body=lambda a, w: measure_response_body(a, w),
    ),
    Case(
        "/api/v1/me/measure-responses",
        "GET",
        lambda a, w: "/api/v1/me/measure-responses",
        {
            "anonymous": 401,
            "client": 200,
            "other_partner": 200,
            "therapist": 403,
            "other_therapist": 403,
        },
    ),
]

_CASES_BY_KEY = {case.key: case for case in CASES}


def _routes(app: Flask) -> set[str]:
    return {
        f"{method} {rule.rule}"
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }


def test_every_route_is_in_the_matrix(app: Flask) -> None:
    missing = _routes(app) - set(_CASES_BY_KEY) - set(PORTAL_MATRIX) - set(ACCOUNT_MATRIX)
    assert not missing, f"routes without permission-matrix entries: {sorted(missing)}"
    stale = (set(_CASES_BY_KEY) | set(PORTAL_MATRIX)) - _routes(app)
    assert not stale, f"matrix entries for routes that no longer exist: {sorted(stale)}"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.key)
def test_permission(api: Api, case: Case, role: str) -> None:
    world = build_world(api)
    path = case.path(api, world)
    kwargs: dict[str, Any] = {}
    if case.body is not None:
        kwargs["json"] = case.body(api, world)
    response = api.call(case.method, path, actor_for(world, role), **kwargs)
    try:
        assert response.status_code == case.expect[role], response.get_data(as_text=True)[:300]
        if response.status_code >= 400:
            assert response.content_type == "application/problem+json"
    finally:
        response.close()


def test_unknown_object_ids_are_404_like_foreign_ones(api: Api) -> None:
    """A missing couple and another therapist's couple answer exactly alike."""
    world = build_world(api)
    missing = api.call("GET", f"/api/v1/couples/{uuid.uuid4()}", world.other_therapist)
    foreign = api.call("GET", f"/api/v1/couples/{world.couple['id']}", world.other_therapist)
    assert missing.status_code == foreign.status_code == 404
    assert missing.get_json() == foreign.get_json()
