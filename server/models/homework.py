"""The homework loop: assignments and their history, check-ins, alerts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exercises.model import FLAGS  # noqa: F401 - re-exported for the server
from server.db import IdMixin, utcnow
from server.extensions import db

ACTIVE = "active"
PAUSED = "paused"
COMPLETED = "completed"
VISIBILITIES = ("private", "therapist", "couple")


class Assignment(IdMixin, db.Model):
    """A program given to a couple: a frozen copy of the program version (and of the
    exercise versions it uses), the current stage, status and per-exercise overrides."""

    __tablename__ = "assignments"

    couple_id: Mapped[str] = mapped_column(ForeignKey("couples.id", ondelete="CASCADE"), index=True)
    program_version_id: Mapped[str] = mapped_column(
        ForeignKey("program_versions.id", ondelete="RESTRICT")
    )
    # Frozen copies never change: loaded only when a process has not cached them yet
    # (server.services.assignments.frozen_program / frozen_exercises).
    program: Mapped[dict[str, Any]] = mapped_column(JSON, deferred=True, deferred_group="frozen")
    exercises: Mapped[dict[str, Any]] = mapped_column(JSON, deferred=True, deferred_group="frozen")
    stage_index: Mapped[int] = mapped_column(Integer, default=1)
    stage_started_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    # Joint exercises on hold after a safety flag, until the therapist acts.
    on_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    start_date: Mapped[date] = mapped_column(Date)
    overrides: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    note_encrypted: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    completed_at: Mapped[datetime | None]

    events: Mapped[list[AssignmentEvent]] = relationship(
        order_by="AssignmentEvent.at", cascade="all, delete-orphan", passive_deletes=True
    )


class AssignmentEvent(IdMixin, db.Model):
    """One change of an assignment: who, when, what, from which stage to which, why."""

    __tablename__ = "assignment_events"

    assignment_id: Mapped[str] = mapped_column(
        ForeignKey("assignments.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(16))
    from_stage: Mapped[int | None] = mapped_column(Integer)
    to_stage: Mapped[int | None] = mapped_column(Integer)
    reason_encrypted: Mapped[str | None] = mapped_column(Text)


class CheckIn(db.Model):
    """One partner's record of one exercise session. The id is the client's UUID, so an
    offline phone can retry safely. Ratings are stored as they are; free text (text
    answers and the reflection) only encrypted."""

    __tablename__ = "checkins"
    __table_args__ = (
        Index("ix_checkins_author_id_occurred_at", "author_id", "occurred_at"),
        Index("ix_checkins_couple_id_occurred_at", "couple_id", "occurred_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    assignment_id: Mapped[str] = mapped_column(
        ForeignKey("assignments.id", ondelete="CASCADE"), index=True
    )
    couple_id: Mapped[str] = mapped_column(String(36))
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    exercise: Mapped[str] = mapped_column(String(64))
    stage_index: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    text_encrypted: Mapped[str | None] = mapped_column(Text)
    visibility: Mapped[str] = mapped_column(String(16))
    flags: Mapped[list[str]] = mapped_column(JSON)
    # Tells an offline retry from a different check-in: a *keyed* fingerprint (HMAC,
    # server.services.checkins.fingerprint_text), never a plain digest of the free text.
    body_hash: Mapped[str] = mapped_column(String(64))


class Alert(IdMixin, db.Model):
    """Raised for the therapist: a safety flag in a check-in, or inactivity."""

    __tablename__ = "alerts"

    couple_id: Mapped[str] = mapped_column(ForeignKey("couples.id", ondelete="CASCADE"), index=True)
    partner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    checkin_id: Mapped[str | None] = mapped_column(ForeignKey("checkins.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
