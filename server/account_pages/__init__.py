"""Minimal pages of our own for partners' accounts, at /account: ask for a password reset
link, and choose a new password with an email's link or a therapist's recovery code.

Partners use the phone app, which has no such screens yet; these pages complete each
step in any browser. They stay out of /app/ (the partner app's service worker owns that
scope). No scripts, a strict CSP, nothing cached, no Referer sent (the URL may carry a
token). CSRF: the portal's session cookie is scoped to /portal, so these forms use a
double-submit cookie of their own (random, HttpOnly, SameSite=Strict, path /account)
that must match the form's hidden field.
"""

from __future__ import annotations

import hmac
import logging
import secrets

from flask import Blueprint, Flask, Response, abort, make_response, render_template, request
from werkzeug.exceptions import HTTPException

from server.auth import form_email_rate_limit_key, token_refused
from server.errors import RETRY_AFTER, APIError, outage
from server.extensions import limiter
from server.services import account_mail
from server.services.accounts import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH

log = logging.getLogger(__name__)

CSRF_COOKIE = "tandem_account_csrf"
CSRF_FIELD = "csrf_token"
MAX_TOKEN = 200
MAX_EMAIL = 254
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)

blp = Blueprint(
    "account",
    __name__,
    url_prefix="/account",
    template_folder="templates",
    static_folder="static",
)


def _csrf_token() -> str:
    existing = request.cookies.get(CSRF_COOKIE, "")
    return existing if 20 <= len(existing) <= 100 else secrets.token_urlsafe(32)


def _page(template: str, status: int = 200, **context: object) -> Response:
    token = _csrf_token()
    response = make_response(render_template(template, csrf_token=token, **context), status)
    response.set_cookie(
        CSRF_COOKIE,
        token,
        max_age=3600,
        path="/account",
        secure=request.is_secure,
        httponly=True,
        samesite="Strict",
    )
    return response


@blp.before_request
def check_csrf() -> None:
    if request.method == "POST":
        cookie = request.cookies.get(CSRF_COOKIE, "")
        sent = request.form.get(CSRF_FIELD, "")
        if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
            abort(400)


@blp.after_request
def security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers["Referrer-Policy"] = "no-referrer"
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.endpoint != "account.static":
        headers["Cache-Control"] = "no-store"
    return response


ERRORS = {
    400: "This form has expired. Reload the page and try again.",
    404: "There is nothing here.",
    405: "This page cannot be used that way.",
    413: "That was more than this form takes.",
    429: "Too many attempts. Wait a few minutes and try again.",
    503: "Tandem is not available right now. Try again in a minute.",
}


@blp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> Response:
    if outage(error) is not None:
        response = _page("account/message.html", 503, title="Not available", text=ERRORS[503])
        response.headers["Retry-After"] = RETRY_AFTER
        return response
    status = error.code or 500
    text = ERRORS.get(status, "Something went wrong. Please try again.")
    return _page("account/message.html", status, title="Sorry", text=text)


@blp.errorhandler(Exception)
def unexpected_error(error: Exception) -> Response:
    if outage(error) is not None:
        response = _page("account/message.html", 503, title="Not available", text=ERRORS[503])
        response.headers["Retry-After"] = RETRY_AFTER
        return response
    log.exception("unhandled exception on an account page")
    return _page("account/message.html", 500, title="Sorry", text="Something went wrong.")


@blp.route("/forgot-password", methods=["GET", "POST"])
@limiter.limit("30 per 15 minutes", methods=["POST"])
@limiter.limit("5 per hour", methods=["POST"], key_func=form_email_rate_limit_key)
def forgot_password() -> Response:
    """Ask for an email with a link to choose a new password."""
    if request.method == "GET":
        return _page("account/forgot.html")
    email = request.form.get("email", "").strip()[:MAX_EMAIL]
    if "@" not in email:
        return _page("account/forgot.html", 422, error="Enter the email address of your account.")
    return _page("account/forgot.html", sent=account_mail.request_password_reset(email=email))


@blp.route("/reset-password", methods=["GET", "POST"])
@limiter.limit("10 per 15 minutes", methods=["POST"], deduct_when=token_refused)
def reset_password() -> Response:
    """Choose a new password with the email's link or a recovery code."""
    token = request.values.get("token", "").strip()[:MAX_TOKEN]
    from_link = (request.method == "GET" and bool(token)) or request.form.get("from_link") == "1"
    context = {"token": token, "from_link": from_link}
    if request.method == "GET":
        return _page("account/reset.html", **context)
    password = request.form.get("new_password", "")
    if not token:
        return _page("account/reset.html", 422, **context, error="Enter the recovery code.")
    if not PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH:
        error = f"Choose a password of {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters."
        return _page("account/reset.html", 422, **context, error=error)
    if password != request.form.get("repeat_password", ""):
        return _page("account/reset.html", 422, **context, error="The two are not the same.")
    try:
        account_mail.confirm_password_reset(token=token, new_password=password)
    except APIError as error:
        return _page("account/reset.html", error.status, **context, error=error.detail)
    return _page(
        "account/message.html",
        title="Your password is changed",
        text="Open the Tandem app and sign in with your new password. Every earlier "
        "sign-in has ended, on every device.",
    )


def init_app(app: Flask) -> None:
    app.register_blueprint(blp)
