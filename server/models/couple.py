"""Couples and the invites that bring each partner in."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import IdMixin, utcnow
from server.extensions import db

if TYPE_CHECKING:
    from server.models.user import User


class Couple(IdMixin, db.Model):
    """Two partner slots under one therapist."""

    __tablename__ = "couples"

    therapist_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    label: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    therapist: Mapped[User] = relationship(foreign_keys=[therapist_id])
    partners: Mapped[list[User]] = relationship(
        back_populates="couple", foreign_keys="User.couple_id", order_by="User.created_at"
    )
    invites: Mapped[list[Invite]] = relationship(
        back_populates="couple", order_by="Invite.slot", cascade="all, delete-orphan"
    )

    @property
    def status(self) -> str:
        """`invited` until both partners have joined, then `active`."""
        return "active" if len(self.partners) >= 2 else "invited"


class Invite(IdMixin, db.Model):
    """A single-use, expiring code for one partner slot of a couple.

    The code is looked up by its hash and kept encrypted (with the data keys) so the
    therapist can read it again; a copy of the database alone reveals neither.
    """

    __tablename__ = "invites"
    __table_args__ = (UniqueConstraint("couple_id", "slot"),)

    couple_id: Mapped[str] = mapped_column(ForeignKey("couples.id", ondelete="CASCADE"))
    slot: Mapped[int] = mapped_column(Integer)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_encrypted: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    accepted_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    couple: Mapped[Couple] = relationship(back_populates="invites")

    def status_at(self, now: datetime) -> str:
        if self.accepted_at is not None:
            return "accepted"
        return "expired" if self.expires_at <= now else "pending"
