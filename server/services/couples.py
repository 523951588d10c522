"""Couples and invites."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from server.auth import TokenPair, start_session
from server.crypto import cipher
from server.db import is_id, utcnow
from server.errors import Conflict, Gone, NotFound
from server.extensions import db
from server.models import CLIENT, Couple, Invite, User
from server.services.accounts import create_user
from server.services.audit import record_event

log = logging.getLogger(__name__)

INVITE_TTL = timedelta(days=14)
# Crockford's base32: no I, L, O or U, so a code read aloud or typed on a phone
# cannot be mistaken. 16 characters = 80 bits of entropy.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 16
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def generate_invite_code() -> str:
    """A new code like `7KQ2-M9XD-HT4R-B8WN`."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def normalize_invite_code(code: str) -> str:
    """Upper-case, drop spaces and dashes, and map look-alike letters to digits."""
    cleaned = "".join(ch for ch in code.upper() if ch not in " -_")
    return cleaned.translate(_LOOKALIKES)


def hash_invite_code(code: str) -> str:
    return hashlib.sha256(normalize_invite_code(code).encode()).hexdigest()


def invite_code(invite: Invite) -> str | None:
    """The readable code of a pending invite (None once used)."""
    if invite.code_encrypted is None:
        return None
    return cipher().decrypt(invite.code_encrypted)


def _new_invite(couple: Couple, slot: int) -> Invite:
    code = generate_invite_code()
    now = utcnow()
    return Invite(
        couple=couple,
        slot=slot,
        code_hash=hash_invite_code(code),
        code_encrypted=cipher().encrypt(code),
        created_at=now,
        expires_at=now + INVITE_TTL,
    )


def create_couple(*, therapist: User, label: str) -> Couple:
    """A couple with two fresh invites, one per partner slot."""
    couple = Couple(therapist_id=therapist.id, label=label.strip())
    db.session.add(couple)
    for slot in (1, 2):
        db.session.add(_new_invite(couple, slot))
    db.session.flush()
    record_event(
        actor_id=therapist.id,
        action="couple.created",
        object_type="couple",
        object_id=couple.id,
        couple_id=couple.id,
    )
    return couple


def _couples_query():  # type: ignore[no-untyped-def]
    return select(Couple).options(selectinload(Couple.partners), selectinload(Couple.invites))


def list_couples(*, therapist: User, offset: int = 0, limit: int = 100) -> tuple[list[Couple], int]:
    """One page of the therapist's couples, newest first, and how many there are."""
    total = db.session.scalar(
        select(func.count()).select_from(Couple).where(Couple.therapist_id == therapist.id)
    )
    page = db.session.scalars(
        _couples_query()
        .where(Couple.therapist_id == therapist.id)
        .order_by(Couple.created_at.desc(), Couple.id)
        .offset(offset)
        .limit(limit)
    )
    return list(page), int(total or 0)


def get_couple_for_therapist(*, therapist: User, couple_id: str) -> Couple:
    """The therapist's own couple; anyone else's is 404, exactly like a missing one."""
    if not is_id(couple_id):
        raise NotFound("No such couple.")
    couple = db.session.scalars(
        _couples_query().where(Couple.id == couple_id, Couple.therapist_id == therapist.id)
    ).one_or_none()
    if couple is None:
        raise NotFound("No such couple.")
    return couple


def accept_invite(
    *, code: str, email: str, password: str, name: str, timezone: str
) -> tuple[User, TokenPair]:
    """Create the partner's account in the invite's couple and sign them in."""
    now = utcnow()
    invite = db.session.scalars(
        select(Invite).where(Invite.code_hash == hash_invite_code(code))
    ).one_or_none()
    if invite is None:
        raise NotFound("No such invite code. Check it with your therapist.", code="invite_unknown")
    if invite.accepted_at is not None:
        raise Conflict("This invite code has already been used.", code="invite_used")
    if invite.expires_at <= now:
        raise Gone(
            "This invite code has expired. Ask your therapist for a new one.",
            code="invite_expired",
        )
    user = create_user(
        email=email,
        password=password,
        name=name,
        role=CLIENT,
        timezone=timezone,
        couple_id=invite.couple_id,
    )
    # Claim the invite with a conditional update: of two concurrent acceptances,
    # exactly one wins; the other rolls back with its new account.
    claimed = db.session.execute(
        update(Invite)
        .where(Invite.id == invite.id, Invite.accepted_at.is_(None))
        .values(accepted_at=now, accepted_by_id=user.id, code_encrypted=None)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise Conflict("This invite code has already been used.", code="invite_used")
    record_event(
        actor_id=user.id,
        action="invite.accepted",
        object_type="invite",
        object_id=invite.id,
        couple_id=invite.couple_id,
    )
    tokens = start_session(user=user)
    return user, tokens


def reissue_invite(*, therapist: User, couple_id: str, slot: int) -> Invite:
    """Replace a slot's unused invite with a fresh code (the old one stops working).

    A slot whose partner joined is taken while that partner's account exists; once they
    deleted it, the slot is free again and gets a fresh code like an unused one."""
    if slot not in (1, 2):
        raise NotFound("No such invite.")
    couple = get_couple_for_therapist(therapist=therapist, couple_id=couple_id)
    current = next((i for i in couple.invites if i.slot == slot), None)
    if current is None:
        raise NotFound("No such invite.")
    if current.accepted_at is not None and _partner_still_here(couple, current):
        raise Conflict("This partner has already joined.", code="invite_used")
    couple.invites.remove(current)
    db.session.flush()
    invite = _new_invite(couple, slot)
    db.session.add(invite)
    db.session.flush()
    record_event(
        actor_id=therapist.id,
        action="invite.reissued",
        object_type="invite",
        object_id=invite.id,
        couple_id=couple.id,
    )
    return invite


def _partner_still_here(couple: Couple, invite: Invite) -> bool:
    """Whether the partner who accepted `invite` still has an account in the couple (an
    erased account leaves `accepted_by_id` null)."""
    return invite.accepted_by_id is not None and any(
        partner.id == invite.accepted_by_id for partner in couple.partners
    )
