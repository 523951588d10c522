"""Portal sign-in: the login session behind the cookie, CSRF tokens, security headers."""

from __future__ import annotations

import hmac
import logging
import secrets
from datetime import date, timedelta
from urllib.parse import urlsplit

from flask import Response, request, session
from sqlalchemy import select

from server.auth import open_login, passwords, revoke_session, sign_in_rate_limit_key
from server.db import utcnow
from server.extensions import db
from server.models import THERAPIST, LoginSession, User
from server.portal import SESSION_IDLE
from server.schemas.common import MAX_YEAR, MIN_YEAR, parse_ascii_int
from server.services.accounts import find_user_by_email, normalize_email
from server.services.audit import record_event

log = logging.getLogger(__name__)

# However active the therapist is, a portal login ends after a working day (well within
# the 90 days of API logins), and 2 hours after its last use (SESSION_IDLE).
SESSION_MAX_AGE = timedelta(hours=12)
PORTAL_CLIENT = "portal"  # the label GET /me/sessions and "Your sign-ins" show
# `last_used_at` is written at most this often, not on every page view.
TOUCH_EVERY = timedelta(minutes=1)
MAX_EMAIL = 254
MAX_PASSWORD = 1024

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


class WrongRole(Exception):
    """Valid credentials of an account that may not use the portal (a partner)."""


def check_credentials(email: str, password: str) -> User | None:
    """The therapist with these credentials; None when they are wrong.

    An unknown email costs the same argon2 work as a wrong password. A partner's
    correct credentials raise `WrongRole`: partners use the phone app.
    """
    if len(email) > MAX_EMAIL or len(password) > MAX_PASSWORD:
        return None
    user = find_user_by_email(email=email) if email.strip() else None
    if not passwords().verify(user.password_hash if user else None, password) or user is None:
        return None
    if user.email_verified_at is None:
        return None  # not confirmed yet: the same answer as a wrong password
    if user.role != THERAPIST:
        raise WrongRole
    return user


def sign_in(user: User) -> None:
    """Open a login session for `user` and put it in a fresh cookie session."""
    login = open_login(user=user, client=PORTAL_CLIENT, idle=SESSION_IDLE)
    record_event(
        actor_id=user.id, action="session.portal_login", object_type="session", object_id=login.id
    )
    session.clear()
    session.permanent = True
    session["uid"] = user.id
    session["sid"] = login.id
    session["csrf"] = secrets.token_urlsafe(32)


def sign_out() -> None:
    """End the login session named by the cookie (it stops working at once)."""
    sid, uid = session.get("sid"), session.get("uid")
    if sid:
        revoke_session(session_id=sid, reason="logout")
        record_event(
            actor_id=uid, action="session.logged_out", object_type="session", object_id=sid
        )
    session.clear()


def signed_in_therapist() -> User | None:
    """The therapist named by the cookie, if their login is still open and fresh."""
    uid, sid = session.get("uid"), session.get("sid")
    if not isinstance(uid, str) or not isinstance(sid, str):
        return None
    row = db.session.execute(
        select(User, LoginSession)
        .join(LoginSession, LoginSession.user_id == User.id)
        .where(LoginSession.id == sid, User.id == uid, LoginSession.revoked_at.is_(None))
    ).one_or_none()
    if row is None or row[0].role != THERAPIST:
        session.clear()
        return None
    user, login = row
    now = utcnow()
    if (
        login.expires_at <= now
        or now - login.last_used_at > SESSION_IDLE
        or now - login.created_at > SESSION_MAX_AGE
    ):
        revoke_session(session_id=login.id, reason="expired")
        session.clear()
        return None
    if now - login.last_used_at > TOUCH_EVERY:
        login.last_used_at = now
        login.expires_at = min(now + SESSION_IDLE, login.created_at + SESSION_MAX_AGE)
    return user


def csrf_token() -> str:
    """This browser session's CSRF token (created on first use)."""
    token = session.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def csrf_valid() -> bool:
    expected = session.get("csrf")
    sent = request.form.get("csrf_token", "")
    return isinstance(expected, str) and bool(expected) and hmac.compare_digest(sent, expected)


def form_email_key() -> str:
    """Rate-limit key of a sign-in form, built exactly like the API's (see `LOGIN_SCOPE`):
    the account tried from this address, never the account alone."""
    email = request.form.get("email", "")
    return sign_in_rate_limit_key(normalize_email(email)[:MAX_EMAIL] if email.strip() else None)


def whole_number(text: str | None, *, minimum: int = 0, maximum: int = 1000) -> int | None:
    """A form's or query string's number in ASCII digits within bounds, else None.

    (`int()` and `str.isdigit` take "²" or "٣" too, and `int()` then fails or surprises.)
    """
    try:
        return parse_ascii_int(text or "", minimum=minimum, maximum=maximum)
    except ValueError:
        return None


def page_number(text: str | None) -> int:
    """A list page from the query string; anything but a sensible page number is page 1."""
    return whole_number(text, minimum=1, maximum=100_000) or 1


def form_date(text: str) -> date:
    """A date from a form field (YYYY-MM-DD, years 1900 to 2200), else ValueError."""
    value = date.fromisoformat(text.strip())
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"not in the years {MIN_YEAR} to {MAX_YEAR}")
    return value


def safe_next(target: str | None) -> str | None:
    """`target` if it is a portal page of this site, else None (no open redirects)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/portal/"):
        return None
    if "\\" in target or target.startswith("//"):
        return None
    return target


def add_security_headers(response: Response) -> Response:
    """Every portal response: strict CSP (no scripts at all), no framing, no caching of
    pages that show clinical data."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.endpoint != "portal.static":
        headers["Cache-Control"] = "no-store"
    return response
