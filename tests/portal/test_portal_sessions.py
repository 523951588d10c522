"""The portal's "Your sign-ins" page: list, end one, end all others, change password."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from server.extensions import db
from server.models import Device, LoginSession
from tests.factories import PASSWORD, Actor, Api
from tests.portal.helpers import csrf, html, post, sign_in

CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
NEW_PASSWORD = "a brand new passphrase"


def phone_login(api: Api, email: str, password: str = PASSWORD) -> Actor:
    r = api.client.post(
        "/api/v1/auth/token",
        json={"email": email, "password": password},
        headers={"User-Agent": CHROME_ANDROID},
    )
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    phone = Actor(user={}, access_token=body["access_token"], refresh_token=body["refresh_token"])
    device = api.call(
        "POST", "/api/v1/me/devices", phone, json={"token": f"t-{uuid.uuid4()}", "platform": "ios"}
    )
    assert device.status_code == 201
    return phone


def sid(app: Flask, actor: Actor) -> str:
    return str(app.extensions["tandem.token_serializer"].loads(actor.access_token)["sid"])


def works(api: Api, actor: Actor) -> bool:
    return api.call("GET", "/api/v1/me", actor).status_code == 200


def devices(app: Flask) -> int:
    with app.app_context():
        return len(db.session.scalars(select(Device.id)).all())


def test_the_page_lists_this_browser_and_the_other_sign_ins(api: Api, client: FlaskClient) -> None:
    therapist = api.therapist()
    phone_login(api, therapist.user["email"])
    sign_in(client, therapist)
    page = client.get("/portal/sign-ins")
    assert page.status_code == 200
    text = html(page)
    assert "portal <strong>(this browser)</strong>" in text
    assert "Chrome on Android" in text
    assert "Pixel 8" not in text  # a label, never the User-Agent
    assert 'action="/portal/password"' in text
    assert "Sign out everywhere else" in text
    assert 'href="/portal/sign-ins"' in html(client.get("/portal/"))  # in the navigation


def test_ending_a_phones_sign_in_from_the_portal(api: Api, app: Flask, client: FlaskClient) -> None:
    therapist = api.therapist()
    phone = phone_login(api, therapist.user["email"])
    sign_in(client, therapist)
    assert devices(app) == 1
    r = post(client, f"/portal/sign-ins/{sid(app, phone)}/end")
    assert r.status_code == 303
    assert not works(api, phone)
    assert devices(app) == 0  # its device gets no more pushes
    assert works(api, therapist)
    after = client.get("/portal/sign-ins")
    assert after.status_code == 200
    assert "Chrome on Android" not in html(after)


def test_another_therapists_sign_in_is_404(api: Api, app: Flask, client: FlaskClient) -> None:
    therapist = api.therapist()
    other = api.therapist(name="Dr. Other")
    sign_in(client, therapist)
    r = post(client, f"/portal/sign-ins/{sid(app, other)}/end")
    assert r.status_code == 404
    assert works(api, other)
    assert post(client, "/portal/sign-ins/not-an-id/end").status_code == 404


def test_sign_out_everywhere_else_keeps_this_browser(
    api: Api, app: Flask, client: FlaskClient
) -> None:
    therapist = api.therapist()
    phone = phone_login(api, therapist.user["email"])
    other_browser = app.test_client()
    sign_in(other_browser, therapist)
    sign_in(client, therapist)
    r = post(client, "/portal/sign-ins/end-others")
    assert r.status_code == 303
    assert not works(api, phone) and not works(api, therapist)
    assert other_browser.get("/portal/").status_code == 302
    assert client.get("/portal/sign-ins").status_code == 200
    assert devices(app) == 0


def test_ending_this_browsers_sign_in_signs_out(api: Api, client: FlaskClient) -> None:
    therapist = api.therapist()
    sign_in(client, therapist)
    with client.session_transaction("/portal/") as cookie:
        current = cookie["sid"]
    r = post(client, f"/portal/sign-ins/{current}/end")
    assert r.status_code == 303
    assert r.headers["Location"].endswith("/portal/login")
    assert client.get("/portal/").status_code == 302


def test_changing_the_password_in_the_portal(api: Api, app: Flask, client: FlaskClient) -> None:
    therapist = api.therapist()
    email = therapist.user["email"]
    phone = phone_login(api, email)
    sign_in(client, therapist)
    r = post(
        client,
        "/portal/password",
        current_password=PASSWORD,
        new_password=NEW_PASSWORD,
        new_password_again=NEW_PASSWORD,
    )
    assert r.status_code == 303
    assert "Your password has changed" in html(client.get("/portal/sign-ins"))
    assert not works(api, phone) and not works(api, therapist)
    assert client.get("/portal/").status_code == 200  # this browser stays signed in
    old = api.client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert old.status_code == 401
    assert phone_login(api, email, NEW_PASSWORD)


def test_a_wrong_or_mistyped_password_changes_nothing(api: Api, client: FlaskClient) -> None:
    therapist = api.therapist()
    sign_in(client, therapist)
    wrong = post(
        client,
        "/portal/password",
        current_password="not my password",
        new_password=NEW_PASSWORD,
        new_password_again=NEW_PASSWORD,
    )
    assert wrong.status_code == 303
    assert "The current password is not correct." in html(client.get("/portal/sign-ins"))
    mismatch = post(
        client,
        "/portal/password",
        current_password=PASSWORD,
        new_password=NEW_PASSWORD,
        new_password_again=NEW_PASSWORD + "!",
    )
    assert mismatch.status_code == 303
    assert "not the same" in html(client.get("/portal/sign-ins"))
    short = post(
        client,
        "/portal/password",
        current_password=PASSWORD,
        new_password="short",
        new_password_again="short",
    )
    assert short.status_code == 303
    assert works(api, therapist)
    api.login(therapist.user["email"])  # the old password still works


def test_wrong_passwords_in_the_portal_count_like_sign_ins(api: Api, client: FlaskClient) -> None:
    therapist = api.therapist()
    email = therapist.user["email"]
    sign_in(client, therapist)
    form = {
        "current_password": "not my password",
        "new_password": NEW_PASSWORD,
        "new_password_again": NEW_PASSWORD,
    }
    for _ in range(10):
        assert post(client, "/portal/password", **form).status_code == 303
    limited = post(client, "/portal/password", **{**form, "current_password": PASSWORD})
    assert limited.status_code == 429
    assert "Too many attempts" in html(limited)
    # The same bucket as sign-in, for this address only.
    here = api.client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert here.status_code == 429
    elsewhere = api.client.post(
        "/api/v1/auth/token",
        json={"email": email, "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
    )
    assert elsewhere.status_code == 200


def test_the_forms_need_the_csrf_token(api: Api, app: Flask, client: FlaskClient) -> None:
    therapist = api.therapist()
    phone = phone_login(api, therapist.user["email"])
    sign_in(client, therapist)
    csrf(client)
    assert client.post(f"/portal/sign-ins/{sid(app, phone)}/end").status_code == 400
    assert client.post("/portal/sign-ins/end-others").status_code == 400
    r = client.post(
        "/portal/password",
        data={
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_again": NEW_PASSWORD,
        },
    )
    assert r.status_code == 400
    assert works(api, phone)


def test_a_portal_sign_in_past_its_end_is_over(api: Api, app: Flask, client: FlaskClient) -> None:
    therapist = api.therapist()
    sign_in(client, therapist)
    with client.session_transaction("/portal/") as cookie:
        current = cookie["sid"]
    with app.app_context():
        login = db.session.get(LoginSession, current)
        assert login is not None and login.client == "portal"
        assert login.expires_at <= login.created_at + timedelta(hours=2, seconds=1)
        login.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        db.session.commit()
    assert client.get("/portal/").status_code == 302
