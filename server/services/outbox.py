"""The `reminders` table as the dispatcher's outbox: claims and outcomes, for
`notifications.dispatch`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update

from notifications.delivery import RETRY, SENT, Delivery, Outcome, Target
from notifications.planning import is_quiet
from notifications.texts import reminder_text
from server.extensions import db
from server.models import PENDING, SENDING, Device, Reminder, ReminderPreferences, User
from server.services.reminders import settings_from_row
from server.services.replans import apply_due_replans

LEASE = timedelta(minutes=5)


class SqlOutbox:
    """The `reminders` table as the dispatcher's outbox.

    Claiming is one atomic statement: on PostgreSQL `UPDATE … WHERE id IN (SELECT …
    FOR UPDATE SKIP LOCKED) RETURNING`, so concurrent workers take disjoint rows; on
    SQLite the same UPDATE … RETURNING runs under SQLite's single writer lock (SQLAlchemy
    drops SKIP LOCKED there). A claim is a lease: rows of a worker that died are
    claimed again once it expires.
    """

    def claim(self, *, now: datetime, limit: int, worker_id: str) -> list[Delivery]:
        apply_due_replans(now=now)  # never claim a reminder a pending re-plan cancels
        due = (
            select(Reminder.id)
            .where(
                or_(
                    and_(Reminder.status == PENDING, Reminder.next_attempt_at <= now),
                    and_(Reminder.status == SENDING, Reminder.lease_until < now),
                )
            )
            .order_by(Reminder.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claimed = db.session.execute(
            update(Reminder)
            .where(Reminder.id.in_(due.scalar_subquery()))
            .values(
                status=SENDING,
                lease_until=now + LEASE,
                claimed_by=worker_id,
                attempts=Reminder.attempts + 1,
                updated_at=now,
            )
            .returning(
                Reminder.id,
                Reminder.user_id,
                Reminder.kind,
                Reminder.send_at,
                Reminder.attempts,
                Reminder.payload,
            )
            .execution_options(synchronize_session=False)
        ).all()
        db.session.commit()
        return self._deliveries(claimed, now)

    def _deliveries(self, claimed: Iterable[Any], now: datetime) -> list[Delivery]:
        claimed = list(claimed)
        user_ids = {row.user_id for row in claimed}
        users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(user_ids)))}
        prefs = {
            p.user_id: p
            for p in db.session.scalars(
                select(ReminderPreferences).where(ReminderPreferences.user_id.in_(user_ids))
            )
        }
        targets: dict[str, list[Target]] = defaultdict(list)
        for device in db.session.scalars(select(Device).where(Device.user_id.in_(user_ids))):
            targets[device.user_id].append(Target(device.id, device.token, device.platform))
        deliveries = []
        for row in claimed:
            user = users.get(row.user_id)
            timezone = user.timezone if user else "UTC"
            settings = settings_from_row(prefs.get(row.user_id), timezone)
            if row.kind == "reminder":
                title, body = reminder_text(settings)
                screen = "homework"
            else:
                payload = row.payload or {}
                title, body = payload.get("title", ""), payload.get("body", "")
                screen = payload.get("screen", "home")
            deliveries.append(
                Delivery(
                    reminder_id=row.id,
                    user_id=row.user_id,
                    kind=row.kind,
                    send_at=row.send_at,
                    attempts=row.attempts,
                    title=title,
                    body=body,
                    data={"screen": screen, "reminder_id": row.id},
                    targets=tuple(targets.get(row.user_id, ())),
                    in_quiet_hours=row.kind != "alert" and is_quiet(settings, now),
                )
            )
        return deliveries

    def record(self, outcomes: Sequence[Outcome], *, now: datetime) -> None:
        """Write outcomes back: one UPDATE per kind of outcome (not per row), only on
        rows this claim still holds."""
        groups: dict[tuple[Any, ...], list[str]] = defaultdict(list)
        bad_devices: list[str] = []
        for outcome in outcomes:
            if outcome.status == SENT:
                key: tuple[Any, ...] = ("sent", outcome.error, None)
            elif outcome.status == RETRY:
                key = (PENDING, outcome.error, outcome.retry_at or now)
            else:
                key = (outcome.status, outcome.error, None)
            groups[key].append(outcome.reminder_id)
            bad_devices.extend(outcome.invalid_device_ids)
        for (status, error, retry_at), ids in groups.items():
            values: dict[str, Any] = {
                "status": status,
                "error": error,
                "updated_at": now,
                "lease_until": None,
            }
            if status == "sent":
                values["sent_at"] = now
            if retry_at is not None:
                values["next_attempt_at"] = retry_at
            db.session.execute(
                update(Reminder)
                .where(Reminder.id.in_(ids), Reminder.status == SENDING)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        if bad_devices:
            db.session.execute(delete(Device).where(Device.id.in_(bad_devices)))
        db.session.commit()
