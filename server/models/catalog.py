"""The catalog in the database: every version of every exercise and program.

Versions are never changed once stored, so an assignment that froze one keeps it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db import IdMixin, utcnow
from server.extensions import db

CATALOG_SCOPE = "catalog"


class ExerciseVersion(IdMixin, db.Model):
    """One version of a catalog exercise (`data` is `Exercise.to_dict()`)."""

    __tablename__ = "exercise_versions"
    __table_args__ = (UniqueConstraint("slug", "version"),)

    slug: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProgramVersion(IdMixin, db.Model):
    """One version of a program: a catalog one (`scope` "catalog") or a therapist's own
    (`scope` is the owner's id; visible only to them)."""

    __tablename__ = "program_versions"
    __table_args__ = (UniqueConstraint("scope", "slug", "version"),)

    scope: Mapped[str] = mapped_column(String(36), index=True)
    owner_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    slug: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
