"""The portal's pages for a therapist's account by email: confirm the address, forgot
password, choose a new password (the links in Tandem's emails open these), and a
partner's recovery code issued from the couple's page.

The same services as the API (`server.services.account_mail`); CSRF like every portal
form. A page reached by a link carrying `?token=` sends no Referer anywhere, and the
token goes on in a form field (POST), never in another URL: an email scanner that
follows the link changes nothing.
"""

from __future__ import annotations

import logging

from flask import Response, flash, g, make_response, redirect, render_template, request, url_for

from server.auth import form_email_rate_limit_key, token_refused
from server.errors import APIError
from server.extensions import limiter
from server.portal.views import blp
from server.services import account_mail
from server.services.accounts import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH

log = logging.getLogger(__name__)

MAX_TOKEN = 200
MAX_EMAIL = 254
PUBLIC = ("portal.verify_email", "portal.reset_password", "portal.forgot_password")


def _page(template: str, status: int = 200, **context: object) -> Response:
    response = make_response(render_template(template, **context), status)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _token() -> str:
    return request.values.get("token", "").strip()[:MAX_TOKEN]


@blp.route("/verify-email", methods=["GET", "POST"])
@limiter.limit("30 per 15 minutes", methods=["POST"], deduct_when=token_refused)
def verify_email() -> Response:
    """Confirm the address with the sign-up email's link (a button, so that a mail
    scanner opening the link confirms nothing)."""
    token = _token()
    if request.method == "GET" or not token:
        return _page("portal/verify_email.html", token=token)
    try:
        account_mail.verify_email(token=token)
    except APIError as error:
        return _page("portal/verify_email.html", error.status, token="", error=error.detail)
    flash("Your email address is confirmed. You can sign in now.", "success")
    return redirect(url_for("portal.login"), code=303)


@blp.route("/forgot-password", methods=["GET", "POST"])
@limiter.limit("30 per 15 minutes", methods=["POST"])
@limiter.limit("5 per hour", methods=["POST"], key_func=form_email_rate_limit_key)
def forgot_password() -> Response:
    """Ask for a link to choose a new password (the same answer for every address)."""
    if request.method == "GET":
        return _page("portal/forgot_password.html")
    email = request.form.get("email", "").strip()[:MAX_EMAIL]
    if "@" not in email:
        return _page(
            "portal/forgot_password.html", 422, error="Enter the email address you sign in with."
        )
    detail = account_mail.request_password_reset(email=email)
    return _page("portal/forgot_password.html", sent=detail)


@blp.route("/reset-password", methods=["GET", "POST"])
@limiter.limit("10 per 15 minutes", methods=["POST"], deduct_when=token_refused)
def reset_password() -> Response:
    """Choose a new password with the reset email's link; every login then ends."""
    token = _token()
    if request.method == "GET":
        return _page("portal/reset_password.html", token=token)
    password = request.form.get("new_password", "")
    if not PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH:
        error = f"Choose a password of {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters."
        return _page("portal/reset_password.html", 422, token=token, error=error)
    if password != request.form.get("repeat_password", ""):
        error = "The two passwords are not the same."
        return _page("portal/reset_password.html", 422, token=token, error=error)
    if not token:
        error = "Open this page with the link from your email."
        return _page("portal/reset_password.html", 400, token=token, error=error)
    try:
        account_mail.confirm_password_reset(token=token, new_password=password)
    except APIError as error:
        return _page("portal/reset_password.html", error.status, token="", error=error.detail)
    flash("Your password is changed and every sign-in has ended. Sign in again.", "success")
    return redirect(url_for("portal.login"), code=303)


@blp.post("/couples/<couple_id>/partners/<partner_id>/recovery")
@limiter.limit("30 per hour")
def recovery_code(couple_id: str, partner_id: str) -> Response:
    """Issue a partner's one-time recovery code and show it once."""
    issued = account_mail.issue_recovery_code(
        therapist=g.therapist, couple_id=couple_id, partner_id=partner_id
    )
    couple = issued["couple"]
    return _page(
        "portal/recovery_code.html",
        couple=couple,
        partner=issued["partner"],
        code=issued["code"],
        expires_at=issued["expires_at"],
    )
