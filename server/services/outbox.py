"""The `reminders` table as the dispatcher's outbox: claims and outcomes, for
`notifications.dispatch`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import and_, delete, or_, select, update

from notifications.delivery import RETRY, SENT, Delivery, Outcome, Target
from notifications.planning import ReminderSettings, is_quiet
from notifications.texts import reminder_text
from server.extensions import db
from server.models import (
    PENDING,
    SENDING,
    Device,
    LoginSession,
    Reminder,
    ReminderPreferences,
    User,
)
from server.services.reminders import settings_from_row
from server.services.replans import apply_due_replans

LEASE = timedelta(minutes=5)


class SqlOutbox:
    """The `reminders` table as the dispatcher's outbox.

    Each claim is one atomic statement: on PostgreSQL `UPDATE … WHERE id IN (SELECT …
    FOR UPDATE SKIP LOCKED) RETURNING`, so concurrent workers take disjoint rows; on
    SQLite the same UPDATE … RETURNING runs under SQLite's single writer lock (SQLAlchemy
    drops SKIP LOCKED there). A claim is a lease: rows of a worker that died are
    claimed again once it expires.
    """

    def claim(self, *, now: datetime, limit: int, worker_id: str) -> list[Delivery]:
        apply_due_replans(now=now)  # never claim a reminder a pending re-plan cancels
        reminders = Reminder.__table__.c
        # Two claims, each one index range in index order (no sort of every due row,
        # which one `pending OR expired lease` condition cost: 58 ms a batch with
        # 30,000 rows due): first the rare rows whose worker died (lease expired),
        # then pending rows by when they are due.
        expired = and_(reminders.status == SENDING, reminders.lease_until < now)
        pending = and_(reminders.status == PENDING, reminders.next_attempt_at <= now)
        # Core statements on the session's connection (plain rows, no ORM entities):
        # the claims, then one read of what the messages need, then one commit, and no
        # transaction stays open while the batch is sent (under PgBouncer's
        # transaction mode none holds a server connection then).
        claimed = self._claim(expired, now=now, limit=limit, worker_id=worker_id)
        if len(claimed) < limit:
            claimed += self._claim(
                pending, now=now, limit=limit - len(claimed), worker_id=worker_id
            )
        deliveries = self._deliveries(claimed, now)
        db.session.commit()
        return deliveries

    def _claim(self, condition: Any, *, now: datetime, limit: int, worker_id: str) -> list[Any]:
        """Lease up to `limit` rows matching `condition`, oldest due first: one UPDATE …
        WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING."""
        reminders = Reminder.__table__.c
        due = (
            select(reminders.id)
            .where(condition)
            .order_by(reminders.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(
            db.session.connection().execute(
                update(Reminder.__table__)
                .where(reminders.id.in_(due.scalar_subquery()))
                .values(
                    status=SENDING,
                    lease_until=now + LEASE,
                    claimed_by=worker_id,
                    attempts=reminders.attempts + 1,
                    updated_at=now,
                )
                .returning(
                    reminders.id,
                    reminders.user_id,
                    reminders.kind,
                    reminders.send_at,
                    reminders.attempts,
                    reminders.payload,
                )
            )
        )

    def _deliveries(self, claimed: Sequence[Any], now: datetime) -> list[Delivery]:
        if not claimed:
            return []
        users, prefs, devices, logins = (
            User.__table__.c,
            ReminderPreferences.__table__.c,
            Device.__table__.c,
            LoginSession.__table__.c,
        )
        # A device belongs to the login that registered it: once that login has ended
        # (signed out, revoked or expired) the partner is signed out there, so it gets
        # no push (a device without a recorded login, as the demo's, counts as open).
        login_open = or_(
            devices.session_id.is_(None),
            and_(logins.revoked_at.is_(None), logins.expires_at > now),
        )
        rows = (
            db.session.connection()
            .execute(
                select(
                    users.id.label("user_id"),
                    users.timezone,
                    prefs.user_id.label("prefs_user_id"),
                    prefs.times,
                    prefs.days,
                    prefs.quiet_start,
                    prefs.quiet_end,
                    prefs.paused,
                    prefs.discreet,
                    prefs.text_encrypted,
                    devices.id.label("device_id"),
                    devices.token,
                    devices.platform,
                )
                .select_from(User.__table__)
                .outerjoin(ReminderPreferences.__table__, prefs.user_id == users.id)
                .outerjoin(
                    Device.__table__.outerjoin(
                        LoginSession.__table__, logins.id == devices.session_id
                    ),
                    and_(devices.user_id == users.id, login_open),
                )
                .where(users.id.in_({row.user_id for row in claimed}))
                .order_by(devices.created_at, devices.id)
            )
            .all()
        )
        settings: dict[str, ReminderSettings] = {}
        targets: dict[str, list[Target]] = defaultdict(list)
        for row in rows:
            if row.user_id not in settings:
                # the row has the columns settings_from_row reads (times, days, ...)
                found = cast(ReminderPreferences, row) if row.prefs_user_id else None
                settings[row.user_id] = settings_from_row(found, row.timezone)
            if row.device_id is not None:
                targets[row.user_id].append(Target(row.device_id, row.token, row.platform))
        deliveries = []
        for row in claimed:
            own = settings.get(row.user_id) or settings_from_row(None, "UTC")
            if row.kind == "reminder":
                title, body = reminder_text(own)
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
                    in_quiet_hours=row.kind != "alert" and is_quiet(own, now),
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
        reminders = Reminder.__table__.c
        connection = db.session.connection()
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
            connection.execute(
                update(Reminder.__table__)
                .where(reminders.id.in_(ids), reminders.status == SENDING)
                .values(**values)
            )
        if bad_devices:
            connection.execute(
                delete(Device.__table__).where(Device.__table__.c.id.in_(bad_devices))
            )
        db.session.commit()
