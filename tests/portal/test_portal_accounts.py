"""Completing each email step in a browser: the portal's confirm-address, forgot-password
and new-password pages for therapists, the recovery-code button on a couple's page, and
the partners' minimal pages at /account (issue 10, parts 1-3)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from notifications.mail import Email, MemoryMailer
from tests.conftest import sent_emails
from tests.factories import PASSWORD, Api, build_world, unique_email
from tests.portal.helpers import html, portal_login, post, sign_in
from tests.portal.matrix import ACCOUNT_MATRIX

NEW_PASSWORD = "a fresh passphrase"
_ACCOUNT_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def link(email: Email) -> str:
    match = re.search(r"https?://\S+", email.text)
    assert match
    parts = urlsplit(match.group(0))
    return f"{parts.path}?{parts.query}"


def token_of(email: Email) -> str:
    return parse_qs(urlsplit(link(email)).query)["token"][0]


# --- therapists: the portal ------------------------------------------------------------


def test_a_new_therapist_confirms_by_the_link_then_signs_in(
    api: Api, app: Flask, client: FlaskClient, outbox: MemoryMailer
) -> None:
    address = unique_email("new")
    r = api.call(
        "POST",
        "/api/v1/auth/therapists",
        json={"email": address, "password": PASSWORD, "name": "Dr. Page"},
    )
    assert r.status_code == 202
    (email,) = sent_emails(app, outbox, 1)
    # Not yet confirmed: the portal answers as for a wrong password.
    refused = portal_login(client, address)
    assert refused.status_code == 401
    assert "not correct" in html(refused)

    page = client.get(link(email))
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "Confirm my address" in html(page)
    # Opening the link (as a mail scanner would) confirmed nothing.
    assert portal_login(client, address).status_code == 401

    done = post(client, "/portal/verify-email", token=token_of(email))
    assert done.status_code == 303
    assert done.headers["Location"].endswith("/portal/login")
    assert "confirmed" in html(client.get("/portal/login"))
    assert portal_login(client, address).status_code == 303

    again = post(client, "/portal/verify-email", token=token_of(email))
    assert again.status_code == 410
    assert "already been used" in html(again)


def test_forgot_password_then_a_new_one_from_the_emailed_link(
    api: Api, app: Flask, client: FlaskClient, outbox: MemoryMailer
) -> None:
    therapist = api.therapist()
    login_page = html(client.get("/portal/login"))
    assert 'href="/portal/forgot-password"' in login_page
    assert "Forgot your password?" in login_page

    asked = post(client, "/portal/forgot-password", email=therapist.user["email"])
    unknown = post(client, "/portal/forgot-password", email="nobody@example.test")
    assert asked.status_code == unknown.status_code == 200
    assert "If an account uses this address" in html(asked)
    assert html(asked).replace(therapist.user["email"], "") == html(unknown).replace(
        "nobody@example.test", ""
    )
    (email,) = sent_emails(app, outbox, 1)
    assert link(email).startswith("/portal/reset-password?token=")

    form = client.get(link(email))
    assert form.status_code == 200
    assert form.headers["Referrer-Policy"] == "no-referrer"
    mismatch = post(
        client,
        "/portal/reset-password",
        token=token_of(email),
        new_password=NEW_PASSWORD,
        repeat_password="something else",
    )
    assert mismatch.status_code == 422
    done = post(
        client,
        "/portal/reset-password",
        token=token_of(email),
        new_password=NEW_PASSWORD,
        repeat_password=NEW_PASSWORD,
    )
    assert done.status_code == 303
    assert api.call("GET", "/api/v1/me", therapist).status_code == 401  # every login ended
    assert portal_login(client, therapist.user["email"]).status_code == 401
    assert portal_login(client, therapist.user["email"], NEW_PASSWORD).status_code == 303


def test_an_unknown_or_spent_reset_link_says_so_on_the_page(
    client: FlaskClient, outbox: MemoryMailer
) -> None:
    r = post(
        client,
        "/portal/reset-password",
        token="made-up",
        new_password=NEW_PASSWORD,
        repeat_password=NEW_PASSWORD,
    )
    assert r.status_code == 404
    assert "not valid" in html(r)


def test_the_couple_page_issues_a_recovery_code_shown_once(
    api: Api, client: FlaskClient, outbox: MemoryMailer
) -> None:
    therapist = api.therapist()
    couple, partner, _ = api.couple_with_partners(therapist)
    sign_in(client, therapist)
    page = html(client.get(f"/portal/couples/{couple['id']}"))
    action = f"/portal/couples/{couple['id']}/partners/{partner.id}/recovery"
    assert f'action="{action}"' in page
    assert "Recovery code for Alex" in page

    shown = post(client, action)
    assert shown.status_code == 200
    assert shown.headers["Cache-Control"] == "no-store"
    match = re.search(r'id="recovery-code">([0-9A-Z-]+)<', html(shown))
    assert match
    assert match.group(1) not in html(client.get(f"/portal/couples/{couple['id']}"))

    confirm = api.call(
        "POST",
        "/api/v1/auth/password-reset/confirm",
        json={"token": match.group(1), "new_password": NEW_PASSWORD},
    )
    assert confirm.status_code == 204
    assert api.login(partner.user["email"], NEW_PASSWORD)


def test_another_therapists_partner_gets_no_code(api: Api, client: FlaskClient) -> None:
    world = build_world(api)
    sign_in(client, world.other_therapist)
    r = post(client, f"/portal/couples/{world.couple['id']}/partners/{world.partner.id}/recovery")
    assert r.status_code == 404
    assert "recovery-code" not in html(r)


# --- partners: /account ----------------------------------------------------------------


def account_post(client: FlaskClient, path: str, **form: Any) -> Any:
    """Post an /account form as a browser would: the page first (it sets the CSRF
    cookie), then the form with the token from the page."""
    page = client.get(path)
    match = _ACCOUNT_CSRF.search(html(page))
    assert match
    return client.post(path.split("?")[0], data={**form, "csrf_token": match.group(1)})


def test_a_partner_resets_by_email_on_the_account_pages(
    api: Api, app: Flask, client: FlaskClient, outbox: MemoryMailer
) -> None:
    _, partner, _ = api.couple_with_partners(api.therapist())
    sent = account_post(client, "/account/forgot-password", email=partner.user["email"])
    assert sent.status_code == 200
    assert "If an account uses this address" in html(sent)
    (email,) = sent_emails(app, outbox, 1)
    assert link(email).startswith("/account/reset-password?token=")

    page = client.get(link(email))
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    assert "script" not in html(page).lower()
    assert 'name="from_link" value="1"' in html(page)
    done = account_post(
        client,
        link(email),
        token=token_of(email),
        from_link="1",
        new_password=NEW_PASSWORD,
        repeat_password=NEW_PASSWORD,
    )
    assert done.status_code == 200, html(done)
    assert "Your password is changed" in html(done)
    assert api.call("GET", "/api/v1/me", partner).status_code == 401
    assert api.login(partner.user["email"], NEW_PASSWORD)


def test_a_partner_types_the_therapists_recovery_code(
    api: Api, client: FlaskClient, outbox: MemoryMailer
) -> None:
    therapist = api.therapist()
    couple, partner, _ = api.couple_with_partners(therapist)
    code = api.call(
        "POST",
        f"/api/v1/couples/{couple['id']}/partners/{partner.id}/recovery",
        therapist,
    ).get_json()["code"]
    page = html(client.get("/account/reset-password"))
    assert 'id="token"' in page and "Recovery code from your therapist" in page
    wrong = account_post(
        client,
        "/account/reset-password",
        token="AAAA-AAAA-AAAA-AAAA",
        new_password=NEW_PASSWORD,
        repeat_password=NEW_PASSWORD,
    )
    assert wrong.status_code == 404
    assert "not valid" in html(wrong)
    done = account_post(
        client,
        "/account/reset-password",
        token=code.lower(),
        new_password=NEW_PASSWORD,
        repeat_password=NEW_PASSWORD,
    )
    assert done.status_code == 200
    assert api.login(partner.user["email"], NEW_PASSWORD)


def test_account_forms_need_their_csrf_cookie(client: FlaskClient, outbox: MemoryMailer) -> None:
    client.get("/account/forgot-password")
    forged = client.post(
        "/account/forgot-password", data={"email": "x@example.test", "csrf_token": "guess" * 8}
    )
    assert forged.status_code == 400
    assert outbox.sent == []
    cookie = client.get_cookie("tandem_account_csrf", path="/account")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Strict"


@pytest.mark.parametrize("key", sorted(ACCOUNT_MATRIX))
def test_account_pages_answer_everyone_alike(
    api: Api, client: FlaskClient, outbox: MemoryMailer, key: str
) -> None:
    """The /account routes of the permission matrix: no sign-in, the same answer for
    every caller (a bearer token changes nothing)."""
    world = build_world(api)
    method, rule = key.split(" ", 1)
    path = rule.replace("<path:filename>", "account.css")
    for actor in (None, world.client, world.therapist):
        headers = actor.headers if actor else {}
        if method == "GET":
            r = client.get(path, headers=headers)
        elif "forgot" in path:
            r = account_post(client, path, email=unique_email())
        else:
            code = api.call(
                "POST",
                f"/api/v1/couples/{world.couple['id']}/partners/{world.partner.id}/recovery",
                world.therapist,
            ).get_json()["code"]
            r = account_post(
                client, path, token=code, new_password=NEW_PASSWORD, repeat_password=NEW_PASSWORD
            )
        assert r.status_code == ACCOUNT_MATRIX[key], (key, html(r)[:300])
        r.close()
