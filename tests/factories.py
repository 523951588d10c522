"""Small factories that build data through the public API, as a phone app would."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

PASSWORD = "correct horse battery"
_counter = itertools.count(1)


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}{next(_counter)}@example.test"


@dataclass
class Actor:
    """A signed-in user: their profile and tokens."""

    user: dict[str, Any]
    access_token: str
    refresh_token: str
    password: str = PASSWORD
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.user["id"])

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


class Api:
    """A thin client over Flask's test client that knows our flows."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def call(
        self, method: str, path: str, actor: Actor | None = None, **kwargs: Any
    ) -> TestResponse:
        headers = dict(kwargs.pop("headers", {}) or {})
        if actor is not None:
            headers.update(actor.headers)
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def therapist(self, email: str | None = None, name: str = "Dr. Rivera") -> Actor:
        """A verified therapist, made the way `tandem create-therapist` makes one (sign-up
        by the API only sends an email: see tests/api/test_accounts_mail.py)."""
        from server.extensions import db
        from server.services.accounts import create_therapist

        email = email or unique_email("therapist")
        with self.client.application.app_context():
            create_therapist(email=email, password=PASSWORD, name=name)
            db.session.commit()
            db.session.remove()
        return self.login(email)

    def login(
        self, email: str, password: str = PASSWORD, user: dict[str, Any] | None = None
    ) -> Actor:
        r = self.client.post("/api/v1/auth/token", json={"email": email, "password": password})
        assert r.status_code == 200, r.get_json()
        tokens = r.get_json()
        actor = Actor(
            user=user or {},
            access_token=tokens["access_token"],
            refresh_token=tokens["refresh_token"],
            password=password,
        )
        if not actor.user:
            actor.user = self.call("GET", "/api/v1/me", actor).get_json()
        return actor

    def couple(self, therapist: Actor, label: str = "R. & S.") -> dict[str, Any]:
        r = self.call("POST", "/api/v1/couples", therapist, json={"label": label})
        assert r.status_code == 201, r.get_json()
        return r.get_json()  # type: ignore[no-any-return]

    def join(
        self,
        code: str,
        email: str | None = None,
        name: str = "Sam",
        timezone: str = "Europe/Berlin",
    ) -> Actor:
        email = email or unique_email("partner")
        r = self.client.post(
            f"/api/v1/invites/{code}/accept",
            json={"email": email, "password": PASSWORD, "name": name, "timezone": timezone},
        )
        assert r.status_code == 201, r.get_json()
        body = r.get_json()
        return Actor(
            user=body["user"],
            access_token=body["access_token"],
            refresh_token=body["refresh_token"],
        )

    def couple_with_partners(
        self, therapist: Actor, timezones: tuple[str, str] = ("Europe/Berlin", "Europe/Berlin")
    ) -> tuple[dict[str, Any], Actor, Actor]:
        couple = self.couple(therapist)
        a = self.join(couple["invites"][0]["code"], name="Alex", timezone=timezones[0])
        b = self.join(couple["invites"][1]["code"], name="Sam", timezone=timezones[1])
        return couple, a, b


def session_id_of(app: Flask, actor: Actor) -> str:
    """The id of the login that `actor`'s access token belongs to."""
    return str(app.extensions["tandem.token_serializer"].loads(actor.access_token)["sid"])


@dataclass
class World:
    """The cast of the permission tests."""

    therapist: Actor
    other_therapist: Actor
    couple: dict[str, Any]
    client: Actor
    partner: Actor
    other_client: Actor
    other_couple: dict[str, Any]


def build_world(api: Api) -> World:
    therapist = api.therapist()
    other_therapist = api.therapist(name="Dr. Other")
    couple, a, b = api.couple_with_partners(therapist)
    other_couple, c, _ = api.couple_with_partners(therapist)
    return World(
        therapist=therapist,
        other_therapist=other_therapist,
        couple=couple,
        client=a,
        partner=b,
        other_client=c,
        other_couple=other_couple,
    )


# --- the homework loop ---------------------------------------------------------------

SF_CALM = {
    "duration_minutes": 30,
    "initiated_by": "Me",
    "sensations": ["Temperature (warm, cool)"],
    "distractions": ["None came up"],
    "refocused": True,
    "anxiety": 2,
    "pain": 0,
    "distress": 1,
    "within_limits": True,
    "pressured": False,
    "stopped": False,
    "unsafe": False,
    "ready_to_move_on": True,
}
APPRECIATION = {"felt_appreciated": 8, "easy_to_give": 7, "unsafe": False}


def assign(
    api: Api, therapist: Actor, couple_id: str, program: str = "sensate-focus-course", **extra: Any
) -> dict[str, Any]:
    r = api.call(
        "POST",
        f"/api/v1/couples/{couple_id}/assignments",
        therapist,
        json={"program": program, **extra},
    )
    assert r.status_code == 201, r.get_json()
    return r.get_json()  # type: ignore[no-any-return]


def one_session_a_week(api: Api, therapist: Actor, assignment_id: str) -> None:
    """Set the first sensate-focus stage's targets so that one check-in meets the
    week's target (one touch session, nothing else due)."""
    r = api.call(
        "PATCH",
        f"/api/v1/assignments/{assignment_id}",
        therapist,
        json={
            "overrides": {
                "sf-1-nongenital-touch": {"per_week": 1},
                "daily-appreciations": {"per_week": 0},
                "journal-touch-reflection": {"per_week": 0},
            }
        },
    )
    assert r.status_code == 200, r.get_json()


def checkin_body(
    assignment_id: str,
    exercise: str = "sf-1-nongenital-touch",
    answers: dict[str, Any] | None = None,
    occurred_at: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    from datetime import UTC, datetime

    if answers is None:
        answers = dict(SF_CALM if exercise.startswith("sf-") else APPRECIATION)
    return {
        "id": str(uuid.uuid4()),
        "assignment_id": assignment_id,
        "exercise": exercise,
        "occurred_at": occurred_at
        or datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "answers": answers,
        **extra,
    }


def check_in(api: Api, partner: Actor, assignment_id: str, **kwargs: Any) -> dict[str, Any]:
    r = api.call("POST", "/api/v1/checkins", partner, json=checkin_body(assignment_id, **kwargs))
    assert r.status_code == 201, r.get_json()
    return r.get_json()  # type: ignore[no-any-return]


def issue_account_token(api: Api, email: str, purpose: str) -> str:
    """A live one-time token (`verify_email`, `password_reset` or `recovery`) for a new
    verified therapist with `email`, as its email would carry it (for tests that need a
    token without reading an email)."""
    from datetime import timedelta

    from server.db import utcnow
    from server.extensions import db
    from server.services import account_mail
    from server.services.accounts import create_therapist

    with api.client.application.app_context():
        user = create_therapist(email=email, password=PASSWORD, name="Dr. Token")
        db.session.flush()
        token = account_mail._issue_token(
            user=user, purpose=purpose, ttl=timedelta(hours=1), now=utcnow()
        )
        db.session.commit()
        db.session.remove()
    return token
