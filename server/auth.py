"""Authentication: password hashing, access and refresh tokens, and the route guard.

- Passwords: argon2id (argon2-cffi). An unknown email is checked against a dummy hash
  so that it takes as long as a wrong password.
- Access tokens: signed with the secret key (itsdangerous), valid 15 minutes, naming
  the login session; each request checks that the session is still open, so logout
  and account deletion take effect at once. Access tokens are never stored.
- Refresh tokens: random, stored only as SHA-256 hashes, spent on first use. Using a
  spent one again revokes the whole login session (a stolen token was replayed).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, current_app, g, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, select, update

from server.db import utcnow
from server.errors import Forbidden, InvalidToken, Unauthorized
from server.extensions import db
from server.models import Device, LoginSession, RefreshToken, User

log = logging.getLogger(__name__)

ACCESS_TOKEN_TTL = timedelta(minutes=15)
REFRESH_TOKEN_TTL = timedelta(days=30)
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
            expires_at=now + REFRESH_TOKEN_TTL,
        )
    )
    access = _serializer().dumps({"sid": session.id})
    return TokenPair(access_token=access, refresh_token=refresh)


def start_session(*, user: User) -> TokenPair:
    """Open a login session for `user` and issue its first token pair."""
    session = LoginSession(user_id=user.id)
    db.session.add(session)
    db.session.flush()
    return _issue_pair(session)


def revoke_session(*, session_id: str, reason: str) -> None:
    """End a login: its tokens stop working and its devices get no more pushes."""
    db.session.execute(delete(Device).where(Device.session_id == session_id))
    db.session.execute(
        update(LoginSession)
        .where(LoginSession.id == session_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )


def revoke_all_sessions(*, user_id: str, reason: str) -> None:
    db.session.execute(delete(Device).where(Device.user_id == user_id))
    db.session.execute(
        update(LoginSession)
        .where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
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
    if token.expires_at <= now:
        raise Unauthorized("The refresh token has expired; sign in again.", code="token_expired")
    # A conditional update: of two concurrent uses of one token, exactly one wins.
    spent = db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token.id, RefreshToken.spent_at.is_(None))
        .values(spent_at=now)
    )
    if spent.rowcount != 1:
        _revoke_for_reuse(session)
    session.last_used_at = now
    return _issue_pair(session)


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


def authenticate_request() -> tuple[User, str]:
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
    row = db.session.execute(
        select(User, LoginSession.id)
        .join(LoginSession, LoginSession.user_id == User.id)
        .where(LoginSession.id == session_id, LoginSession.revoked_at.is_(None))
    ).one_or_none()
    if row is None:
        raise InvalidToken("This login has ended; sign in again.", code="session_revoked")
    return row[0], row[1]


def login_required(role: str | None = None) -> Callable[[F], F]:
    """Guard a view: 401 without a valid token, 403 for the wrong role.

    Put it above `@blp.arguments` so that callers are identified before their body is
    validated (an anonymous caller gets 401, not a list of field errors).
    """

    def decorator(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user, session_id = authenticate_request()
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
