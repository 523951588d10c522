"""Accounts: sign-up, sign-in, profile changes."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, select

from server.auth import (
    TokenPair,
    normalize_email,
    open_sessions,
    passwords,
    revoke_all_sessions,
    revoke_session,
    start_session,
)
from server.db import add_unique, is_id, utcnow
from server.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from server.extensions import db
from server.models import THERAPIST, LoginSession, User
from server.services.audit import record_event

log = logging.getLogger(__name__)

PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 1024


def find_user_by_email(*, email: str) -> User | None:
    return db.session.scalars(
        select(User).where(User.email == normalize_email(email))
    ).one_or_none()


def email_taken(*, email: str) -> bool:
    return bool(
        db.session.scalar(
            select(func.count()).select_from(User).where(User.email == normalize_email(email))
        )
    )


def create_user(
    *,
    email: str,
    password: str,
    name: str,
    role: str,
    timezone: str = "UTC",
    couple_id: str | None = None,
    verified: bool = True,
) -> User:
    """Create an account; 409 if the email (in any letter case) is taken.

    Verified unless said otherwise: the callers are an operator (`tandem
    create-therapist`, the demo) and partners joining by invite, whose address is
    vouched for by the therapist who handed them the code. Self-service sign-up does
    not come here (`server.services.account_mail.request_therapist_signup`).
    """
    if email_taken(email=email):
        raise Conflict("An account with this email already exists.", code="email_taken")
    user = User(
        email=normalize_email(email),
        password_hash=passwords().hash(password),
        name=name.strip(),
        role=role,
        timezone=timezone,
        couple_id=couple_id,
        email_verified_at=utcnow() if verified else None,
    )
    # Two sign-ups racing for one email: the unique index decides.
    if not add_unique(db.session, user):
        raise Conflict("An account with this email already exists.", code="email_taken")
    return user


def create_therapist(*, email: str, password: str, name: str) -> User:
    """A verified therapist account, made by an operator (`tandem create-therapist`, the
    demo, test factories); 409 if the address is taken."""
    user = create_user(email=email, password=password, name=name, role=THERAPIST)
    record_event(actor_id=user.id, action="user.created", object_type="user", object_id=user.id)
    return user


def sign_in(*, email: str, password: str) -> TokenPair:
    """Check the credentials and open a login session.

    Unknown email and wrong password answer identically, after the same argon2 work.
    """
    user = find_user_by_email(email=email)
    if not passwords().verify(user.password_hash if user else None, password) or user is None:
        raise Unauthorized("The email or password is not correct.", code="invalid_credentials")
    if user.email_verified_at is None:
        # Not verified yet: the same answer as a wrong password (no hint that the
        # address has an account); the link in the sign-up email opens the door.
        raise Unauthorized("The email or password is not correct.", code="invalid_credentials")
    if passwords().needs_rehash(user.password_hash):
        user.password_hash = passwords().hash(password)
    return start_session(user=user)


def update_profile(*, user: User, name: str | None = None, timezone: str | None = None) -> User:
    if name is not None:
        user.name = name.strip()
    if timezone is not None:
        user.timezone = timezone
    db.session.flush()
    return user


# --- the caller's logins and password (API.md: /me/password, /me/sessions) -----------


class WrongPassword(ValidationFailed):
    """The current password given to confirm a change is not the account's."""

    code = "wrong_password"


def change_password(
    *, user: User, keep_session_id: str | None, current_password: str, new_password: str
) -> None:
    """Set a new password after checking the current one; every login of the account but
    `keep_session_id` (the one asking) ends, and their devices get no more pushes."""
    if not passwords().verify(user.password_hash, current_password):
        raise WrongPassword(
            "The current password is not correct.",
            errors={"current_password": ["Not correct."]},
        )
    user.password_hash = passwords().hash(new_password)
    revoke_all_sessions(user_id=user.id, reason="password_changed", keep=keep_session_id)
    record_event(
        actor_id=user.id, action="user.password_changed", object_type="user", object_id=user.id
    )
    db.session.flush()


def list_sessions(*, user: User, current_session_id: str | None) -> list[dict[str, Any]]:
    """The caller's open logins, most recently used first, the current one marked."""
    return [
        {
            "id": login.id,
            "created_at": login.created_at,
            "last_used_at": login.last_used_at,
            "current": login.id == current_session_id,
            "client": login.client or "unknown device",
        }
        for login in open_sessions(user_id=user.id, now=utcnow())
    ]


def end_session(*, user: User, session_id: str) -> None:
    """End one of the caller's open logins (404 for anyone else's, an unknown or an
    ended one): its tokens stop working and its devices get no more pushes at once."""
    login = db.session.get(LoginSession, session_id) if is_id(session_id) else None
    if login is None or login.user_id != user.id or login.revoked_at is not None:
        raise NotFound("No such login.")
    if login.expires_at <= utcnow():
        raise NotFound("No such login.")
    revoke_session(session_id=login.id, reason="ended_by_user")
    record_event(
        actor_id=user.id, action="session.ended", object_type="session", object_id=login.id
    )


def end_other_sessions(*, user: User, keep_session_id: str) -> None:
    """Sign out everywhere else: every login of the caller's but this one ends."""
    revoke_all_sessions(user_id=user.id, reason="ended_by_user", keep=keep_session_id)
    record_event(
        actor_id=user.id,
        action="session.ended_others",
        object_type="session",
        object_id=keep_session_id,
    )
