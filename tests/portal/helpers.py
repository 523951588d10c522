"""Signing in to the portal and posting its forms with Flask's test client."""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.factories import PASSWORD, SF_CALM, Actor, Api, World, assign, check_in

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf(client: FlaskClient) -> str:
    """The browser session's CSRF token, read from a page as a browser would."""
    page = client.get("/portal/login", follow_redirects=True)
    match = _TOKEN.search(page.get_data(as_text=True))
    assert match, "no CSRF token on the page"
    return match.group(1)


def portal_login(client: FlaskClient, email: str, password: str = PASSWORD) -> TestResponse:
    return client.post(
        "/portal/login",
        data={"email": email, "password": password, "csrf_token": csrf(client)},
    )


def sign_in(client: FlaskClient, actor: Actor) -> None:
    response = portal_login(client, actor.user["email"], actor.password)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]


def post(client: FlaskClient, path: str, **form: Any) -> TestResponse:
    """Post a portal form with this session's CSRF token."""
    return client.post(path, data={**form, "csrf_token": csrf(client)})


def html(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def custom_program(api: Api, therapist: Actor) -> str:
    """A one-stage program owned by `therapist`; returns its slug."""
    slug = f"own-{uuid.uuid4().hex[:8]}"
    body = {
        "slug": slug,
        "title": "Gentle start",
        "stages": [
            {
                "title": "Appreciate",
                "guidance": "Small and often.",
                "exercises": [{"exercise": "daily-appreciations", "per_week": 4}],
            }
        ],
    }
    r = api.call("POST", "/api/v1/programs", therapist, json=body)
    assert r.status_code == 201, r.get_json()
    return slug


def assignment_id(api: Api, world: World, program: str = "sensate-focus-course") -> str:
    return str(assign(api, world.therapist, world.couple["id"], program)["id"])


def paused_assignment_id(api: Api, world: World) -> str:
    aid = assignment_id(api, world)
    r = api.call("POST", f"/api/v1/assignments/{aid}/pause", world.therapist)
    assert r.status_code == 200
    return aid


def alert_id(api: Api, world: World, assignment: str | None = None) -> str:
    answers = {**SF_CALM, "pain": 8}
    check_in(api, world.client, assignment or assignment_id(api, world), answers=answers)
    alerts = api.call("GET", "/api/v1/alerts", world.therapist).get_json()
    return str(alerts[0]["id"])


def advanced_assignment_id(api: Api, world: World) -> str:
    """An assignment moved on to stage 2 (so that it can move back)."""
    aid = assignment_id(api, world)
    r = api.call("POST", f"/api/v1/assignments/{aid}/advance", world.therapist, json={})
    assert r.status_code == 200, r.get_json()
    return aid


def new_couple_id(api: Api, world: World) -> str:
    """A couple of the main therapist that nobody has joined yet."""
    r = api.call("POST", "/api/v1/couples", world.therapist, json={"label": "New & Couple"})
    assert r.status_code == 201, r.get_json()
    return str(r.get_json()["id"])
