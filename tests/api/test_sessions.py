"""The caller's logins: list them, end one, end all others, change the password; when a
login ends by itself (30 days unused, 90 days at most); its client label."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text

from server.auth import describe_user_agent
from server.db import utcnow
from server.extensions import db
from server.models import Device, LoginSession
from tests.factories import PASSWORD, Actor, Api, session_id_of

CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"


def sign_in(api: Api, email: str, user_agent: str, password: str = PASSWORD) -> Actor:
    r = api.client.post(
        "/api/v1/auth/token",
        json={"email": email, "password": password},
        headers={"User-Agent": user_agent},
    )
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    return Actor(user={}, access_token=body["access_token"], refresh_token=body["refresh_token"])


def sessions(api: Api, actor: Actor, **query: Any) -> list[dict[str, Any]]:
    r = api.call("GET", "/api/v1/me/sessions", actor, query_string=query)
    assert r.status_code == 200, r.get_json()
    return r.get_json()  # type: ignore[no-any-return]


def works(api: Api, actor: Actor) -> bool:
    return api.call("GET", "/api/v1/me", actor).status_code == 200


def refreshes(api: Api, actor: Actor) -> bool:
    r = api.call("POST", "/api/v1/auth/refresh", json={"refresh_token": actor.refresh_token})
    if r.status_code == 200:
        actor.access_token = r.get_json()["access_token"]
        actor.refresh_token = r.get_json()["refresh_token"]
    return r.status_code == 200


def register_device(api: Api, actor: Actor) -> str:
    token = f"tok-{uuid.uuid4()}"
    r = api.call("POST", "/api/v1/me/devices", actor, json={"token": token, "platform": "android"})
    assert r.status_code == 201, r.get_json()
    return str(r.get_json()["id"])


def device_ids(app: Flask) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(select(Device.id)))


@pytest.mark.parametrize(
    ("user_agent", "label"),
    [
        (CHROME_ANDROID, "Chrome on Android"),
        (SAFARI_IPHONE, "Safari on iPhone"),
        (FIREFOX_WINDOWS, "Firefox on Windows"),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1",
            "Chrome on iPhone",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Safari/605.1.15",
            "Safari on Mac",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
            "SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
            "Samsung Internet on Android",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Firefox on Linux",
        ),
        ("curl/8.5.0", "curl"),
        ("python-requests/2.32", "script"),
        ("", "unknown device"),
        (None, "unknown device"),
        ("\u202e<script>" * 200, "unknown device"),
    ],
)
def test_client_labels(user_agent: str | None, label: str) -> None:
    assert describe_user_agent(user_agent) == label
    assert len(describe_user_agent(user_agent)) <= 40


def test_list_shows_each_open_login_with_its_label_and_which_is_current(
    api: Api, app: Flask
) -> None:
    therapist = api.therapist()
    email = therapist.user["email"]
    phone = sign_in(api, email, CHROME_ANDROID)
    laptop = sign_in(api, email, FIREFOX_WINDOWS)
    ended = sign_in(api, email, SAFARI_IPHONE)
    assert api.call("POST", "/api/v1/auth/logout", ended).status_code == 204

    listed = sessions(api, phone)
    assert len(listed) == 3  # sign-up's login, the phone, the laptop; not the ended one
    assert all(set(s) == {"id", "created_at", "last_used_at", "current", "client"} for s in listed)
    by_id = {s["id"]: s for s in listed}
    assert by_id[session_id_of(app, phone)]["client"] == "Chrome on Android"
    assert by_id[session_id_of(app, phone)]["current"] is True
    assert by_id[session_id_of(app, laptop)]["client"] == "Firefox on Windows"
    assert [s["current"] for s in listed].count(True) == 1
    assert all(s["created_at"].endswith("Z") and s["last_used_at"].endswith("Z") for s in listed)
    # Another account's logins are not listed.
    other = api.therapist()
    assert {s["id"] for s in sessions(api, other)} & set(by_id) == set()
    # The label is kept, never the User-Agent itself.
    with app.app_context():
        dump = json.dumps(
            [list(map(str, r)) for r in db.session.execute(text("SELECT * FROM login_sessions"))]
        )
    assert "Mozilla" not in dump and "Pixel 8" not in dump


def test_the_list_is_paginated(api: Api) -> None:
    therapist = api.therapist()
    for _ in range(2):
        sign_in(api, therapist.user["email"], FIREFOX_WINDOWS)
    r = api.call("GET", "/api/v1/me/sessions", therapist, query_string={"page_size": 2})
    assert len(r.get_json()) == 2
    assert json.loads(r.headers["X-Pagination"])["total"] == 3
    second = api.call(
        "GET", "/api/v1/me/sessions", therapist, query_string={"page_size": 2, "page": 2}
    )
    assert len(second.get_json()) == 1
    past = api.call(
        "GET", "/api/v1/me/sessions", therapist, query_string={"page": 3, "page_size": 2}
    )
    assert past.status_code == 404


def test_partner_app_and_portal_logins_are_labelled(api: Api, app: Flask) -> None:
    from tests.portal.helpers import sign_in as portal_sign_in

    therapist = api.therapist()
    _, partner, _ = api.couple_with_partners(therapist)
    phone = app.test_client()
    r = phone.post(
        "/app/api/auth/token",
        json={"email": partner.user["email"], "password": PASSWORD},
        headers={"X-Tandem-CSRF": "1", "User-Agent": CHROME_ANDROID},
    )
    assert r.status_code == 200
    assert "partner app" in {s["client"] for s in sessions(api, partner)}

    portal_sign_in(app.test_client(), therapist)
    assert "portal" in {s["client"] for s in sessions(api, therapist)}


def test_ending_one_login_stops_its_tokens_and_its_devices(api: Api, app: Flask) -> None:
    therapist = api.therapist()
    phone = sign_in(api, therapist.user["email"], CHROME_ANDROID)
    phone_device = register_device(api, phone)
    own_device = register_device(api, therapist)

    r = api.call("DELETE", f"/api/v1/me/sessions/{session_id_of(app, phone)}", therapist)
    assert r.status_code == 204
    assert not works(api, phone)
    assert not refreshes(api, phone)
    assert device_ids(app) == {own_device}  # the phone gets no more pushes, at once
    assert phone_device not in device_ids(app)
    assert works(api, therapist)
    assert session_id_of(app, phone) not in {s["id"] for s in sessions(api, therapist)}


@pytest.mark.parametrize("whose", ["another user's", "unknown", "not an id", "already ended"])
def test_ending_a_login_not_one_of_mine_is_404(api: Api, app: Flask, whose: str) -> None:
    therapist = api.therapist()
    other = api.therapist()
    target = {
        "another user's": session_id_of(app, other),
        "unknown": str(uuid.uuid4()),
        "not an id": "not-a-login",
        "already ended": session_id_of(app, sign_in(api, therapist.user["email"], CHROME_ANDROID)),
    }[whose]
    if whose == "already ended":
        assert api.call("DELETE", f"/api/v1/me/sessions/{target}", therapist).status_code == 204
    r = api.call("DELETE", f"/api/v1/me/sessions/{target}", therapist)
    assert r.status_code == 404
    assert r.content_type == "application/problem+json"
    assert works(api, other)


def test_ending_the_current_login_is_a_logout(api: Api, app: Flask) -> None:
    therapist = api.therapist()
    r = api.call("DELETE", f"/api/v1/me/sessions/{session_id_of(app, therapist)}", therapist)
    assert r.status_code == 204
    assert not works(api, therapist)


def test_sign_out_everywhere_else(api: Api, app: Flask) -> None:
    therapist = api.therapist()
    email = therapist.user["email"]
    others = [sign_in(api, email, ua) for ua in (CHROME_ANDROID, SAFARI_IPHONE)]
    other_devices = {register_device(api, o) for o in others}
    kept_device = register_device(api, therapist)
    bystander = api.therapist()

    assert api.call("DELETE", "/api/v1/me/sessions", therapist).status_code == 204
    assert works(api, therapist)
    for other in others:
        assert not works(api, other)
        assert not refreshes(api, other)
    assert [s["current"] for s in sessions(api, therapist)] == [True]
    assert kept_device in device_ids(app)
    assert not other_devices & device_ids(app)
    assert works(api, bystander)


def test_changing_the_password_ends_every_other_login(api: Api, app: Flask) -> None:
    therapist = api.therapist()
    email = therapist.user["email"]
    phone = sign_in(api, email, CHROME_ANDROID)
    phone_device = register_device(api, phone)
    new = "a brand new passphrase"

    r = api.call(
        "POST",
        "/api/v1/me/password",
        therapist,
        json={"current_password": PASSWORD, "new_password": new},
    )
    assert r.status_code == 204
    assert works(api, therapist)
    assert not works(api, phone)
    assert not refreshes(api, phone)
    assert phone_device not in device_ids(app)
    old = api.call("POST", "/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert old.status_code == 401
    sign_in(api, email, FIREFOX_WINDOWS, password=new)


def test_a_wrong_current_password_changes_nothing(api: Api) -> None:
    therapist = api.therapist()
    phone = sign_in(api, therapist.user["email"], CHROME_ANDROID)
    r = api.call(
        "POST",
        "/api/v1/me/password",
        therapist,
        json={"current_password": "not my password", "new_password": "a brand new passphrase"},
    )
    assert r.status_code == 422
    assert r.content_type == "application/problem+json"
    assert set(r.get_json()["errors"]) == {"current_password"}
    assert works(api, phone)
    sign_in(api, therapist.user["email"], FIREFOX_WINDOWS)


def test_a_too_short_new_password_is_refused(api: Api) -> None:
    therapist = api.therapist()
    r = api.call(
        "POST",
        "/api/v1/me/password",
        therapist,
        json={"current_password": PASSWORD, "new_password": "short"},
    )
    assert r.status_code == 422
    assert "new_password" in r.get_json()["errors"]


# --- when logins end by themselves ---------------------------------------------------


class Clock:
    """`utcnow` of the server's auth and account code, moved forward by the test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = timedelta()
        for module in ("server.auth", "server.services.accounts"):
            monkeypatch.setattr(f"{module}.utcnow", self.now)

    def now(self) -> datetime:
        return utcnow() + self.offset


