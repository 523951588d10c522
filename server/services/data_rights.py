"""A partner's rights over their data: export everything, erase the account."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import delete, func, select

from server.auth import passwords
from server.db import utcnow
from server.errors import Conflict, ValidationFailed
from server.extensions import db
from server.models import AuditEvent, CheckIn, Couple, LoginSession, User
from server.services.assignments import assignment_view, current_assignment
from server.services.audit import record_event
from server.services.checkins import checkin_view
from server.services.measures import list_own_responses, response_view

log = logging.getLogger(__name__)


def export_user(*, user: User) -> dict[str, Any]:
    """Everything Tandem holds about the caller, decrypted; nothing about their partner."""
    checkins = db.session.scalars(
        select(CheckIn).where(CheckIn.author_id == user.id).order_by(CheckIn.occurred_at)
    ).all()
    sessions = db.session.scalars(
        select(LoginSession)
        .where(LoginSession.user_id == user.id)
        .order_by(LoginSession.created_at)
    ).all()
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.actor_id == user.id).order_by(AuditEvent.at)
    ).all()
    assignment = None
    if user.couple_id:
        current = current_assignment(couple_id=user.couple_id)
        couple = db.session.get(Couple, user.couple_id)
        if current is not None and couple is not None:
            assignment = assignment_view(current, viewer=user, therapist_id=couple.therapist_id)
    return {
        "exported_at": utcnow(),
        "user": {
            "id": user.id,
            "email": user.email,
            "name": user.name,
            "role": user.role,
            "timezone": user.timezone,
            "couple_id": user.couple_id,
            "created_at": user.created_at,
        },
        "assignment": assignment,
        "checkins": [checkin_view(c, user) for c in checkins],
        # Only the caller's own questionnaire answers: never the partner's, not a count.
        "measure_responses": [
            response_view(r) for r in list_own_responses(author=user, limit=100_000)[0]
        ],
        "sessions": [
            {
                "id": s.id,
                "created_at": s.created_at,
                "last_used_at": s.last_used_at,
                "expires_at": s.expires_at,
                "revoked_at": s.revoked_at,
                "client": s.client,
            }
            for s in sessions
        ],
        "activity": [
            {"at": e.at, "action": e.action, "object_type": e.object_type, "object_id": e.object_id}
            for e in events
        ],
    }


def delete_account(*, user: User, password: str) -> None:
    """Erase the caller: account, check-ins, logins (and so every token). The partner's
    data and the couple's assignment stay as they are."""
    if not passwords().verify(user.password_hash, password):
        raise ValidationFailed(
            "The password is not correct.", errors={"password": ["Not correct."]}
        )
    if user.is_therapist:
        couples = db.session.scalar(
            select(func.count()).select_from(Couple).where(Couple.therapist_id == user.id)
        )
        if couples:
            raise Conflict(
                "A therapist with couples cannot be deleted; hand the couples over first.",
                code="therapist_has_couples",
            )
    user_id, couple_id = user.id, user.couple_id
    db.session.execute(delete(CheckIn).where(CheckIn.author_id == user_id))
    db.session.execute(delete(LoginSession).where(LoginSession.user_id == user_id))
    db.session.delete(user)
    db.session.flush()
    record_event(
        actor_id=None,
        action="user.deleted",
        object_type="user",
        object_id=user_id,
        couple_id=couple_id,
    )
    log.info("account %s erased", user_id)
