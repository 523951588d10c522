"""The shapes shared by the dispatcher, the outbox store and the senders.

Pure data and protocols: the server implements `Outbox` over its database, the senders
implement `Sender`, and `notifications.dispatch.dispatch_once` joins them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

# Outcomes written back to the outbox.
SENT = "sent"  # delivered to at least one device
RETRY = "retry"  # transient failure: try again at `retry_at`
FAILED = "failed"  # gave up (permanent error, or too many attempts)
DROPPED = "dropped"  # not sent on purpose (too late, quiet hours, no device)


@dataclass(frozen=True, slots=True)
class Target:
    """One device to push to."""

    device_id: str
    token: str
    platform: str  # ios | android | web


@dataclass(frozen=True, slots=True)
class Delivery:
    """One claimed outbox row: a push to every device of one user."""

    reminder_id: str
    user_id: str
    kind: str  # reminder | nudge | alert
    send_at: datetime  # intended time (aware UTC)
    attempts: int  # including this one
    title: str
    body: str
    data: dict[str, str]  # FCM data payload (strings only), e.g. {"screen": "homework"}
    targets: tuple[Target, ...]
    in_quiet_hours: bool = False  # at the time of sending, in the user's own quiet hours


@dataclass(frozen=True, slots=True)
class Message:
    """One push to one device token."""

    token: str
    title: str
    body: str
    data: dict[str, str]
    platform: str = "android"


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the push service said about one message.

    `error` is the FCM error code (UNREGISTERED, INVALID_ARGUMENT, QUOTA_EXCEEDED,
    UNAVAILABLE, INTERNAL, SENDER_ID_MISMATCH, THIRD_PARTY_AUTH_ERROR, ...) or None on
    success; `token_invalid` is True when the token itself must be forgotten;
    `retry_after` is the server's Retry-After in seconds, when it gave one.
    """

    ok: bool
    error: str | None = None
    detail: str | None = None
    token_invalid: bool = False
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one delivery, for the outbox."""

    reminder_id: str
    status: str  # SENT | RETRY | FAILED | DROPPED
    error: str | None = None
    retry_at: datetime | None = None
    invalid_device_ids: tuple[str, ...] = field(default_factory=tuple)


class Sender(Protocol):
    """Sends pushes; one result per message, in order. Never raises for a per-message
    error; raises only when the whole call failed (then every message is retried)."""

    def send(self, messages: Sequence[Message]) -> list[SendResult]: ...


class Outbox(Protocol):
    """Where deliveries come from and outcomes go (the server's `reminders` table)."""

    def claim(self, *, now: datetime, limit: int, worker_id: str) -> list[Delivery]: ...

    def record(self, outcomes: Sequence[Outcome], *, now: datetime) -> None: ...
