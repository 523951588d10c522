"""Measurement-based care: which questionnaires a couple is asked, and the answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db import IdMixin, utcnow
from server.extensions import db


class MeasureSchedule(IdMixin, db.Model):
    """One questionnaire the therapist asks of both partners of a couple, every
    `every_weeks` weeks from `started_at`, each on their own local calendar
    (`exercises.measures.current_occasion`)."""

    __tablename__ = "measure_schedules"
    __table_args__ = (UniqueConstraint("couple_id", "measure"),)

    couple_id: Mapped[str] = mapped_column(ForeignKey("couples.id", ondelete="CASCADE"))
    measure: Mapped[str] = mapped_column(String(32))
    every_weeks: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MeasureResponse(db.Model):
    """One partner's answers to one questionnaire. The id is the client's UUID (an
    offline retry is safe); the score is the server's, from the catalog's rules, with
    the version of the measure it was scored with. Only its author and the therapist
    ever see it."""

    __tablename__ = "measure_responses"
    __table_args__ = (
        Index("ix_measure_responses_author_id_measure", "author_id", "measure"),
        Index("ix_measure_responses_couple_id_completed_at", "couple_id", "completed_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    couple_id: Mapped[str] = mapped_column(String(36))
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    measure: Mapped[str] = mapped_column(String(32))
    measure_version: Mapped[int] = mapped_column(Integer)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    score: Mapped[int] = mapped_column(Integer)
    band: Mapped[str] = mapped_column(String(40))
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The period this response answered (when the questionnaire became due).
    due_since: Mapped[datetime | None]
    completed_at: Mapped[datetime] = mapped_column(default=utcnow)
