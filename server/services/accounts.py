"""Accounts: sign-up, sign-in, profile changes."""

from __future__ import annotations

import logging

from sqlalchemy import func, select

from server.auth import TokenPair, passwords, start_session
from server.db import add_unique
from server.errors import Conflict, Unauthorized
from server.extensions import db
from server.models import THERAPIST, User
from server.services.audit import record_event

log = logging.getLogger(__name__)

PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 1024


def normalize_email(email: str) -> str:
    return email.strip().lower()


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
) -> User:
    """Create an account; 409 if the email (in any letter case) is taken."""
    if email_taken(email=email):
        raise Conflict("An account with this email already exists.", code="email_taken")
    user = User(
        email=normalize_email(email),
        password_hash=passwords().hash(password),
        name=name.strip(),
        role=role,
        timezone=timezone,
        couple_id=couple_id,
    )
    # Two sign-ups racing for one email: the unique index decides.
    if not add_unique(db.session, user):
        raise Conflict("An account with this email already exists.", code="email_taken")
    return user


def sign_up_therapist(*, email: str, password: str, name: str) -> User:
    user = create_user(email=email, password=password, name=name, role=THERAPIST)
    record_event(actor_id=user.id, action="user.signed_up", object_type="user", object_id=user.id)
    return user


def sign_in(*, email: str, password: str) -> TokenPair:
    """Check the credentials and open a login session.

    Unknown email and wrong password answer identically, after the same argon2 work.
    """
    user = find_user_by_email(email=email)
    if not passwords().verify(user.password_hash if user else None, password) or user is None:
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
