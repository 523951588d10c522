"""Accounts by email: sign-up without account enumeration, email verification, password
reset by email, and recovery codes a therapist hands a partner (issue 10, parts 1-3).

Tokens are 256-bit random values and recovery codes 80-bit Crockford base32 codes, both
stored only as SHA-256 digests in `account_tokens` (a digest of a random secret confirms
nothing) and spent on first use. Emails go through the outbox (`server.services.mail`):
written in the request's transaction, sent after its commit.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from notifications import mail as messages
from server.auth import passwords, revoke_all_sessions
from server.db import add_unique, utcnow
from server.errors import APIError, Gone, NotFound
from server.extensions import db
from server.models import PASSWORD_RESET, RECOVERY, THERAPIST, VERIFY_EMAIL, AccountToken, User
from server.services.accounts import find_user_by_email, normalize_email
from server.services.audit import record_event
from server.services.couples import (
    CODE_ALPHABET,
    CODE_LENGTH,
    generate_invite_code,
    get_couple_for_therapist,
    normalize_invite_code,
)
from server.services.mail import queue_email

log = logging.getLogger(__name__)

VERIFY_TTL = timedelta(hours=24)
RESET_TTL = timedelta(hours=1)
RECOVERY_TTL = timedelta(hours=24)
SIGNUP_ACCEPTED = "Thank you. We have sent an email to this address: follow its link to continue."
RESET_ACCEPTED = "If an account uses this address, we have sent it a link to choose a new password."
# Which page of ours completes each step in a browser, by the account's role.
THERAPIST_PAGES = {VERIFY_EMAIL: "/portal/verify-email", PASSWORD_RESET: "/portal/reset-password"}
PARTNER_PAGES = {PASSWORD_RESET: "/account/reset-password"}
# Recovery codes read like invite codes (Crockford base32, 80 bits: see couples.py).
RECOVERY_CODE_PREFIX = b"recovery-code:"


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _hash_recovery_code(code: str) -> str:
    return hashlib.sha256(RECOVERY_CODE_PREFIX + normalize_invite_code(code).encode()).hexdigest()


def _looks_like_code(value: str) -> bool:
    cleaned = normalize_invite_code(value)
    return len(cleaned) == CODE_LENGTH and all(ch in CODE_ALPHABET for ch in cleaned)


def _issue_token(*, user: User, purpose: str, ttl: timedelta, now: datetime) -> str:
    """A new 256-bit token for `user`, stored only as its SHA-256."""
    secret = secrets.token_urlsafe(32)
    db.session.add(
        AccountToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=_hash_secret(secret),
            created_at=now,
            expires_at=now + ttl,
        )
    )
    return secret


def _link(user: User, purpose: str, token: str) -> str:
    pages = THERAPIST_PAGES if user.role == THERAPIST else PARTNER_PAGES
    public_url = current_app.config["TANDEM_SETTINGS"].public_url
    return messages.page_link(public_url, pages[purpose], token)


def _queue_reset_email(*, user: User, now: datetime, note: bool) -> None:
    token = _issue_token(user=user, purpose=PASSWORD_RESET, ttl=RESET_TTL, now=now)
    build = messages.existing_account_email if note else messages.password_reset_email
    queue_email(
        user_id=user.id,
        kind="signup_existing" if note else "password_reset",
        email=build(to=user.email, name=user.name, link=_link(user, PASSWORD_RESET, token)),
    )


def _queue_verification(*, user: User, now: datetime) -> None:
    token = _issue_token(user=user, purpose=VERIFY_EMAIL, ttl=VERIFY_TTL, now=now)
    queue_email(
        user_id=user.id,
        kind="verify_email",
        email=messages.verification_email(
            to=user.email, name=user.name, link=_link(user, VERIFY_EMAIL, token)
        ),
    )


def request_therapist_signup(*, email: str, password: str, name: str) -> str:
    """Sign-up without account enumeration: the same answer, and the same work, whether or
    not the address has an account. Returns the answer's `detail`.

    Both paths hash the password with argon2 once, write one account token, one outbox
    email and one audit event; a new address also writes its (unverified) account.
    - new address: an unverified therapist and a verification email (24 h);
    - an unverified account: a fresh verification email (its password stays the first
      one: whoever signed up first cannot be overridden by a stranger);
    - a verified account (therapist or partner): a note that someone tried, with a
      password-reset link (1 h) in case the owner forgot they had an account.
    """
    now = utcnow()
    password_hash = passwords().hash(password)
    user = find_user_by_email(email=email)
    created = False
    if user is None:
        candidate = User(
            email=normalize_email(email),
            password_hash=password_hash,
            name=name.strip(),
            role=THERAPIST,
            email_verified_at=None,
        )
        if add_unique(db.session, candidate):
            user, created = candidate, True
        else:  # another sign-up of the same address won the race
            user = find_user_by_email(email=email)
    if user is None:  # pragma: no cover - the winner was erased meanwhile
        return SIGNUP_ACCEPTED
    if created or user.email_verified_at is None:
        _queue_verification(user=user, now=now)
    else:
        _queue_reset_email(user=user, now=now, note=True)
    record_event(
        actor_id=user.id if created else None,
        action="user.signed_up" if created else "user.signup_repeated",
        object_type="user",
        object_id=user.id,
    )
    return SIGNUP_ACCEPTED


class TokenInvalid(APIError):
    """A token or code we did not issue (or not for this step): 404, like an unknown
    invite code; it says nothing about any account."""

    status = 404
    code = "token_invalid"


def _spend_token(*, token: str, purposes: tuple[str, ...], now: datetime) -> AccountToken:
    """The token row, marked used; 404 unknown, 410 used or expired. Used at most once
    even by two requests at the same moment (a conditional UPDATE decides)."""
    token = token.strip()
    hashes = [_hash_secret(token)]
    if _looks_like_code(token):
        hashes.append(_hash_recovery_code(token))
    row = db.session.scalars(
        select(AccountToken).where(
            AccountToken.token_hash.in_(hashes), AccountToken.purpose.in_(purposes)
        )
    ).one_or_none()
    if row is None:
        raise TokenInvalid(
            "This link or code is not valid. Check that it was copied whole, or ask for a new one."
        )
    if row.used_at is not None:
        raise Gone("This link or code has already been used.", code="token_used")
    if row.expires_at <= now:
        raise Gone("This link or code has expired. Ask for a new one.", code="token_expired")
    spent = db.session.execute(
        update(AccountToken)
        .where(AccountToken.id == row.id, AccountToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if not spent.rowcount:  # type: ignore[attr-defined]
        raise Gone("This link or code has already been used.", code="token_used")
    return row


def verify_email(*, token: str) -> User:
    """Spend a verification token: the account may sign in from now on."""
    now = utcnow()
    row = _spend_token(token=token, purposes=(VERIFY_EMAIL,), now=now)
    user = db.session.get(User, row.user_id)
    if user is None:  # pragma: no cover - cascades delete the token with the account
        raise TokenInvalid("This link or code is not valid.")
    if user.email_verified_at is None:
        user.email_verified_at = now
    record_event(
        actor_id=user.id, action="user.email_verified", object_type="user", object_id=user.id
    )
    db.session.flush()
    return user


def request_password_reset(*, email: str) -> str:
    """Email a one-time reset link (1 h) if an account uses `email`; the answer's
    `detail` is the same for every address. One audit event either way."""
    now = utcnow()
    user = find_user_by_email(email=email[:254]) if email.strip() else None
    if user is not None:
        _queue_reset_email(user=user, now=now, note=False)
    record_event(
        actor_id=None,
        action="user.password_reset_requested",
        object_type="user",
        object_id=user.id if user else None,
    )
    return RESET_ACCEPTED


def confirm_password_reset(*, token: str, new_password: str) -> User:
    """Set a new password with a reset token or a recovery code: it works once, every
    other outstanding reset token and code of the account stops working, and every
    login of the account ends."""
    now = utcnow()
    row = _spend_token(token=token, purposes=(PASSWORD_RESET, RECOVERY), now=now)
    user = db.session.get(User, row.user_id)
    if user is None:  # pragma: no cover - cascades delete the token with the account
        raise TokenInvalid("This link or code is not valid.")
    user.password_hash = passwords().hash(new_password)
    if row.purpose == PASSWORD_RESET and user.email_verified_at is None:
        user.email_verified_at = now  # the link came to the address: it is proven
    db.session.execute(
        update(AccountToken)
        .where(
            AccountToken.user_id == user.id,
            AccountToken.purpose.in_((PASSWORD_RESET, RECOVERY)),
            AccountToken.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    revoke_all_sessions(user_id=user.id, reason="password_reset")
    record_event(
        actor_id=user.id,
        action="user.password_reset",
        object_type="user",
        object_id=user.id,
        couple_id=user.couple_id,
        detail={"via": "recovery_code" if row.purpose == RECOVERY else "email"},
    )
    db.session.flush()
    return user


def issue_recovery_code(*, therapist: User, couple_id: str, partner_id: str) -> dict[str, Any]:
    """A one-time recovery code (24 h) for a partner of the therapist's couple, to use as
    the `token` of a password reset; any earlier unused code of that partner stops
    working. 404 for anyone else's couple or partner."""

    couple = get_couple_for_therapist(therapist=therapist, couple_id=couple_id)
    partner = next((p for p in couple.partners if p.id == partner_id), None)
    if partner is None:
        raise NotFound("No such partner in this couple.")
    now = utcnow()
    db.session.execute(
        update(AccountToken)
        .where(
            AccountToken.user_id == partner.id,
            AccountToken.purpose == RECOVERY,
            AccountToken.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    code = generate_invite_code()
    row = AccountToken(
        user_id=partner.id,
        purpose=RECOVERY,
        token_hash=_hash_recovery_code(code),
        created_at=now,
        expires_at=now + RECOVERY_TTL,
    )
    db.session.add(row)
    record_event(
        actor_id=therapist.id,
        action="user.recovery_code_issued",
        object_type="user",
        object_id=partner.id,
        couple_id=couple.id,
    )
    db.session.flush()
    return {"code": code, "expires_at": row.expires_at, "couple": couple, "partner": partner}
