"""Limits that protect rather than lock out: failed password checks count per account
and address together and per address (API and portal share the buckets), so a
stranger's guesses never refuse the real user's correct password from elsewhere."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from server.extensions import limiter
from tests.factories import PASSWORD, Actor, Api
from tests.portal.helpers import csrf

STRANGER = "203.0.113.66"
OWNER = "198.51.100.7"
WRONG = "not the password"


def at(address: str) -> dict[str, Any]:
    return {"environ_base": {"REMOTE_ADDR": address}}


def token(api: Api, email: str, password: str, address: str) -> int:
    r = api.call(
        "POST", "/api/v1/auth/token", json={"email": email, "password": password}, **at(address)
    )
    return r.status_code


def portal_sign_in(client: FlaskClient, email: str, password: str, address: str) -> int:
    form = {"email": email, "password": password, "csrf_token": csrf(client)}
    return client.post("/portal/login", data=form, **at(address)).status_code


def test_a_strangers_failures_do_not_lock_out_the_owner(api: Api) -> None:
    therapist = api.therapist()
    email = therapist.user["email"]
    for _ in range(12):
        assert token(api, email, WRONG, STRANGER) in (401, 429)
    # The stranger's address is refused, even with the right password...
    assert token(api, email, PASSWORD, STRANGER) == 429
    # ...and the owner, from their own address, signs in.
    assert token(api, email, PASSWORD, OWNER) == 200
    assert token(api, email, PASSWORD, OWNER) == 200


def test_ten_failures_for_one_account_from_one_address_then_429(api: Api) -> None:
    therapist = api.therapist()
    email = therapist.user["email"]
    assert [token(api, email, WRONG, STRANGER) for _ in range(10)] == [401] * 10
    r = api.call(
        "POST", "/api/v1/auth/token", json={"email": email, "password": PASSWORD}, **at(STRANGER)
    )
    assert r.status_code == 429
    assert r.content_type == "application/problem+json"
    assert "Retry-After" in r.headers
    # Another account from the same address is not refused (yet: the address's own
    # bucket is larger).
    other = api.therapist()
    assert token(api, other.user["email"], PASSWORD, STRANGER) == 200


def test_an_address_guessing_many_accounts_is_stopped(api: Api) -> None:
    therapist = api.therapist()
    for n in range(100):
        assert token(api, f"guess{n}@example.test", WRONG, STRANGER) == 401
    assert token(api, therapist.user["email"], PASSWORD, STRANGER) == 429
    assert token(api, therapist.user["email"], PASSWORD, OWNER) == 200


def test_api_and_portal_share_the_buckets(api: Api, client: FlaskClient) -> None:
    therapist = api.therapist()
    email = therapist.user["email"]
    for _ in range(10):
        assert token(api, email, WRONG, STRANGER) == 401
    assert portal_sign_in(client, email, PASSWORD, STRANGER) == 429
    assert portal_sign_in(client.application.test_client(), email, PASSWORD, OWNER) == 303


def test_portal_failures_count_for_the_api_per_address(api: Api, client: FlaskClient) -> None:
    therapist = api.therapist()
    email = therapist.user["email"]
    for _ in range(10):
        assert portal_sign_in(client, email, WRONG, STRANGER) == 401
    assert token(api, email, PASSWORD, STRANGER) == 429
    assert token(api, email, PASSWORD, OWNER) == 200


def delete_me(api: Api, actor: Actor, password: str, address: str) -> int:
    r = api.call("DELETE", "/api/v1/me", actor, json={"password": password}, **at(address))
    return r.status_code


def change_password(api: Api, actor: Actor, current: str, address: str) -> int:
    body = {"current_password": current, "new_password": "another fine passphrase"}
    return api.call("POST", "/api/v1/me/password", actor, json=body, **at(address)).status_code


@pytest.mark.parametrize("door", ["DELETE /me", "POST /me/password"])
def test_password_checks_of_signed_in_callers_are_limited_like_sign_in(api: Api, door: str) -> None:
    """A stolen access token is no way to guess the password: wrong passwords given to
    DELETE /me or POST /me/password count in the sign-in buckets."""
    therapist = api.therapist()
    email = therapist.user["email"]
    attempt = delete_me if door == "DELETE /me" else change_password
    assert [attempt(api, therapist, WRONG, STRANGER) for _ in range(10)] == [422] * 10
    assert attempt(api, therapist, PASSWORD, STRANGER) == 429
    assert token(api, email, PASSWORD, STRANGER) == 429  # the same bucket as sign-in
    assert token(api, email, PASSWORD, OWNER) == 200
    # Right password, from an address that has not been failing: done.
    expected = 204
    assert attempt(api, therapist, PASSWORD, OWNER) == expected


def test_wrong_passwords_elsewhere_do_not_block_a_password_change(api: Api) -> None:
    therapist = api.therapist()
    for _ in range(10):
        token(api, therapist.user["email"], WRONG, STRANGER)
    assert change_password(api, therapist, PASSWORD, OWNER) == 204


def test_only_wrong_passwords_count(api: Api) -> None:
    """Malformed bodies and successful changes do not use up the bucket."""
    therapist = api.therapist()
    for _ in range(12):
        r = api.call("POST", "/api/v1/me/password", therapist, json={"current_password": PASSWORD})
        assert r.status_code == 422
    assert token(api, therapist.user["email"], PASSWORD, "127.0.0.1") == 200


def test_rate_limit_keys_never_hold_the_email(api: Api, app: Flask) -> None:
    email = "someone.private@example.test"
    token(api, email, WRONG, STRANGER)
    with app.app_context():
        storage = limiter.storage
        keys = " ".join(map(str, getattr(storage, "storage", {}).keys()))
    assert keys, "expected counters in the memory storage"
    assert "someone.private" not in keys
    assert f"ip:{STRANGER}" in keys