def test_a_login_ends_30_days_after_its_last_use(
    api: Api, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    therapist = api.therapist()
    idle = sign_in(api, therapist.user["email"], CHROME_ANDROID)
    clock = Clock(monkeypatch)
    clock.offset = timedelta(days=29, hours=23)
    assert works(api, therapist)  # used: its 30 days start again
    clock.offset = timedelta(days=30, minutes=1)
    r = api.call("GET", "/api/v1/me", idle)
    assert r.status_code == 401
    assert r.get_json()["code"] == "session_expired"
    assert not refreshes(api, idle)
    assert works(api, therapist)
    assert session_id_of(app, idle) not in {s["id"] for s in sessions(api, therapist)}


def test_refreshing_never_keeps_a_login_past_90_days(
    api: Api, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    therapist = api.therapist()
    clock = Clock(monkeypatch)
    for day in (25, 50, 75, 89):
        clock.offset = timedelta(days=day)
        assert refreshes(api, therapist), day
    with app.app_context():
        login = db.session.get(LoginSession, session_id_of(app, therapist))
        assert login is not None
        assert login.expires_at == login.created_at + timedelta(days=90)
    clock.offset = timedelta(days=90, minutes=1)
    r = api.call("GET", "/api/v1/me", therapist)
    assert r.status_code == 401
    assert r.get_json()["code"] == "session_expired"
    assert not refreshes(api, therapist)
    # Signing in again opens a new login with 90 days of its own.
    fresh = sign_in(api, therapist.user["email"], FIREFOX_WINDOWS)
    assert works(api, fresh)


def test_use_of_a_partner_app_login_keeps_it_open(
    api: Api, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The partner app's cookie logins never refresh: a request counts as their use."""
    therapist = api.therapist()
    _, partner, _ = api.couple_with_partners(therapist)
    phone = app.test_client()
    csrf = {"X-Tandem-CSRF": "1"}
    r = phone.post(
        "/app/api/auth/token",
        json={"email": partner.user["email"], "password": PASSWORD},
        headers=csrf,
    )
    assert r.status_code == 200
    csrf = {"X-Tandem-CSRF": phone.get_cookie("tandem_app_csrf", path="/app").value}
    clock = Clock(monkeypatch)
    for day in (20, 40):
        clock.offset = timedelta(days=day)
        assert phone.get("/app/api/me", headers=csrf).status_code == 200, day
    clock.offset = timedelta(days=40 + 31)
    assert phone.get("/app/api/me", headers=csrf).status_code == 401


def test_the_export_holds_each_logins_label_and_end(api: Api) -> None:
    therapist = api.therapist()
    sign_in(api, therapist.user["email"], SAFARI_IPHONE)
    export = api.call("GET", "/api/v1/me/export", therapist).get_json()
    assert "Safari on iPhone" in {s["client"] for s in export["sessions"]}
    assert all(s["expires_at"] for s in export["sessions"])


def test_a_partners_homework_read_counts_as_a_use_of_the_login_and_a_refusal_does_not(
    api: Api, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The homework GET reads in autocommit (server.auth `read_only`): its login's use
    is still written, once, and only when the request succeeded."""
    therapist = api.therapist()
    _, partner, _ = api.couple_with_partners(therapist)
    clock = Clock(monkeypatch)

    def login() -> LoginSession:
        with app.app_context():
            row = db.session.get(LoginSession, session_id_of(app, partner))
            assert row is not None
            return row

    before = login()
    clock.offset = timedelta(days=20)
    # Refused (not found): the use is not recorded.
    assert api.call("GET", f"/api/v1/checkins/{uuid.uuid4()}", partner).status_code == 404
    assert login().last_used_at == before.last_used_at
    assert api.call("GET", "/api/v1/me/homework", partner).status_code == 200
    used = login()
    assert used.last_used_at > before.last_used_at + timedelta(days=19)
    assert used.expires_at == used.last_used_at + timedelta(days=30)
    # Within a minute of that use nothing is written again.
    clock.offset += timedelta(seconds=30)
    assert api.call("GET", "/api/v1/me/homework", partner).status_code == 200
    assert login().last_used_at == used.last_used_at
    # The login lives on past its first 30 days because it was used.
    clock.offset = timedelta(days=45)
    assert api.call("GET", "/api/v1/me/homework", partner).status_code == 200
