"""Alerts for therapists: listing the open ones and acknowledging them."""

from __future__ import annotations

from sqlalchemy import func, select

from server.db import is_id, utcnow
from server.errors import NotFound
from server.extensions import db
from server.models import COMPLETED, Alert, Assignment, Couple, User
from server.services.assignments import record_change
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
    """Mark the alert seen. When no safety alert of the couple is left open, the hold on
    their joint exercises is lifted."""
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
        still_open = db.session.scalar(
            select(func.count())
            .select_from(Alert)
            .where(
                Alert.couple_id == alert.couple_id,
                Alert.kind == "safety",
                Alert.acknowledged_at.is_(None),
            )
        )
        if not still_open:
            held = db.session.scalars(
                select(Assignment).where(
                    Assignment.couple_id == alert.couple_id,
                    Assignment.on_hold.is_(True),
                    Assignment.status != COMPLETED,
                )
            ).all()
            for assignment in held:
                assignment.on_hold = False
                record_change(
                    assignment,
                    actor_id=therapist.id,
                    action="resumed",
                    reason="Safety alert acknowledged.",
                )
        db.session.flush()
    return alert


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
