"""The dispatcher: claim due outbox rows, send them, record what became of each.

`dispatch_once(outbox, sender, now=..., worker_id=...)` is one pass; the worker calls
`dispatch_until_empty` every few seconds. It is pure apart from the two calls it
makes (`outbox.claim`/`outbox.record` and `sender.send`): no database, no Firebase,
no clock — `now` is an argument. Several workers may run it at once: the outbox's
claim (a lease per row) is what keeps them from sending a reminder twice.

Rules (PRODUCT.md "Reminders", issue 5):

* **Dropped, not sent** (status DROPPED): more than `max_late` after its intended
  time (error "late": never a 20:00 reminder at 3 a.m. after an outage); inside the
  partner's quiet hours at the time of sending ("quiet hours"); no device to send to
  ("no device").
* **Sent** to every device of the user, in sender calls of at most 500 messages
  (FCM's limit), a delivery's messages kept in one call whenever they fit. A
  delivery is SENT if any device got it. Tokens the push service reports invalid
  are returned in `invalid_device_ids` (whatever the status) so the server deletes
  those devices.
* **Retried** (status RETRY, `retry_at`) when every device still worth trying failed
  transiently (UNAVAILABLE, INTERNAL, QUOTA_EXCEEDED, DEADLINE_EXCEEDED, UNKNOWN, or
  the sender call raised), after a backoff: exponential with full jitter on top of a
  floor. With `ceiling = min(30 s * 2^(attempts-1), 1 h)` and `floor = max(1 s,
  60 s if QUOTA_EXCEEDED, Retry-After)` the delay is `floor + uniform(0, ceiling)`:
  never before Retry-After, at least a minute after QUOTA_EXCEEDED (as Google asks),
  and spread out so a batch that failed together does not come back together. The
  1 s floor keeps `retry_at` after `now`, so a drain loop never re-claims a row it
  just rescheduled.
* **Failed** (status FAILED, the error code): a permanent error (e.g. a payload
  INVALID_ARGUMENT, THIRD_PARTY_AUTH_ERROR), every device's token invalid, or still
  transient at attempt `max_attempts`. With the defaults (6 attempts) a reminder
  is given up after at most ~16 minutes of retries, well inside `max_late`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta

from notifications.delivery import (
    DROPPED,
    FAILED,
    RETRY,
    SENT,
    Delivery,
    Message,
    Outbox,
    Outcome,
    Sender,
    SendResult,
)

log = logging.getLogger(__name__)

MAX_MESSAGES_PER_CALL = 500  # FCM's limit per send_each call
DEFAULT_MAX_LATE = timedelta(hours=2)
DEFAULT_MAX_ATTEMPTS = 6

BACKOFF_BASE = 30.0  # seconds, the ceiling after the first attempt
BACKOFF_CAP = 3600.0  # seconds, the largest ceiling
BACKOFF_FLOOR = 1.0  # seconds: a retry is always strictly after `now`
QUOTA_BACKOFF_FLOOR = 60.0  # seconds, after QUOTA_EXCEEDED (FCM's guidance)
MAX_RETRY_AFTER = 86_400.0  # seconds; beyond that the reminder is long stale anyway

# Error codes worth another attempt. SEND_FAILED is ours: the sender call raised.
QUOTA_ERRORS = frozenset({"QUOTA_EXCEEDED", "RESOURCE_EXHAUSTED"})
TRANSIENT_ERRORS = frozenset(
    {"UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED", "UNKNOWN", "SEND_FAILED"} | QUOTA_ERRORS
)
SEND_FAILED = "SEND_FAILED"

LATE = "late"
QUIET_HOURS = "quiet hours"
NO_DEVICE = "no device"


@dataclass(frozen=True, slots=True)
class DispatchReport:
    """What one pass (or several, added up) did."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0
    tokens_removed: int = 0
    messages: int = 0  # messages handed to the sender
    calls: int = 0  # sender calls

    def __add__(self, other: DispatchReport) -> DispatchReport:
        return DispatchReport(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    def __str__(self) -> str:
        return " ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))


@dataclass(slots=True, eq=False)  # eq=False: hashed by identity
class _Pending:
    """A delivery being sent: one message per distinct token."""

    delivery: Delivery
    messages: list[Message]
    device_ids: list[tuple[str, ...]]  # per message: the devices with that token
    results: list[SendResult | None] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return all(r is not None for r in self.results)


def backoff_delay(
    attempts: int,
    *,
    rng: random.Random,
    quota: bool = False,
    retry_after: float | None = None,
) -> timedelta:
    """How long to wait before attempt `attempts + 1` (see the module docstring)."""
    exponent = min(max(attempts, 1) - 1, 20)
    ceiling = min(BACKOFF_BASE * 2.0**exponent, BACKOFF_CAP)
    floor = BACKOFF_FLOOR
    if quota:
        floor = max(floor, QUOTA_BACKOFF_FLOOR)
    if retry_after is not None:
        floor = max(floor, min(retry_after, MAX_RETRY_AFTER))
    return timedelta(seconds=floor + rng.uniform(0.0, ceiling))


def dispatch_once(
    outbox: Outbox,
    sender: Sender,
    *,
    now: datetime,
    worker_id: str,
    batch_size: int = 500,
    max_late: timedelta = DEFAULT_MAX_LATE,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    max_per_call: int = MAX_MESSAGES_PER_CALL,
    rng: random.Random | None = None,
) -> DispatchReport:
    """Claim up to `batch_size` due deliveries, send them and record each outcome.

    Outcomes are recorded after each sender call (drops first), so a worker that dies
    mid-pass leaves only its unsent rows to be picked up again after their lease.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if batch_size < 1 or max_per_call < 1 or max_attempts < 1:
        raise ValueError("batch_size, max_per_call and max_attempts must be at least 1")
    rng = rng if rng is not None else random.Random()

    deliveries = outbox.claim(now=now, limit=batch_size, worker_id=worker_id)
    report = DispatchReport(claimed=len(deliveries))
    if not deliveries:
        return report

    drops: list[Outcome] = []
    pending: list[_Pending] = []
    for delivery in deliveries:
        reason = _drop_reason(delivery, now=now, max_late=max_late)
        if reason is not None:
            drops.append(Outcome(delivery.reminder_id, DROPPED, error=reason))
        else:
            pending.append(_prepare(delivery))
    if drops:
        outbox.record(drops, now=now)
        report += DispatchReport(dropped=len(drops))

    for call in _pack(pending, max_per_call):
        messages = [p.messages[i] for p, i in call]
        results = _send(sender, messages)
        for (p, i), result in zip(call, results, strict=True):
            p.results[i] = result
        finished = [p for p in dict.fromkeys(p for p, _ in call) if p.done]
        outcomes = [_decide(p, now=now, max_attempts=max_attempts, rng=rng) for p in finished]
        if outcomes:
            outbox.record(outcomes, now=now)
        report += _count(outcomes) + DispatchReport(messages=len(messages), calls=1)

    log.info("dispatch %s: %s", worker_id, report)
    return report


def dispatch_until_empty(
    outbox: Outbox,
    sender: Sender,
    *,
    now: datetime,
    worker_id: str,
    batch_size: int = 500,
    max_rounds: int = 100,
    max_late: timedelta = DEFAULT_MAX_LATE,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    max_per_call: int = MAX_MESSAGES_PER_CALL,
    rng: random.Random | None = None,
) -> DispatchReport:
    """Run `dispatch_once` until a claim comes back short, at most `max_rounds` times.

    A short claim means nothing else is due at `now` (or other workers hold it). The
    bound keeps one scheduler run finite whatever the outbox does.
    """
    rng = rng if rng is not None else random.Random()
    total = DispatchReport()
    for _ in range(max_rounds):
        report = dispatch_once(
            outbox,
            sender,
            now=now,
            worker_id=worker_id,
            batch_size=batch_size,
            max_late=max_late,
            max_attempts=max_attempts,
            max_per_call=max_per_call,
            rng=rng,
        )
        total += report
        if report.claimed < batch_size:
            break
    return total


def _drop_reason(delivery: Delivery, *, now: datetime, max_late: timedelta) -> str | None:
    if now - delivery.send_at > max_late:
        return LATE
    if delivery.in_quiet_hours:
        return QUIET_HOURS
    if not delivery.targets:
        return NO_DEVICE
    return None


def _prepare(delivery: Delivery) -> _Pending:
    """One message per distinct token: two device rows with one token get one push."""
    by_token: dict[str, list[str]] = {}
    platform: dict[str, str] = {}
    for target in delivery.targets:
        by_token.setdefault(target.token, []).append(target.device_id)
        platform.setdefault(target.token, target.platform)
    messages = [
        Message(
            token=token,
            title=delivery.title,
            body=delivery.body,
            data=dict(delivery.data),
            platform=platform[token],
        )
        for token in by_token
    ]
    return _Pending(
        delivery=delivery,
        messages=messages,
        device_ids=[tuple(ids) for ids in by_token.values()],
        results=[None] * len(messages),
    )


def _pack(pending: Sequence[_Pending], limit: int) -> Iterator[list[tuple[_Pending, int]]]:
    """Sender calls of at most `limit` messages; a delivery that fits stays in one."""
    call: list[tuple[_Pending, int]] = []
    for p in pending:
        if call and len(call) + len(p.messages) > limit:
            yield call
            call = []
        for i in range(len(p.messages)):
            if len(call) == limit:  # only a delivery with more devices than `limit`
                yield call
                call = []
            call.append((p, i))
    if call:
        yield call


def _send(sender: Sender, messages: list[Message]) -> list[SendResult]:
    """The sender's answers; a call that raised (or answered wrongly) fails transiently."""
    try:
        results = list(sender.send(messages))
    except Exception as exc:
        log.warning(
            "dispatch: sender call with %d messages failed: %s",
            len(messages),
            type(exc).__name__,
            exc_info=True,
        )
        return [SendResult(ok=False, error=SEND_FAILED, detail=type(exc).__name__)] * len(messages)
    if len(results) != len(messages):
        log.error(
            "dispatch: sender answered %d results for %d messages", len(results), len(messages)
        )
        return [SendResult(ok=False, error=SEND_FAILED, detail="result count")] * len(messages)
    return results


def _decide(p: _Pending, *, now: datetime, max_attempts: int, rng: random.Random) -> Outcome:
    delivery = p.delivery
    results = [r for r in p.results if r is not None]
    invalid = tuple(
        device_id
        for ids, r in zip(p.device_ids, results, strict=True)
        if r.token_invalid
        for device_id in ids
    )
    if any(r.ok for r in results):
        return Outcome(delivery.reminder_id, SENT, invalid_device_ids=invalid)

    live = [r for r in results if not r.token_invalid]
    if not live:  # every token is gone: nothing left to try
        return Outcome(
            delivery.reminder_id, FAILED, error=results[0].error, invalid_device_ids=invalid
        )
    transient = [r for r in live if r.error in TRANSIENT_ERRORS]
    if not transient:
        return Outcome(
            delivery.reminder_id, FAILED, error=live[0].error, invalid_device_ids=invalid
        )
    # Some device may still get it: try again, unless this was the last attempt.
    error = transient[0].error
    if delivery.attempts >= max_attempts:
        return Outcome(delivery.reminder_id, FAILED, error=error, invalid_device_ids=invalid)
    waits = [r.retry_after for r in transient if r.retry_after is not None]
    delay = backoff_delay(
        delivery.attempts,
        rng=rng,
        quota=any(r.error in QUOTA_ERRORS for r in transient),
        retry_after=max(waits) if waits else None,
    )
    return Outcome(
        delivery.reminder_id,
        RETRY,
        error=error,
        retry_at=now + delay,
        invalid_device_ids=invalid,
    )


def _count(outcomes: Sequence[Outcome]) -> DispatchReport:
    return DispatchReport(
        sent=sum(o.status == SENT for o in outcomes),
        retried=sum(o.status == RETRY for o in outcomes),
        failed=sum(o.status == FAILED for o in outcomes),
        tokens_removed=sum(len(o.invalid_device_ids) for o in outcomes),
    )
