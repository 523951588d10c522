"""Couples, invite codes and joining a couple."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select, text, update

from server.db import utcnow
from server.extensions import db
from server.models import Invite, User
from server.services.couples import generate_invite_code, normalize_invite_code
from tests.factories import PASSWORD, Api, unique_email

CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$")


def accept(api: Api, code: str, **overrides: object):  # type: ignore[no-untyped-def]
    body = {
        "email": unique_email(),
        "password": PASSWORD,
        "name": "Kim",
        "timezone": "America/New_York",
        **overrides,
    }
    return api.call("POST", f"/api/v1/invites/{code}/accept", json=body)


def user_count(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(User)) or 0)


def test_creating_a_couple_issues_two_distinct_invite_codes(api: Api) -> None:
    couple = api.couple(api.therapist(), label="  R. & S.  ")
    assert couple["label"] == "R. & S."
    assert couple["status"] == "invited"
    assert couple["partners"] == []
    codes = [i["code"] for i in couple["invites"]]
    assert len(codes) == 2 and codes[0] != codes[1]
    assert all(CODE.match(c) for c in codes)
    assert [i["slot"] for i in couple["invites"]] == [1, 2]
    assert all(
        i["status"] == "pending" and i["expires_at"].endswith("Z") for i in couple["invites"]
    )


def test_invite_codes_expire_after_14_days_by_default(api: Api) -> None:
    couple = api.couple(api.therapist())
    from datetime import datetime

    expires = datetime.fromisoformat(couple["invites"][0]["expires_at"])
    assert timedelta(days=13, hours=23) < expires - utcnow() <= timedelta(days=14)


def test_invite_codes_are_high_entropy() -> None:
    codes = {generate_invite_code() for _ in range(2000)}
    assert len(codes) == 2000
    # 16 symbols of a 32-letter alphabet: 80 bits
    assert all(len(c.replace("-", "")) == 16 for c in codes)


@pytest.mark.parametrize(
    "typed", ["abcd-efgh-jkmn-pqrs", "ABCDEFGHJKMNPQRS", "abcd efgh jkmn pqrs"]
)
def test_codes_are_forgiving_to_type(typed: str) -> None:
    assert normalize_invite_code(typed) == "ABCDEFGHJKMNPQRS"
    assert normalize_invite_code("O0-Il") == "0011"


def test_accepting_an_invite_joins_the_couple_and_signs_in(api: Api) -> None:
    t = api.therapist()
    couple = api.couple(t)
    code = couple["invites"][0]["code"]
    r = accept(api, code.lower().replace("-", " "), email="Kim@Example.TEST")
    assert r.status_code == 201
    body = r.get_json()
    assert body["user"]["role"] == "client"
    assert body["user"]["couple_id"] == couple["id"]
    assert body["user"]["timezone"] == "America/New_York"
    assert body["user"]["email"] == "kim@example.test"
    assert body["token_type"] == "Bearer" and body["access_token"] and body["refresh_token"]
    me = api.call("GET", "/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.get_json()["couple_id"] == couple["id"]
    seen = api.call("GET", f"/api/v1/couples/{couple['id']}", t).get_json()
    assert seen["partners"] == [
        {"id": body["user"]["id"], "name": "Kim", "timezone": "America/New_York"}
    ]
    assert seen["invites"][0]["status"] == "accepted"
    assert seen["invites"][0]["code"] is None
    assert seen["status"] == "invited"


def test_couple_is_active_once_both_partners_joined(api: Api) -> None:
    t = api.therapist()
    couple, _, _ = api.couple_with_partners(t)
    seen = api.call("GET", f"/api/v1/couples/{couple['id']}", t).get_json()
    assert seen["status"] == "active"
    assert len(seen["partners"]) == 2


def test_an_invite_works_once(api: Api, app: Flask) -> None:
    code = api.couple(api.therapist())["invites"][0]["code"]
    assert accept(api, code).status_code == 201
    before = user_count(app)
    again = accept(api, code)
    assert again.status_code == 409
    assert again.get_json()["code"] == "invite_used"
    assert user_count(app) == before


def test_an_expired_invite_is_410_and_creates_nothing(api: Api, app: Flask) -> None:
    code = api.couple(api.therapist())["invites"][0]["code"]
    with app.app_context():
        db.session.execute(update(Invite).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    before = user_count(app)
    r = accept(api, code)
    assert r.status_code == 410
    assert r.content_type == "application/problem+json"
    assert user_count(app) == before


def test_unknown_invite_is_404(api: Api) -> None:
    r = accept(api, "ZZZZ-ZZZZ-ZZZZ-ZZZZ")
    assert r.status_code == 404
    assert r.get_json()["code"] == "invite_unknown"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": "localtime"}, "timezone"),
        ({"timezone": ""}, "timezone"),
        ({"password": "123"}, "password"),
        ({"email": "nope"}, "email"),
        ({"name": ""}, "name"),
        ({"couple_id": "x"}, "couple_id"),
    ],
)
def test_invalid_acceptance_is_422_and_leaves_the_invite_usable(
    api: Api, app: Flask, overrides: dict[str, object], field: str
) -> None:
    code = api.couple(api.therapist())["invites"][0]["code"]
    before = user_count(app)
    r = accept(api, code, **overrides)
    assert r.status_code == 422
    assert field in r.get_json()["errors"]
    assert user_count(app) == before
    assert accept(api, code).status_code == 201


def test_taken_email_is_409_and_leaves_the_invite_usable(api: Api) -> None:
    t = api.therapist()
    code = api.couple(t)["invites"][0]["code"]
    r = accept(api, code, email=t.user["email"].upper())
    assert r.status_code == 409
    assert r.get_json()["code"] == "email_taken"
    assert accept(api, code).status_code == 201


def test_invite_codes_are_not_readable_in_the_database(api: Api, app: Flask) -> None:
    couple = api.couple(api.therapist())
    codes = [i["code"] for i in couple["invites"]]
    with app.app_context():
        rows = db.session.execute(text("SELECT * FROM invites")).all()
    dump = " ".join(str(v) for row in rows for v in row)
    for code in codes:
        assert code not in dump
        assert normalize_invite_code(code) not in dump


def test_reissue_replaces_an_unused_code(api: Api) -> None:
    t = api.therapist()
    couple = api.couple(t)
    old = couple["invites"][0]["code"]
    r = api.call("POST", f"/api/v1/couples/{couple['id']}/invites/1/reissue", t)
    assert r.status_code == 201
    new = r.get_json()["code"]
    assert new != old and CODE.match(new)
    assert accept(api, old).status_code == 404
    assert accept(api, new).status_code == 201
    assert (
        api.call("POST", f"/api/v1/couples/{couple['id']}/invites/1/reissue", t).status_code == 409
    )
    assert (
        api.call("POST", f"/api/v1/couples/{couple['id']}/invites/3/reissue", t).status_code == 404
    )


def test_couples_list_is_the_callers_own_and_paginated(api: Api) -> None:
    t = api.therapist()
    other = api.therapist()
    ids = [api.couple(t, label=f"Couple {n}")["id"] for n in range(3)]
    api.couple(other, label="Not yours")
    r = api.call("GET", "/api/v1/couples?page=1&page_size=2", t)
    assert r.status_code == 200
    import json

    meta = json.loads(r.headers["X-Pagination"])
    assert meta["total"] == 3 and meta["total_pages"] == 2
    page1 = r.get_json()
    page2 = api.call("GET", "/api/v1/couples?page=2&page_size=2", t).get_json()
    assert {c["id"] for c in page1 + page2} == set(ids)
    assert all(
        set(c["summary"]) >= {"current_stage", "adherence_this_week", "open_alerts"} for c in page1
    )


@pytest.mark.parametrize("query", ["page=0", "page_size=101", "page=abc", "page_size=-1"])
def test_bad_pagination_is_422(api: Api, query: str) -> None:
    r = api.call("GET", f"/api/v1/couples?{query}", api.therapist())
    assert r.status_code == 422
    assert r.content_type == "application/problem+json"


@pytest.mark.parametrize("label", ["", "   ", "x" * 101, None, 7])
def test_bad_couple_labels_are_422(api: Api, app: Flask, label: object) -> None:
    t = api.therapist()
    r = api.call("POST", "/api/v1/couples", t, json={"label": label})
    assert r.status_code == 422
    assert "label" in r.get_json()["errors"]
    assert api.call("GET", "/api/v1/couples", t).get_json() == []
