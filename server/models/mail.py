"""One-time account tokens (email verification, password reset, recovery codes) and the
outbox of emails waiting to be sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db import IdMixin, utcnow
from server.extensions import db

VERIFY_EMAIL = "verify_email"
PASSWORD_RESET = "password_reset"  # noqa: S105 (a token purpose, not a password)
RECOVERY = "recovery"
TOKEN_PURPOSES = (VERIFY_EMAIL, PASSWORD_RESET, RECOVERY)

EMAIL_PENDING = "pending"
EMAIL_SENDING = "sending"  # claimed by a sender, under lease
EMAIL_SENT = "sent"
EMAIL_FAILED = "failed"  # gave up after the last attempt
EMAIL_STATUSES = (EMAIL_PENDING, EMAIL_SENDING, EMAIL_SENT, EMAIL_FAILED)


class AccountToken(IdMixin, db.Model):
    """A one-time secret that proves something about an account: that its owner reads
    the address (verification), or may set a new password (reset, recovery code).

    Stored only as the SHA-256 of the secret (256-bit tokens, 80-bit recovery codes: a
    digest of a random secret confirms nothing); spent on first use.
    """

    __tablename__ = "account_tokens"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class OutboundEmail(IdMixin, db.Model):
    """One email to send (the outbox), written in the request's transaction and sent
    after its commit. The message (address, links with live tokens) is encrypted with
    the data keys and blanked once sent; the row keeps its story for the operator."""

    __tablename__ = "outbound_emails"
    __table_args__ = (
        Index("ix_outbound_emails_status_next_attempt_at", "status", "next_attempt_at"),
    )

    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    message_encrypted: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=EMAIL_PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
