"""Alerts for therapists: listing the open ones and acknowledging them."""

from __future__ import annotations

from sqlalchemy import func, select

from server.db import is_id, utcnow
from server.errors import NotFound
from server.extensions import db
from server.models import COMPLETED, Alert, Assignment, Couple, User
from server.services.audit import record_event


def open_alerts(*, therapist: User) -> list[Alert]:
    return list(
        db.session.scalars(
            select(Alert)
            .join(Couple, Couple.id == Alert.couple_id)
            .where(Couple.therapist_id == therapist.id, Alert.acknowledged_at.is_(None))
            .order_by(Alert.created_at.desc(), Alert.id)
        )
    )


def acknowledge_alert(*, therapist: User, alert_id: str) -> Alert:
    """Mark the alert seen. Reading an alert never resumes exercises: a safety hold stays
    until the therapist resumes the program (`resume_assignment`), a separate act."""
    alert = None
    if is_id(alert_id):
        alert = db.session.scalars(
            select(Alert)
            .join(Couple, Couple.id == Alert.couple_id)
            .where(Alert.id == alert_id, Couple.therapist_id == therapist.id)
        ).one_or_none()
    if alert is None:
        raise NotFound("No such alert.")
    if alert.acknowledged_at is None:
        alert.acknowledged_at = utcnow()
        alert.acknowledged_by_id = therapist.id
        record_event(
            actor_id=therapist.id,
            action="alert.acknowledged",
            object_type="alert",
            object_id=alert.id,
            couple_id=alert.couple_id,
        )
        db.session.flush()
    return alert


def held_assignments(couple_ids: list[str]) -> dict[str, str]:
    """Couple id → id of its program on a safety hold, for these couples, in one query."""
    if not couple_ids:
        return {}
    rows = db.session.execute(
        select(Assignment.couple_id, Assignment.id).where(
            Assignment.couple_id.in_(couple_ids),
            Assignment.on_hold.is_(True),
            Assignment.status != COMPLETED,
        )
    )
    return {couple_id: assignment_id for couple_id, assignment_id in rows}


def open_alert_counts(couple_ids: list[str]) -> dict[str, int]:
    """Open alerts per couple, in one query."""
    if not couple_ids:
        return {}
    rows = db.session.execute(
        select(Alert.couple_id, func.count())
        .where(Alert.couple_id.in_(couple_ids), Alert.acknowledged_at.is_(None))
        .group_by(Alert.couple_id)
    )
    return {couple_id: int(count) for couple_id, count in rows}
