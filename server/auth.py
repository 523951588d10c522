"""Authentication: password hashing, access and refresh tokens, and the route guard.

- Passwords: argon2id (argon2-cffi). An unknown email is checked against a dummy hash
  so that it takes as long as a wrong password.
- Access tokens: signed with the secret key (itsdangerous), valid 15 minutes, naming
  the login session; each request checks that the session is still open, so logout
  and account deletion take effect at once. Access tokens are never stored.
- Refresh tokens: random, stored only as SHA-256 hashes, spent on first use. Using a
  spent one again revokes the whole login session (a stolen token was replayed).
- Logins end 30 days after their last use and at most 90 days after sign-in, however
  often they refresh (`LoginSession.expires_at`, moved on each use, never past
  `created_at` + 90 days). Each login carries a short label of the client that signed
  in ("Chrome on Android", "partner app"), parsed from the User-Agent at sign-in; the
  User-Agent itself is never stored.
- Failed password checks (sign-in, password change, account deletion; API and portal)
  are counted per account and client address together and per address, never per
  account alone: a stranger's guesses cannot lock the real user out.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, current_app, g, has_request_context, request
from flask_limiter.util import get_remote_address
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import bindparam, delete, or_, select, update

from server.db import utcnow
from server.errors import Forbidden, InvalidToken, Unauthorized
from server.extensions import db
from server.models import Assignment, Device, LoginSession, RefreshToken, User
from server.models.user import CLIENT_LABEL_MAX, LOGIN_IDLE, LOGIN_MAX_AGE

log = logging.getLogger(__name__)

ACCESS_TOKEN_TTL = timedelta(minutes=15)
# A login's `last_used_at` (and so its expiry) is written at most this often.
TOUCH_EVERY = timedelta(minutes=1)
# Failed sign-ins of the API and the portal, and failed password checks of signed-in
# callers, count in the buckets of `POST /auth/token` (endpoint `auth.create_token`).
SIGN_IN_SCOPE = "auth.create_token"
BEARER = [{"bearerAuth": []}]

F = TypeVar("F", bound=Callable[..., Any])


class PasswordService:
    """argon2id hashing with a constant-time answer for unknown accounts."""

    def __init__(self, hasher: argon2.PasswordHasher) -> None:
        self.hasher = hasher
        self._dummy = hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True if `password` matches; with no hash, do the same work and say False."""
        try:
            return self.hasher.verify(password_hash or self._dummy, password) and (
                password_hash is not None
            )
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self.hasher.check_needs_rehash(password_hash)


def passwords() -> PasswordService:
    return current_app.extensions["tandem.passwords"]  # type: ignore[no-any-return]


def _serializer() -> URLSafeTimedSerializer:
    return current_app.extensions["tandem.token_serializer"]  # type: ignore[no-any-return]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


EMAIL_MAX_LENGTH = 254


def normalize_email(email: str) -> str:
    """Emails are unique and looked up case-insensitively."""
    return email.strip().lower()


def address_rate_limit_key(email: object) -> str:
    """The bucket of a request that names the address an email would go to: that
    address's keyed hash (never the address), else the caller's network address. No one
    is sent a flood of emails, whoever asks."""
    if isinstance(email, str) and email.strip():
        return account_rate_limit_key(normalize_email(email)[:EMAIL_MAX_LENGTH])
    return "ip:" + get_remote_address()


def form_email_rate_limit_key() -> str:
    """`address_rate_limit_key` of a browser form (the portal's and /account's
    forgot-password pages)."""
    return address_rate_limit_key(request.form.get("email"))


def token_refused(response: Any) -> bool:
    """`deduct_when` of pages that take a one-time token: only unknown (404), spent or
    expired (410) tokens count against the limit."""
    return response.status_code in (404, 410)


def account_rate_limit_key(normalized_email: str) -> str:
    """The rate-limit key of an account: a keyed hash, never the email itself. The
    limiter writes its keys to Redis and to its log lines ("ratelimit ... exceeded"),
    and an unkeyed hash of an address can be confirmed by guessing."""
    digest = hmac.new(
        current_app.config["SECRET_KEY"].encode(),
        b"rate-limit-account:" + normalized_email.encode(),
        hashlib.sha256,
    ).hexdigest()
    return "account:" + digest[:32]


def sign_in_rate_limit_key(normalized_email: str | None) -> str:
    """The bucket of failed password checks for one account *from one address*.

    Never the account alone: ten guesses from a stranger's address must not refuse the
    real user's correct password from theirs. (The client address is the socket's:
    X-Forwarded-For is not trusted, see the README.)"""
    address = get_remote_address()
    if not normalized_email:
        return "ip:" + address
    return f"{account_rate_limit_key(normalized_email)}|ip:{address}"


