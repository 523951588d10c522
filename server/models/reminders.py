"""Reminders: each partner's settings, their devices, and the outbox of planned pushes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db import IdMixin, utcnow
from server.extensions import db

PENDING = "pending"
SENDING = "sending"  # claimed by a worker, under lease
REMINDER_STATUSES = (PENDING, SENDING, "sent", "failed", "cancelled", "dropped")


class ReminderPreferences(db.Model):
    """A partner's reminder settings (absent: the defaults). The time zone is the
    user's own (`users.timezone`), so there is one source of truth for it."""

    __tablename__ = "reminder_settings"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    times: Mapped[list[str]] = mapped_column(JSON)
    days: Mapped[list[int]] = mapped_column(JSON)
    quiet_start: Mapped[str | None] = mapped_column(String(5))
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    discreet: Mapped[bool] = mapped_column(Boolean, default=True)
    # The partner's own wording shows on a lock screen: kept encrypted like other text.
    text_encrypted: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Device(IdMixin, db.Model):
    """A push token, tied to the login that registered it: logging out forgets it."""

    __tablename__ = "devices"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[str | None] = mapped_column(
        ForeignKey("login_sessions.id", ondelete="CASCADE"), index=True
    )
    token: Mapped[str] = mapped_column(String(4096), unique=True)
    platform: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class Reminder(IdMixin, db.Model):
    """One planned push (the outbox). `key` is unique per user and slot, so planning
    twice plans nothing twice; the row keeps its whole story for "why no reminder?"."""

    __tablename__ = "reminders"
    __table_args__ = (Index("ix_reminders_status_next_attempt_at", "status", "next_attempt_at"),)

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="reminder")
    send_at: Mapped[datetime]
    local_date: Mapped[str | None] = mapped_column(String(10))
    local_time: Mapped[str | None] = mapped_column(String(5))
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    next_attempt_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ReplanRequest(db.Model):
    """A partner whose reminders must be re-planned: written by whatever changed their
    inputs (a check-in, settings, an assignment change, a questionnaire schedule) in its
    own transaction, taken and deleted by the worker's "replan" job in the transaction
    that re-plans them (so a crash loses nothing). One row per partner, however many
    changes came in meanwhile."""

    __tablename__ = "replan_requests"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    requested_at: Mapped[datetime]


class ReminderPlan(db.Model):
    """How far a partner's reminders are planned: the last plan ran at `planned_at`
    (covering the 24 hours after it) and no slot their settings could ever produce
    falls before `next_slot_at` beyond that window (None: none ever will, e.g. paused
    settings). A planning pass at `now` skips the partner while `planned_at <= now` and
    the window after `now` still ends before `next_slot_at`: nothing there can change
    until an input changes, and every input change writes a `ReplanRequest`."""

    __tablename__ = "reminder_plans"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    planned_at: Mapped[datetime]
    next_slot_at: Mapped[datetime | None] = mapped_column(index=True)
