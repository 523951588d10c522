"""Every portal route x every kind of caller, as listed in `tests/portal/matrix.py`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.factories import (
    PASSWORD,
    Actor,
    Api,
    World,
    build_world,
    issue_account_token,
    unique_email,
)
from tests.portal.helpers import (
    advanced_assignment_id,
    alert_id,
    assignment_id,
    csrf,
    custom_program,
    new_couple_id,
    paused_assignment_id,
    portal_login,
    sign_in,
)
from tests.portal.matrix import PORTAL_MATRIX, ROLES


@dataclass(frozen=True)
class Target:
    """How to call one portal route: its path and form (built before signing in)."""

    path: Callable[[Api, World], str]
    form: Callable[[Api, World], dict[str, Any]] | None = None


TARGETS: dict[str, Target] = {
    "GET /portal/static/<path:filename>": Target(lambda a, w: "/portal/static/portal.css"),
    "GET /portal/login": Target(lambda a, w: "/portal/login"),
    "POST /portal/login": Target(lambda a, w: "/portal/login"),
    "POST /portal/logout": Target(lambda a, w: "/portal/logout", lambda a, w: {}),
    "GET /portal/": Target(lambda a, w: "/portal/"),
    "POST /portal/couples": Target(lambda a, w: "/portal/couples", lambda a, w: {"label": "K & L"}),
    "GET /portal/couples/<couple_id>": Target(lambda a, w: f"/portal/couples/{w.couple['id']}"),
    "POST /portal/couples/<couple_id>/assignments": Target(
        lambda a, w: f"/portal/couples/{w.couple['id']}/assignments",
        lambda a, w: {"program": "communication-foundations"},
    ),
    "POST /portal/assignments/<assignment_id>/advance": Target(
        lambda a, w: f"/portal/assignments/{assignment_id(a, w)}/advance",
        lambda a, w: {"reason": "Both ready."},
    ),
    "POST /portal/assignments/<assignment_id>/pause": Target(
        lambda a, w: f"/portal/assignments/{assignment_id(a, w)}/pause", lambda a, w: {}
    ),
    "POST /portal/assignments/<assignment_id>/resume": Target(
        lambda a, w: f"/portal/assignments/{paused_assignment_id(a, w)}/resume", lambda a, w: {}
    ),
    "POST /portal/assignments/<assignment_id>/complete": Target(
        lambda a, w: (
            f"/portal/assignments/{assignment_id(a, w, custom_program(a, w.therapist))}/complete"
        ),
        lambda a, w: {},
    ),
    "POST /portal/assignments/<assignment_id>/targets": Target(
        lambda a, w: f"/portal/assignments/{assignment_id(a, w)}/targets",
        lambda a, w: {"per_week-sf-1-nongenital-touch": "2", "reason": "Busy weeks."},
    ),
    # The confirmation page before moving on (issue 12, item 7).
    "GET /portal/assignments/<assignment_id>/advance": Target(
        lambda a, w: f"/portal/assignments/{assignment_id(a, w)}/advance"
    ),
    "POST /portal/assignments/<assignment_id>/back": Target(
        lambda a, w: f"/portal/assignments/{advanced_assignment_id(a, w)}/back",
        lambda a, w: {"reason": "Moved on too early."},
    ),
    "POST /portal/assignments/<assignment_id>/note": Target(
        lambda a, w: f"/portal/assignments/{assignment_id(a, w)}/note",
        lambda a, w: {"note": "Go gently."},
    ),
    "POST /portal/couples/<couple_id>/invites/<int:slot>/reissue": Target(
        lambda a, w: f"/portal/couples/{new_couple_id(a, w)}/invites/1/reissue",
        lambda a, w: {},
    ),
    "GET /portal/alerts": Target(lambda a, w: "/portal/alerts"),
    "GET /portal/sign-ins": Target(lambda a, w: "/portal/sign-ins"),
    "POST /portal/sign-ins/<session_id>/end": Target(
        lambda a, w: f"/portal/sign-ins/{therapist_session_id(a, w)}/end", lambda a, w: {}
    ),
    "POST /portal/sign-ins/end-others": Target(
        lambda a, w: "/portal/sign-ins/end-others", lambda a, w: {}
    ),
    "POST /portal/password": Target(
        lambda a, w: "/portal/password",
        lambda a, w: {
            "current_password": PASSWORD,
            "new_password": "another passphrase",
            "new_password_again": "another passphrase",
        },
    ),
    "POST /portal/alerts/<alert_id>/ack": Target(
        lambda a, w: f"/portal/alerts/{alert_id(a, w)}/ack", lambda a, w: {}
    ),
    "GET /portal/verify-email": Target(lambda a, w: "/portal/verify-email?token=anything"),
    "POST /portal/verify-email": Target(
        lambda a, w: "/portal/verify-email",
        lambda a, w: {"token": issue_account_token(a, unique_email(), "verify_email")},
    ),
    "GET /portal/forgot-password": Target(lambda a, w: "/portal/forgot-password"),
    "POST /portal/forgot-password": Target(
        lambda a, w: "/portal/forgot-password", lambda a, w: {"email": unique_email()}
    ),
    "GET /portal/reset-password": Target(lambda a, w: "/portal/reset-password?token=anything"),
    "POST /portal/reset-password": Target(
        lambda a, w: "/portal/reset-password",
        lambda a, w: {
            "token": issue_account_token(a, unique_email(), "password_reset"),
            "new_password": "another passphrase",
            "repeat_password": "another passphrase",
        },
    ),
    "POST /portal/couples/<couple_id>/partners/<partner_id>/recovery": Target(
        lambda a, w: f"/portal/couples/{w.couple['id']}/partners/{w.partner.id}/recovery",
        lambda a, w: {},
    ),
}


def therapist_session_id(api: Api, world: World) -> str:
    """The main therapist's API login."""
    serializer = api.client.application.extensions["tandem.token_serializer"]
    return str(serializer.loads(world.therapist.access_token)["sid"])