def login_expiry(*, created_at: datetime, now: datetime) -> datetime:
    """When a login used at `now` ends: 30 days on, never past 90 days after sign-in."""
    return min(now + LOGIN_IDLE, created_at + LOGIN_MAX_AGE)


# --- client labels -------------------------------------------------------------------

_BROWSERS = (  # first match wins: Edge and Opera also say "Chrome", Chrome says "Safari"
    ("Edge", re.compile(r"\bEdg(?:e|A|iOS)?/")),
    ("Opera", re.compile(r"\b(?:OPR|Opera)/")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/")),
    ("Firefox", re.compile(r"\b(?:Firefox|FxiOS)/")),
    ("Chrome", re.compile(r"\b(?:Chrome|CriOS|Chromium)/")),
    ("Safari", re.compile(r"\bVersion/[\d.]+.*\bSafari/")),
)
_PLATFORMS = (  # iPhones say "like Mac OS X", Android says "Linux"
    ("iPhone", re.compile(r"\biPhone\b")),
    ("iPad", re.compile(r"\biPad\b")),
    ("Android", re.compile(r"\bAndroid\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("Mac", re.compile(r"\bMac(?:intosh| OS X)\b")),
    ("Linux", re.compile(r"\bLinux\b")),
)
_PROGRAMS = (
    ("curl", re.compile(r"^curl/")),
    ("HTTPie", re.compile(r"^HTTPie/")),
    ("script", re.compile(r"^(?:python-requests|python-httpx|Python-urllib|Wget|okhttp|Dart)/")),
)


def describe_user_agent(user_agent: str | None) -> str:
    """A short human label for a User-Agent: "Chrome on Android", "Safari on iPhone",
    "Firefox on Windows", "curl", or "unknown device". Never more than 40 characters."""
    text = (user_agent or "")[:512]
    for name, pattern in _PROGRAMS:
        if pattern.search(text):
            return name
    browser = next((name for name, pattern in _BROWSERS if pattern.search(text)), None)
    platform = next((name for name, pattern in _PLATFORMS if pattern.search(text)), None)
    if browser and platform:
        label = f"{browser} on {platform}"
    else:
        label = browser or (f"a browser on {platform}" if platform else "unknown device")
    return label[:CLIENT_LABEL_MAX]


def request_client_label() -> str | None:
    """The label of the client signing in with the current request (None outside one).

    The partner app's page signs in through its cookie bridge (server/partner_app),
    which requires its `X-Tandem-CSRF` header on every request it forwards."""
    if not has_request_context():
        return None
    if request.headers.get("X-Tandem-CSRF"):
        return "partner app"
    return describe_user_agent(request.headers.get("User-Agent"))


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"  # noqa: S105 - the scheme name, not a secret
    expires_in: int = int(ACCESS_TOKEN_TTL.total_seconds())


def _issue_pair(session: LoginSession) -> TokenPair:
    refresh = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(
        RefreshToken(
            session_id=session.id,
            token_hash=hash_token(refresh),
            created_at=now,
            # Never past the login's own end: a refresh cannot slide it beyond 90 days.
            expires_at=session.expires_at,
        )
    )
    access = _serializer().dumps({"sid": session.id})
    return TokenPair(access_token=access, refresh_token=refresh)


def open_login(*, user: User, client: str | None, idle: timedelta = LOGIN_IDLE) -> LoginSession:
    """A new login session for `user`, labelled with its client, ending after `idle`."""
    now = utcnow()
    session = LoginSession(
        user_id=user.id,
        created_at=now,
        last_used_at=now,
        expires_at=now + min(idle, LOGIN_MAX_AGE),
        client=(client or "unknown device")[:CLIENT_LABEL_MAX],
    )
    db.session.add(session)
    db.session.flush()
    return session


def start_session(*, user: User, client: str | None = None) -> TokenPair:
    """Open a login session for `user` and issue its first token pair (the client's
    label defaults to the current request's)."""
    return _issue_pair(open_login(user=user, client=client or request_client_label()))


def revoke_session(*, session_id: str, reason: str) -> None:
    """End a login: its tokens stop working and its devices get no more pushes.

    The login's row is written first: a device registration of that login running at
    the same moment waits for this transaction (`hold_open_login`) and then finds the
    login ended, so no device of an ended login survives the race."""
    db.session.execute(
        update(LoginSession)
        .where(LoginSession.id == session_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )
    db.session.execute(delete(Device).where(Device.session_id == session_id))


def hold_open_login(session_id: str) -> None:
    """Lock the login's row until this transaction ends, or 401 if it has ended (maybe
    while we waited for the lock: PostgreSQL re-checks the condition after the wait)."""
    held = db.session.execute(
        update(LoginSession)
        .where(LoginSession.id == session_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=None)
        .execution_options(synchronize_session=False)
    )
    if held.rowcount != 1:
        raise InvalidToken("This login has ended; sign in again.", code="session_revoked")


def revoke_all_sessions(*, user_id: str, reason: str, keep: str | None = None) -> None:
    """End every login of the account (but `keep`, when given) and forget their devices.

    The kept login's devices stay; every other device of the account goes, including
    any whose login was not recorded."""
    devices = delete(Device).where(Device.user_id == user_id)
    ended = update(LoginSession).where(
        LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None)
    )
    if keep is not None:
        devices = devices.where(or_(Device.session_id.is_(None), Device.session_id != keep))
        ended = ended.where(LoginSession.id != keep)
    # Logins first, then devices: see `revoke_session`.
    db.session.execute(ended.values(revoked_at=utcnow(), revoked_reason=reason))
    db.session.execute(devices)


def open_sessions(*, user_id: str, now: datetime) -> list[LoginSession]:
    """The account's logins that still work, most recently used first."""
    return list(
        db.session.scalars(
            select(LoginSession)
            .where(
                LoginSession.user_id == user_id,
                LoginSession.revoked_at.is_(None),
                LoginSession.expires_at > now,
            )
            .order_by(LoginSession.last_used_at.desc(), LoginSession.id)
        )
    )


class TokenReuse(Unauthorized):
    code = "refresh_token_reused"


def rotate_refresh_token(*, refresh_token: str) -> TokenPair:
    """Spend `refresh_token` and issue a new pair; replaying a spent one revokes the login."""
    now = utcnow()
    row = db.session.execute(
        select(RefreshToken, LoginSession)
        .join(LoginSession, RefreshToken.session_id == LoginSession.id)
        .where(RefreshToken.token_hash == hash_token(refresh_token))
    ).one_or_none()
    if row is None:
        raise Unauthorized("The refresh token is not valid.", code="invalid_token")
    token, session = row
    if session.revoked_at is not None:
        raise Unauthorized("This login has ended; sign in again.", code="session_revoked")
    if token.spent_at is not None:
        _revoke_for_reuse(session)
    if token.expires_at <= now or session.expires_at <= now:
        raise Unauthorized("The refresh token has expired; sign in again.", code="token_expired")
    # A conditional update: of two concurrent uses of one token, exactly one wins.
    spent = db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token.id, RefreshToken.spent_at.is_(None))
        .values(spent_at=now)
    )
    if spent.rowcount != 1:
        _revoke_for_reuse(session)
    _touch(session, now)
    return _issue_pair(session)


def _touch(session: LoginSession, now: datetime) -> None:
    session.last_used_at = now
    session.expires_at = login_expiry(created_at=session.created_at, now=now)


def _revoke_for_reuse(session: LoginSession) -> None:
    from server.services.audit import record_event

    log.warning("refresh token reuse detected; revoking login session %s", session.id)
    revoke_session(session_id=session.id, reason="refresh_reuse")
    record_event(
        actor_id=session.user_id,
        action="session.revoked_reuse",
        object_type="session",
        object_id=session.id,
    )
    # Commit the revocation even though the request fails.
    db.session.commit()
    raise TokenReuse("This refresh token was already used; the login has been ended.")


# Built once: every authenticated request runs it (only the session id changes). The
# login is read as plain columns, not as an entity: a request needs only these four.
_LOGIN_COLUMNS = (
    LoginSession.id,
    LoginSession.created_at,
    LoginSession.last_used_at,
    LoginSession.expires_at,
)
_SESSION_AND_USER = (
    select(User, *_LOGIN_COLUMNS)
    .join(LoginSession, LoginSession.user_id == User.id)
    .where(LoginSession.id == bindparam("sid"), LoginSession.revoked_at.is_(None))
)
# The login's use, counted at most once a minute (a single UPDATE of its own).
_TOUCH = (
    update(LoginSession)
    .where(LoginSession.id == bindparam("sid"))
    .values(last_used_at=bindparam("now"), expires_at=bindparam("expires"))
    .execution_options(synchronize_session=False)
)


@functools.cache
def _session_user_and_assignment() -> Any:
    """The same, with the caller's couple's current assignment (`current_assignment`'s
    rule) in the same statement: one round trip less for the partner's hot reads."""
    from server.services.assignments import current_assignment_id

    return (
        select(User, *_LOGIN_COLUMNS, Assignment)
        .join(LoginSession, LoginSession.user_id == User.id)
        .outerjoin(Assignment, Assignment.id == current_assignment_id(User.couple_id))
        .where(LoginSession.id == bindparam("sid"), LoginSession.revoked_at.is_(None))
    )


def authenticate_request(*, with_assignment: bool = False) -> tuple[User, str]:
    """The user and session named by the request's bearer token, or 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authentication is required: send a valid access token.")
    try:
        payload = _serializer().loads(token.strip(), max_age=int(ACCESS_TOKEN_TTL.total_seconds()))
    except SignatureExpired:
        raise InvalidToken("The access token has expired.", code="token_expired") from None
    except BadSignature:
        raise InvalidToken("The access token is not valid.") from None
    session_id = payload.get("sid") if isinstance(payload, dict) else None
    statement = _session_user_and_assignment() if with_assignment else _SESSION_AND_USER
    row = db.session.execute(statement, {"sid": session_id}).one_or_none()
    if row is None:
        raise InvalidToken("This login has ended; sign in again.", code="session_revoked")
    user, login_id, created_at, last_used_at, expires_at = row[:5]
    if with_assignment:
        g.current_assignment = row[5]
    now = utcnow()
    if expires_at <= now:
        raise InvalidToken("This login has expired; sign in again.", code="session_expired")
    # The partner app's logins never refresh (its cookie bridge mints access tokens):
    # their use counts here.
    if now - last_used_at > TOUCH_EVERY:
        expires = login_expiry(created_at=created_at, now=now)
        g.login_use = {"sid": login_id, "now": now, "expires": expires}
    return user, login_id


def record_login_use() -> None:
    """Write the request's use of its login (`authenticate_request` noted it), at the
    end of a request that succeeded, as the last write of its transaction."""
    params = g.pop("login_use", None)
    if params is not None:
        db.session.execute(_TOUCH, params)


def login_required(
    role: str | None = None, *, read_only: bool = False, with_assignment: bool = False
) -> Callable[[F], F]:
    """Guard a view: 401 without a valid token, 403 for the wrong role.

    Put it above `@blp.arguments` so that callers are identified before their body is
    validated (an anonymous caller gets 401, not a list of field errors).

    `read_only`: the view only reads (hot reads such as the homework). Its statements
    then run in autocommit, without the BEGIN and COMMIT round trips of a transaction;
    the one write such a request may make, the login's `last_used_at`, is a single
    UPDATE of its own.

    `with_assignment`: the caller's couple's current assignment is read in the same
    statement as the session (`current_assignment()` answers it without a query).
    """

    def decorator(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if read_only:
                autocommit_reads()
            user, session_id = authenticate_request(with_assignment=with_assignment)
            if role is not None and user.role != role:
                raise Forbidden(f"This is for {role}s only.", code="wrong_role")
            g.user = user
            g.session_id = session_id
            return func(*args, **kwargs)

        apidoc = dict(getattr(wrapper, "_apidoc", {}))
        manual = dict(apidoc.get("manual_doc", {}))
        manual["security"] = BEARER
        apidoc["manual_doc"] = manual
        apidoc["login_required"] = {"role": role}  # documents 401/403 (server.api)
        wrapper._apidoc = apidoc  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator


def autocommit_reads() -> None:
    """Run this request's statements in autocommit (see `login_required(read_only=True)`).

    Only when the request has not used the database yet: a transaction already open
    stays one. The pool puts the connection back in its usual isolation level when
    the request ends."""
    session = db.session()
    if not session.in_transaction():
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        g.autocommit_reads = True


def current_user() -> User:
    return g.user  # type: ignore[no-any-return]


def init_app(app: Flask) -> None:
    profile = app.config.get("TANDEM_PASSWORD_PROFILE", "default")
    if profile == "cheapest":  # tests only: argon2's fastest parameters
        hasher = argon2.PasswordHasher.from_parameters(argon2.profiles.CHEAPEST)
    else:
        hasher = argon2.PasswordHasher()
    app.extensions["tandem.passwords"] = PasswordService(hasher)
    app.extensions["tandem.token_serializer"] = URLSafeTimedSerializer(
        app.config["SECRET_KEY"], salt="tandem-access-token"
    )
