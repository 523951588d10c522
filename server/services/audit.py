"""Writing and reading the audit trail."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from server.extensions import db
from server.models import AuditEvent

log = logging.getLogger(__name__)


def record_event(
    *,
    actor_id: str | None,
    action: str,
    object_type: str,
    object_id: str | None = None,
    couple_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to the current transaction."""
    event = AuditEvent(
        actor_id=actor_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        couple_id=couple_id,
        detail=detail,
    )
    db.session.add(event)
    return event


def list_events(*, couple_id: str | None = None, limit: int = 1000) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.at, AuditEvent.id).limit(limit)
    if couple_id is not None:
        query = query.where(AuditEvent.couple_id == couple_id)
    return list(db.session.scalars(query))
