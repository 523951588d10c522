"""Accounts and login sessions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import IdMixin, utcnow
from server.extensions import db

if TYPE_CHECKING:
    from server.models.couple import Couple

THERAPIST = "therapist"
CLIENT = "client"

# An API login (and the partner app's) ends 30 days after its last use and, however
# active, 90 days after sign-in. The portal's are shorter (server/portal/security.py).
LOGIN_IDLE = timedelta(days=30)
LOGIN_MAX_AGE = timedelta(days=90)
CLIENT_LABEL_MAX = 40


def _default_login_expiry() -> datetime:
    return utcnow() + LOGIN_IDLE


class User(IdMixin, db.Model):
    """A therapist or a client (one partner of a couple)."""

    __tablename__ = "users"

    # Stored lower-cased: emails are unique case-insensitively on every database.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    couple_id: Mapped[str | None] = mapped_column(
        ForeignKey("couples.id", ondelete="SET NULL", use_alter=True), index=True
    )
    # Null until the owner proves they read the address (therapists who signed up);
    # partners who joined by invite and accounts made by an operator are verified.
    email_verified_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    couple: Mapped[Couple | None] = relationship(
        back_populates="partners", foreign_keys=[couple_id]
    )

    @property
    def is_therapist(self) -> bool:
        return self.role == THERAPIST


class LoginSession(IdMixin, db.Model):
    """One sign-in on one device: the family of refresh tokens it rotates through.

    `expires_at` is when the login ends unless used again: each use moves it to the
    idle limit from then, never past the absolute limit from `created_at`. `client` is
    a short label ("Firefox on Windows", "portal", "partner app"), never the raw
    User-Agent.
    """

    __tablename__ = "login_sessions"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(default=_default_login_expiry)
    client: Mapped[str | None] = mapped_column(String(CLIENT_LABEL_MAX))
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(32))

    user: Mapped[User] = relationship()


class RefreshToken(IdMixin, db.Model):
    """A refresh token, stored only as its SHA-256 hash; spent on first use."""

    __tablename__ = "refresh_tokens"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("login_sessions.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    spent_at: Mapped[datetime | None]

    session: Mapped[LoginSession] = relationship()
