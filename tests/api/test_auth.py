"""Sign-up, sign-in, refresh rotation with theft detection, logout, rate limits."""

from __future__ import annotations

import time

import pytest
from flask import Flask
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select, text

from server.extensions import db
from server.models import LoginSession, RefreshToken, User
from tests.conftest import make_app
from tests.factories import PASSWORD, Api, unique_email


def test_sign_up_answers_202_with_no_account_data(api: Api, app: Flask) -> None:
    r = api.call(
        "POST",
        "/api/v1/auth/therapists",
        json={"email": "Dr.Lee@Example.TEST", "password": PASSWORD, "name": "Dr. Lee"},
    )
    assert r.status_code == 202
    assert set(r.get_json()) == {"detail"}
    assert "password" not in r.get_data(as_text=True)
    with app.app_context():
        user = db.session.scalars(select(User)).one()
        assert user.email == "dr.lee@example.test"
        assert user.role == "therapist" and user.couple_id is None
        assert user.email_verified_at is None


def test_emails_are_unique_whatever_the_case(api: Api, app: Flask) -> None:
    api.therapist(email="same@example.test")
    r = api.call(
        "POST",
        "/api/v1/auth/therapists",
        json={"email": "SAME@example.test", "password": PASSWORD, "name": "Twin"},
    )
    assert r.status_code == 202  # the same answer as for a new address (no enumeration)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 1
    # and sign-in works with any case
    api.login("Same@Example.Test")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@example.test", "password": "short", "name": "A"}, "password"),
        ({"email": "not-an-email", "password": PASSWORD, "name": "A"}, "email"),
        ({"email": "a@example.test", "password": PASSWORD, "name": "   "}, "name"),
        ({"email": "a@example.test", "password": PASSWORD}, "name"),
        ({"email": "a@example.test", "password": PASSWORD, "name": "A", "role": "admin"}, "role"),
        ({"email": 5, "password": PASSWORD, "name": "A"}, "email"),
        ({"email": "a@example.test", "password": None, "name": "A"}, "password"),
    ],
)
def test_sign_up_validation_names_the_field_and_creates_nothing(
    api: Api, app: Flask, body: dict[str, object], field: str
) -> None:
    r = api.call("POST", "/api/v1/auth/therapists", json=body)
    assert r.status_code == 422
    problem = r.get_json()
    assert problem["status"] == 422
    assert field in problem["errors"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_sign_up_can_be_switched_off(tmp_path, database_url: str, clean_db: None) -> None:
    closed = make_app(tmp_path, database_url, TANDEM_ALLOW_THERAPIST_SIGNUP="0")
    r = closed.test_client().post(
        "/api/v1/auth/therapists",
        json={"email": unique_email(), "password": PASSWORD, "name": "Dr. No"},
    )
    assert r.status_code == 403
    assert r.get_json()["code"] == "signup_closed"


def test_token_pair_shape(api: Api) -> None:
    t = api.therapist()
    r = api.call(
        "POST", "/api/v1/auth/token", json={"email": t.user["email"], "password": PASSWORD}
    )
    body = r.get_json()
    assert r.status_code == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["access_token"] and body["refresh_token"]


def test_unknown_email_and_wrong_password_answer_alike(api: Api) -> None:
    t = api.therapist()
    wrong = api.call(
        "POST", "/api/v1/auth/token", json={"email": t.user["email"], "password": "wrong password!"}
    )
    unknown = api.call(
        "POST",
        "/api/v1/auth/token",
        json={"email": "nobody@example.test", "password": "wrong password!"},
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json()


def test_unknown_email_costs_a_full_password_check(
    app: Flask, clean_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same work for an unknown email as for a wrong password: argon2 runs either way."""
    service = app.extensions["tandem.passwords"]
    real = service.hasher
    calls: list[str] = []

    class CountingHasher:
        def verify(self, hash_: str, password: str) -> bool:
            calls.append(hash_)
            return real.verify(hash_, password)

    monkeypatch.setattr(service, "hasher", CountingHasher())
    r = app.test_client().post(
        "/api/v1/auth/token", json={"email": "ghost@example.test", "password": "x" * 12}
    )
    assert r.status_code == 401
    assert len(calls) == 1
    assert calls[0].startswith("$argon2id$")


def test_refresh_rotates_and_spends_the_old_token(api: Api) -> None:
    t = api.therapist()
    r = api.call("POST", "/api/v1/auth/refresh", json={"refresh_token": t.refresh_token})
    assert r.status_code == 200
    pair = r.get_json()
    assert pair["refresh_token"] != t.refresh_token
    assert (
        api.call(
            "GET", "/api/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"}
        ).status_code
        == 200
    )


def test_reusing_a_spent_refresh_token_ends_the_whole_login(api: Api) -> None:
    t = api.therapist()
    stolen = t.refresh_token
    fresh = api.call("POST", "/api/v1/auth/refresh", json={"refresh_token": stolen}).get_json()
    replay = api.call("POST", "/api/v1/auth/refresh", json={"refresh_token": stolen})
    assert replay.status_code == 401
    assert replay.content_type == "application/problem+json"
    # the legitimate holder's newer tokens are dead too
    again = api.call("POST", "/api/v1/auth/refresh", json={"refresh_token": fresh["refresh_token"]})
    assert again.status_code == 401
    for token in (t.access_token, fresh["access_token"]):
        me = api.call("GET", "/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 401


def test_reuse_detection_spares_other_logins(api: Api) -> None:
    t = api.therapist()
    phone = api.login(t.user["email"])
    api.call("POST", "/api/v1/auth/refresh", json={"refresh_token": t.refresh_token})
    api.call("POST", "/api/v1/auth/refresh", json={"refresh_token": t.refresh_token})
    assert api.call("GET", "/api/v1/me", phone).status_code == 200


def test_logout_revokes_access_and_refresh(api: Api) -> None:
    t = api.therapist()
    assert api.call("POST", "/api/v1/auth/logout", t).status_code == 204
    assert api.call("GET", "/api/v1/me", t).status_code == 401
    r = api.call("POST", "/api/v1/auth/refresh", json={"refresh_token": t.refresh_token})
    assert r.status_code == 401


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer not-a-token", "Bearer a.b.c"],
)
def test_bad_authorization_headers_are_401(api: Api, header: str) -> None:
    r = api.call("GET", "/api/v1/me", headers={"Authorization": header} if header else {})
    assert r.status_code == 401
    assert r.content_type == "application/problem+json"


def test_access_tokens_expire_after_15_minutes(api: Api, app: Flask, monkeypatch) -> None:
    t = api.therapist()
    with app.app_context():
        session_id = db.session.scalar(select(LoginSession.id).where(LoginSession.user_id == t.id))
    serializer: URLSafeTimedSerializer = app.extensions["tandem.token_serializer"]
    now = time.time()
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: now - 16 * 60)
    old = serializer.dumps({"sid": session_id})
    monkeypatch.undo()
    r = api.call("GET", "/api/v1/me", headers={"Authorization": f"Bearer {old}"})
    assert r.status_code == 401
    assert r.get_json()["code"] == "token_expired"


def test_tokens_are_stored_only_as_hashes(api: Api, app: Flask) -> None:
    t = api.therapist()
    with app.app_context():
        rows = db.session.execute(text("SELECT * FROM refresh_tokens")).all()
        dump = " ".join(str(v) for row in rows for v in row)
        assert t.refresh_token not in dump
        assert t.access_token not in dump
        hashes = db.session.scalars(select(RefreshToken.token_hash)).all()
        assert all(len(h) == 64 for h in hashes)


def test_ten_failed_sign_ins_per_account_and_address_then_429(api: Api) -> None:
    """(The same account from another address is not refused: tests/api/test_limits.py.)"""
    t = api.therapist()
    for _ in range(10):
        r = api.call(
            "POST",
            "/api/v1/auth/token",
            json={"email": t.user["email"], "password": "wrong password!"},
        )
        assert r.status_code == 401
    blocked = api.call(
        "POST", "/api/v1/auth/token", json={"email": t.user["email"], "password": PASSWORD}
    )
    assert blocked.status_code == 429
    assert blocked.content_type == "application/problem+json"
    assert blocked.get_json()["status"] == 429
    assert "Retry-After" in blocked.headers
    # the same account from another address is not refused
    elsewhere = api.call(
        "POST",
        "/api/v1/auth/token",
        json={"email": t.user["email"], "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "198.51.100.20"},
    )
    assert elsewhere.status_code == 200
    # another account is not affected
    other = api.therapist()
    assert (
        api.call(
            "POST", "/api/v1/auth/token", json={"email": other.user["email"], "password": PASSWORD}
        ).status_code
        == 200
    )


def test_successful_sign_ins_do_not_count_against_the_limit(api: Api) -> None:
    t = api.therapist()
    for _ in range(12):
        assert (
            api.call(
                "POST", "/api/v1/auth/token", json={"email": t.user["email"], "password": PASSWORD}
            ).status_code
            == 200
        )


def test_sign_up_is_rate_limited_per_address(api: Api) -> None:
    statuses = [
        api.call(
            "POST",
            "/api/v1/auth/therapists",
            json={"email": unique_email(), "password": PASSWORD, "name": "Dr. Many"},
        ).status_code
        for _ in range(61)
    ]
    assert statuses[:60] == [202] * 60
    assert statuses[60] == 429
