"""The load test's same-work floor (bench/floor_app.py) does the work Tandem does: for
the same partners it answers the same homework JSON, and the check-in row it writes is
the one Tandem writes for the same request (only `recorded_at` differs: the clock).

PostgreSQL only: the floor speaks to it through psycopg directly."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from bench.floor_app import create_floor
from server.extensions import db
from server.models import CheckIn
from tests.factories import APPRECIATION, Actor, Api, assign, check_in, checkin_body


@pytest.fixture
def floor(app: Flask, pg_url: str, clean_db: None) -> Any:
    settings = app.config["TANDEM_SETTINGS"]
    floor_app = create_floor(
        database_url=pg_url,
        secret_key=settings.secret_key,
        data_keys=settings.data_keys,
        catalog_path=settings.catalog_path,
    )
    yield floor_app.test_client()
    conn = floor_app.extensions["floor"]._conn
    if conn is not None:
        conn.close()


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _partners(api: Api) -> list[tuple[Actor, str]]:
    """Partners in several situations: check-ins this week (one declined), an advanced
    and paused program, questionnaires due, a scheduled start, no assignment."""
    t = api.therapist()
    out: list[tuple[Actor, str]] = []
    zones = [("Europe/Berlin", "America/Los_Angeles"), ("Asia/Tokyo", "UTC"), ("UTC", "UTC")]
    for n, tz in enumerate(zones):
        couple, a, b = api.couple_with_partners(t, timezones=tz)
        if n == 2:  # no program yet
            out.append((a, ""))
            continue
        start = (datetime.now(UTC) - timedelta(days=10)).date().isoformat()
        assignment = assign(api, t, couple["id"], start_date=start)
        out += [(a, assignment["id"]), (b, assignment["id"])]
        check_in(api, a, assignment["id"])
        check_in(api, a, assignment["id"], exercise="daily-appreciations", answers=APPRECIATION)
        check_in(
            api,
            b,
            assignment["id"],
            answers={"session_declined": True},
            occurred_at=_iso(datetime.now(UTC) - timedelta(hours=1)),
        )
        if n == 1:
            body = {"schedule": [{"measure": "phq-9", "every_weeks": 2}]}
            r = api.call("PUT", f"/api/v1/couples/{couple['id']}/measures", t, json=body)
            assert r.status_code == 200, r.get_json()
            r = api.call("POST", f"/api/v1/assignments/{assignment['id']}/pause", t, json={})
            assert r.status_code == 200, r.get_json()
    couple, a, _ = api.couple_with_partners(t)
    later = (datetime.now(UTC) + timedelta(days=20)).date().isoformat()
    out.append((a, assign(api, t, couple["id"], start_date=later)["id"]))
    return out


def test_floor_homework_is_tandems(api: Api, floor: Any) -> None:
    partners = _partners(api)
    for partner, _ in partners:
        tandem = api.call("GET", "/api/v1/me/homework", partner)
        same = floor.get("/api/v1/me/homework", headers=partner.headers)
        assert tandem.status_code == same.status_code == 200, same.get_json()
        assert same.get_json() == tandem.get_json()
    statuses = {api.call("GET", "/api/v1/me/homework", p).get_json()["status"] for p, _ in partners}
    assert statuses == {"active", "paused", "scheduled", None}
    assert any(
        api.call("GET", "/api/v1/me/homework", p).get_json()["measures_due"] for p, _ in partners
    )
    # The same refusals: no token, a therapist's token.
    assert floor.get("/api/v1/me/homework").status_code == 401
    assert (
        floor.get("/api/v1/me/homework", headers={"Authorization": "Bearer x.y.z"}).status_code
        == 401
    )


def _row(app: Flask, checkin_id: str) -> dict[str, Any]:
    with app.app_context():
        c = db.session.scalar(select(CheckIn).where(CheckIn.id == checkin_id))
        assert c is not None
        return {
            "assignment_id": c.assignment_id,
            "couple_id": c.couple_id,
            "author_id": c.author_id,
            "exercise": c.exercise,
            "stage_index": c.stage_index,
            "occurred_at": c.occurred_at,
            "answers": c.answers,
            "text": c.text_encrypted is not None,
            "visibility": c.visibility,
            "flags": c.flags,
        }


def test_floor_checkin_row_is_tandems(app: Flask, api: Api, floor: Any) -> None:
    partner, assignment_id = _partners(api)[0]
    for extra in (
        {"reflection": "Slower tonight.", "visibility": "couple"},
        {"visibility": "private"},
        {"exercise": "daily-appreciations", "answers": APPRECIATION},
    ):
        body = checkin_body(assignment_id, **extra)
        tandem = api.call("POST", "/api/v1/checkins", partner, json=body)
        assert tandem.status_code == 201, tandem.get_json()
        twin = {**body, "id": str(uuid.uuid4())}
        same = floor.post("/api/v1/checkins", json=twin, headers=partner.headers)
        assert same.status_code == 201, same.get_json()
        mine, theirs = same.get_json(), tandem.get_json()
        for view in (mine, theirs):
            del view["id"], view["recorded_at"]
        assert mine == theirs
        assert _row(app, twin["id"]) == _row(app, body["id"])
        # The fingerprint is Tandem's: Tandem takes the floor's row back as a retry...
        again = api.call("POST", "/api/v1/checkins", partner, json=twin)
        assert again.status_code == 200, again.get_json()
        # ...and the floor takes Tandem's, and refuses a different body under its id.
        assert floor.post("/api/v1/checkins", json=body, headers=partner.headers).status_code == 200
        other = {**body, "reflection": "Something else."}
        assert (
            floor.post("/api/v1/checkins", json=other, headers=partner.headers).status_code == 409
        )
    bad = checkin_body(assignment_id, answers={"pleasure": 99})
    assert floor.post("/api/v1/checkins", json=bad, headers=partner.headers).status_code == 422
    assert api.call("POST", "/api/v1/checkins", partner, json=bad).status_code == 422