def actor_for(world: World, role: str) -> Actor | None:
    return {
        "anonymous": None,
        "client": world.client,
        "other_partner": world.other_client,
        "therapist": world.therapist,
        "other_therapist": world.other_therapist,
    }[role]


def _portal_routes(app: Flask) -> set[str]:
    return {
        f"{method} {rule.rule}"
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("portal.")
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }


def test_every_portal_route_is_in_the_matrix(app: Flask) -> None:
    routes = _portal_routes(app)
    assert routes == set(PORTAL_MATRIX), sorted(routes ^ set(PORTAL_MATRIX))
    assert set(TARGETS) == set(PORTAL_MATRIX)
    assert all(set(expect) == set(ROLES) for expect in PORTAL_MATRIX.values())


def _become(client: FlaskClient, world: World, role: str) -> None:
    """Sign in as `role`; partners are refused and stay anonymous."""
    actor = actor_for(world, role)
    if actor is None:
        return
    if role in ("client", "other_partner"):
        refused = portal_login(client, actor.user["email"], actor.password)
        assert refused.status_code == 403
        return
    sign_in(client, actor)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", sorted(PORTAL_MATRIX))
def test_portal_permission(api: Api, client: FlaskClient, key: str, role: str) -> None:
    world = build_world(api)
    method, _ = key.split(" ", 1)
    target = TARGETS[key]
    path = target.path(api, world)
    data: dict[str, Any] | None = None
    if key == "POST /portal/login":
        actor = actor_for(world, role)
        email = (actor or world.therapist).user["email"]
        password = PASSWORD if actor else "not the password"
        data = {"email": email, "password": password, "csrf_token": csrf(client)}
    else:
        _become(client, world, role)
        if method == "POST":
            data = {**(target.form(api, world) if target.form else {}), "csrf_token": csrf(client)}
    response = client.open(path, method=method, data=data)
    try:
        expected = PORTAL_MATRIX[key][role]
        assert response.status_code == expected, response.get_data(as_text=True)[:500]
        if expected == 302:
            signed_in = role in ("therapist", "other_therapist")
            landing = "/portal/" if signed_in else "/portal/login"
            assert response.headers["Location"].split("?")[0] == landing
        if response.status_code in (200, 401, 403, 404) and method == "GET" and "static" not in key:
            assert response.content_type.startswith("text/html")
    finally:
        response.close()
