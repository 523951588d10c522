"""dispatch_once / dispatch_until_empty with an in-memory outbox.

Senders: `MemorySender` for the rules, and the real firebase-admin SDK through
`FCMSender` to the fake FCM server for the same rules end to end.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from notifications.delivery import (
    DROPPED,
    FAILED,
    RETRY,
    SENT,
    Delivery,
    Message,
    Outcome,
    SendResult,
    Target,
)
from notifications.dispatch import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    BACKOFF_FLOOR,
    QUOTA_BACKOFF_FLOOR,
    DispatchReport,
    backoff_delay,
    dispatch_once,
    dispatch_until_empty,
)
from notifications.senders import FCMSender, MemorySender
from tests.notifications.fake_fcm import (
    INVALID_TOKEN,
    UNAVAILABLE,
    UNREGISTERED,
    FakeFCM,
    invalid_argument,
    quota_exceeded,
)

NOW = datetime(2026, 3, 10, 19, 0, tzinfo=UTC)
PENDING = "pending"

UNAVAILABLE_RESULT = SendResult(ok=False, error="UNAVAILABLE")
INTERNAL_RESULT = SendResult(ok=False, error="INTERNAL")
GONE = SendResult(ok=False, error="UNREGISTERED", token_invalid=True)
BAD_PAYLOAD = SendResult(ok=False, error="INVALID_ARGUMENT", token_invalid=False)


def quota(retry_after: float | None = None) -> SendResult:
    return SendResult(ok=False, error="QUOTA_EXCEEDED", retry_after=retry_after)


# --------------------------------------------------------------------------- the outbox fake


@dataclass
class Row:
    delivery: Delivery
    status: str = PENDING
    due_at: datetime | None = None
    attempts: int = 0
    leased_until: datetime | None = None
    error: str | None = None
    retry_at: datetime | None = None
    recorded_at: datetime | None = None


class MemoryOutbox:
    """The `Outbox` protocol over a dict, with claims leased like the server's."""

    def __init__(self, deliveries: Iterable[Delivery], lease: timedelta = timedelta(minutes=5)):
        self.rows = {d.reminder_id: Row(d, due_at=d.send_at) for d in deliveries}
        self.lease = lease
        self.removed_devices: set[str] = set()
        self.records: list[list[Outcome]] = []
        self._lock = threading.Lock()

    def claim(self, *, now: datetime, limit: int, worker_id: str) -> list[Delivery]:
        with self._lock:
            due = sorted(
                (
                    row
                    for row in self.rows.values()
                    if row.status in (PENDING, RETRY)
                    and row.due_at is not None
                    and row.due_at <= now
                    and (row.leased_until is None or row.leased_until <= now)
                ),
                key=lambda row: (row.due_at, row.delivery.reminder_id),
            )[:limit]
            claimed = []
            for row in due:
                row.attempts += 1
                row.leased_until = now + self.lease
                targets = tuple(
                    t for t in row.delivery.targets if t.device_id not in self.removed_devices
                )
                claimed.append(replace(row.delivery, attempts=row.attempts, targets=targets))
            return claimed

    def record(self, outcomes: Sequence[Outcome], *, now: datetime) -> None:
        with self._lock:
            self.records.append(list(outcomes))
            for outcome in outcomes:
                row = self.rows[outcome.reminder_id]
                row.status, row.error, row.retry_at = (
                    outcome.status,
                    outcome.error,
                    outcome.retry_at,
                )
                row.recorded_at, row.leased_until = now, None
                if outcome.status == RETRY:
                    row.due_at = outcome.retry_at
                self.removed_devices.update(outcome.invalid_device_ids)

    def status(self, reminder_id: str) -> tuple[str, str | None]:
        row = self.rows[reminder_id]
        return row.status, row.error


def delay_of(row: Row) -> float:
    assert row.retry_at is not None
    return (row.retry_at - NOW).total_seconds()


def delivery(
    reminder_id: str = "r1",
    *,
    tokens: Sequence[str] = ("tok-1",),
    send_at: datetime = NOW,
    **changes: Any,
) -> Delivery:
    fields: dict[str, Any] = {
        "reminder_id": reminder_id,
        "user_id": f"user-{reminder_id}",
        "kind": "reminder",
        "send_at": send_at,
        "attempts": 0,
        "title": "Reminder",
        "body": "Time for your check-in with yourself.",
        "data": {"screen": "homework"},
        "targets": tuple(
            Target(device_id=f"dev-{token}", token=token, platform="android") for token in tokens
        ),
    }
    fields.update(changes)
    return Delivery(**fields)


def run(
    deliveries: Iterable[Delivery],
    sender: Any | None = None,
    *,
    now: datetime = NOW,
    seed: int = 7,
    **kwargs: Any,
) -> tuple[DispatchReport, MemoryOutbox, Any]:
    outbox = MemoryOutbox(deliveries)
    sender = sender if sender is not None else MemorySender()
    report = dispatch_once(
        outbox, sender, now=now, worker_id="w1", rng=random.Random(seed), **kwargs
    )
    return report, outbox, sender


# --------------------------------------------------------------------------- sending


def test_a_due_reminder_goes_to_every_device_of_the_user() -> None:
    report, outbox, sender = run([delivery(tokens=("phone", "tablet"))])

    assert outbox.status("r1") == (SENT, None)
    assert sorted(m.token for m in sender.delivered) == ["phone", "tablet"]
    assert sender.delivered[0] == Message(
        token="phone",
        title="Reminder",
        body="Time for your check-in with yourself.",
        data={"screen": "homework"},
        platform="android",
    )
    assert report == DispatchReport(claimed=1, sent=1, messages=2, calls=1)


def test_two_devices_with_one_token_get_one_push() -> None:
    d = delivery(
        targets=(
            Target("dev-a", "same-token", "ios"),
            Target("dev-b", "same-token", "ios"),
        )
    )
    sender = MemorySender({"same-token": [GONE]})

    report, outbox, _ = run([d], sender)

    assert sender.call_sizes == [1]
    assert outbox.removed_devices == {"dev-a", "dev-b"}
    assert report.tokens_removed == 2


def test_sent_if_any_device_got_it_and_invalid_tokens_are_reported() -> None:
    sender = MemorySender({"old-phone": [GONE], "tablet": [UNAVAILABLE_RESULT]})

    report, outbox, _ = run([delivery(tokens=("old-phone", "tablet", "phone"))], sender)

    assert outbox.status("r1") == (SENT, None)
    assert outbox.removed_devices == {"dev-old-phone"}
    assert (report.sent, report.tokens_removed) == (1, 1)


# --------------------------------------------------------------------------- drops


@pytest.mark.parametrize(
    ("late_by", "status"),
    [
        (timedelta(hours=2), SENT),  # exactly at the limit: still sent
        (timedelta(hours=2, seconds=1), DROPPED),
        (timedelta(hours=9), DROPPED),  # a 20:00 reminder at 5 a.m. after an outage
    ],
)
def test_a_reminder_hours_late_is_dropped_not_sent(late_by: timedelta, status: str) -> None:
    _, outbox, sender = run([delivery(send_at=NOW - late_by)])

    assert outbox.status("r1") == (status, None if status == SENT else "late")
    assert len(sender.delivered) == (1 if status == SENT else 0)


def test_max_late_is_configurable() -> None:
    d = delivery(send_at=NOW - timedelta(minutes=20))
    _, outbox, sender = run([d], max_late=timedelta(minutes=15))
    assert outbox.status("r1") == (DROPPED, "late")
    assert sender.calls == []


def test_a_reminder_in_quiet_hours_is_dropped() -> None:
    report, outbox, sender = run([delivery(in_quiet_hours=True)])

    assert outbox.status("r1") == (DROPPED, "quiet hours")
    assert sender.calls == []
    assert report == DispatchReport(claimed=1, dropped=1)


def test_a_reminder_with_no_device_is_dropped() -> None:
    _, outbox, sender = run([delivery(tokens=())])
    assert outbox.status("r1") == (DROPPED, "no device")
    assert sender.calls == []


# --------------------------------------------------------------------------- retry and backoff


@pytest.mark.parametrize("attempts", [1, 2, 3, 4, 5])
def test_a_transient_failure_is_retried_within_the_backoff_bounds(attempts: int) -> None:
    ceiling = min(BACKOFF_BASE * 2 ** (attempts - 1), BACKOFF_CAP)
    deliveries = [delivery(f"r{i}", tokens=(f"t{i}",)) for i in range(200)]
    sender = MemorySender({f"t{i}": [UNAVAILABLE_RESULT] for i in range(200)})
    outbox = MemoryOutbox(deliveries)
    # Each row has been claimed `attempts - 1` times before.
    for row in outbox.rows.values():
        row.attempts = attempts - 1

    report = dispatch_once(outbox, sender, now=NOW, worker_id="w", rng=random.Random(attempts))

    delays = [delay_of(row) for row in outbox.rows.values()]
    assert report.retried == 200
    assert {row.status for row in outbox.rows.values()} == {RETRY}
    assert {row.error for row in outbox.rows.values()} == {"UNAVAILABLE"}
    assert all(BACKOFF_FLOOR <= d <= BACKOFF_FLOOR + ceiling for d in delays)
    # Full jitter: spread over the whole window, not bunched at one instant.
    assert min(delays) < BACKOFF_FLOOR + ceiling * 0.1
    assert max(delays) > BACKOFF_FLOOR + ceiling * 0.9


def test_backoff_is_capped_at_an_hour() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(40, rng=rng).total_seconds() for _ in range(100)]
    assert max(delays) <= BACKOFF_FLOOR + BACKOFF_CAP
    assert max(delays) > BACKOFF_CAP * 0.9


def test_quota_exceeded_backs_off_at_least_a_minute() -> None:
    deliveries = [delivery(f"r{i}", tokens=(f"t{i}",)) for i in range(100)]
    sender = MemorySender({f"t{i}": [quota()] for i in range(100)})

    _, outbox, _ = run(deliveries, sender)

    delays = [delay_of(row) for row in outbox.rows.values()]
    assert all(QUOTA_BACKOFF_FLOOR <= d <= QUOTA_BACKOFF_FLOOR + BACKOFF_BASE for d in delays)
    assert len(set(delays)) == 100  # spread, so the batch does not hit the quota again together
    assert {row.error for row in outbox.rows.values()} == {"QUOTA_EXCEEDED"}


def test_retry_after_is_honoured() -> None:
    sender = MemorySender(
        {
            "a": [quota(retry_after=600)],
            "b": [SendResult(ok=False, error="UNAVAILABLE", retry_after=300)],
        }
    )
    _, outbox, _ = run([delivery("ra", tokens=("a",)), delivery("rb", tokens=("b",))], sender)

    assert outbox.rows["ra"].retry_at is not None and outbox.rows["rb"].retry_at is not None
    assert outbox.rows["ra"].retry_at >= NOW + timedelta(seconds=600)
    assert outbox.rows["rb"].retry_at >= NOW + timedelta(seconds=300)


def test_the_longest_retry_after_of_a_users_devices_wins() -> None:
    sender = MemorySender({"a": [quota(retry_after=90)], "b": [quota(retry_after=900)]})
    _, outbox, _ = run([delivery(tokens=("a", "b"))], sender)
    assert outbox.rows["r1"].retry_at is not None
    assert outbox.rows["r1"].retry_at >= NOW + timedelta(seconds=900)


def test_after_max_attempts_a_reminder_fails_with_the_error_code() -> None:
    outbox = MemoryOutbox([delivery()])
    sender = MemorySender({"tok-1": [INTERNAL_RESULT] * 10})
    now = NOW
    statuses = []
    for _ in range(3):
        dispatch_once(outbox, sender, now=now, worker_id="w", max_attempts=3, rng=random.Random(1))
        row = outbox.rows["r1"]
        statuses.append(row.status)
        if row.retry_at is not None:
            now = row.retry_at

    assert statuses == [RETRY, RETRY, FAILED]
    assert outbox.status("r1") == (FAILED, "INTERNAL")
    assert outbox.rows["r1"].retry_at is None
    assert len(sender.calls) == 3


def test_a_retried_reminder_is_sent_once_when_fcm_recovers() -> None:
    outbox = MemoryOutbox([delivery()])
    sender = MemorySender({"tok-1": [UNAVAILABLE_RESULT, quota(retry_after=120)]})
    rng = random.Random(3)

    first = dispatch_once(outbox, sender, now=NOW, worker_id="w", rng=rng)
    # Not claimable again before its retry time.
    assert (
        dispatch_once(outbox, sender, now=NOW + timedelta(seconds=0.5), worker_id="w").claimed == 0
    )
    second_at = outbox.rows["r1"].retry_at
    assert second_at is not None
    second = dispatch_once(outbox, sender, now=second_at, worker_id="w", rng=rng)
    third_at = outbox.rows["r1"].retry_at
    assert third_at is not None and third_at >= second_at + timedelta(seconds=120)
    third = dispatch_once(outbox, sender, now=third_at, worker_id="w", rng=rng)

    assert (first.retried, second.retried, third.sent) == (1, 1, 1)
    assert outbox.status("r1") == (SENT, None)
    assert len(sender.delivered) == 1


def test_a_sender_call_that_raises_is_retried() -> None:
    sender = MemorySender()
    sender.fail_calls(ConnectionError("FCM unreachable"))

    report, outbox, _ = run([delivery("r1"), delivery("r2", tokens=("tok-2",))], sender)

    assert report.retried == 2
    assert {outbox.status(r) for r in ("r1", "r2")} == {(RETRY, "SEND_FAILED")}


def test_a_sender_answering_the_wrong_number_of_results_is_a_failed_call() -> None:
    class Broken:
        def send(self, messages: Sequence[Message]) -> list[SendResult]:
            return []

    _, outbox, _ = run([delivery()], Broken())
    assert outbox.status("r1") == (RETRY, "SEND_FAILED")


# --------------------------------------------------------------------------- permanent errors


def test_a_permanent_error_fails_without_removing_the_token() -> None:
    report, outbox, _ = run([delivery()], MemorySender({"tok-1": [BAD_PAYLOAD]}))

    assert outbox.status("r1") == (FAILED, "INVALID_ARGUMENT")
    assert outbox.removed_devices == set()
    assert report == DispatchReport(claimed=1, failed=1, messages=1, calls=1)


def test_every_token_invalid_fails_and_removes_them_all() -> None:
    sender = MemorySender({"a": [GONE], "b": [replace(GONE, error="SENDER_ID_MISMATCH")]})

    report, outbox, _ = run([delivery(tokens=("a", "b"))], sender)

    assert outbox.status("r1") == (FAILED, "UNREGISTERED")
    assert outbox.removed_devices == {"dev-a", "dev-b"}
    assert report.tokens_removed == 2


def test_an_invalid_token_beside_a_transient_failure_is_removed_and_the_rest_retried() -> None:
    sender = MemorySender({"old": [GONE], "new": [UNAVAILABLE_RESULT]})

    _, outbox, _ = run([delivery(tokens=("old", "new"))], sender)

    assert outbox.status("r1") == (RETRY, "UNAVAILABLE")
    assert outbox.removed_devices == {"dev-old"}
    # The retry goes only to the device that is left.
    dispatch_once(outbox, sender, now=outbox.rows["r1"].retry_at or NOW, worker_id="w")
    assert [m.token for m in sender.calls[-1]] == ["new"]
    assert outbox.status("r1") == (SENT, None)


def test_a_mixed_batch() -> None:
    deliveries = [
        delivery("ok", tokens=("t-ok",)),
        delivery("late", tokens=("t-late",), send_at=NOW - timedelta(hours=3)),
        delivery("quiet", tokens=("t-quiet",), in_quiet_hours=True),
        delivery("nodevice", tokens=()),
        delivery("gone", tokens=("t-gone",)),
        delivery("retry", tokens=("t-retry",)),
        delivery("quota", tokens=("t-quota",)),
        delivery("payload", tokens=("t-payload",)),
        delivery("last-try", tokens=("t-last",)),
    ]
    sender = MemorySender(
        {
            "t-gone": [GONE],
            "t-retry": [UNAVAILABLE_RESULT],
            "t-quota": [quota()],
            "t-payload": [BAD_PAYLOAD],
            "t-last": [INTERNAL_RESULT],
        }
    )
    outbox = MemoryOutbox(deliveries)
    outbox.rows["last-try"].attempts = 5

    report = dispatch_once(outbox, sender, now=NOW, worker_id="w", rng=random.Random(0))

    assert {rid: outbox.status(rid) for rid in outbox.rows} == {
        "ok": (SENT, None),
        "late": (DROPPED, "late"),
        "quiet": (DROPPED, "quiet hours"),
        "nodevice": (DROPPED, "no device"),
        "gone": (FAILED, "UNREGISTERED"),
        "retry": (RETRY, "UNAVAILABLE"),
        "quota": (RETRY, "QUOTA_EXCEEDED"),
        "payload": (FAILED, "INVALID_ARGUMENT"),
        "last-try": (FAILED, "INTERNAL"),
    }
    assert report == DispatchReport(
        claimed=9, sent=1, retried=2, failed=3, dropped=3, tokens_removed=1, messages=6, calls=1
    )
    # Drops are recorded before anything is sent, then each call's outcomes.
    assert [len(r) for r in outbox.records] == [3, 6]


# --------------------------------------------------------------------------- batching


def test_at_most_500_messages_per_sender_call() -> None:
    deliveries = [delivery(f"r{i:04}", tokens=(f"t{i}",)) for i in range(1200)]

    report, outbox, sender = run(deliveries, batch_size=1200)

    assert sender.call_sizes == [500, 500, 200]
    assert report.sent == 1200 and report.calls == 3
    # Outcomes are recorded after each call, not all at the end.
    assert [len(r) for r in outbox.records] == [500, 500, 200]


def test_a_deliverys_messages_stay_in_one_call() -> None:
    deliveries = [
        delivery(f"r{i:03}", tokens=tuple(f"t{i}-{k}" for k in range(3))) for i in range(400)
    ]

    _, _, sender = run(deliveries, batch_size=400)

    assert sender.call_sizes == [498, 498, 204]
    for call in sender.calls:
        users = {m.token.split("-")[0] for m in call}
        for user in users:
            assert sum(m.token.startswith(f"{user}-") for m in call) == 3


def test_a_user_with_more_devices_than_a_call_holds_is_split() -> None:
    big = delivery("big", tokens=tuple(f"b{k}" for k in range(7)))
    small = delivery("small", tokens=("s",))

    _, outbox, sender = run([big, small], max_per_call=5)

    assert sender.call_sizes == [5, 3]
    assert outbox.status("big") == (SENT, None) and outbox.status("small") == (SENT, None)


def test_batch_size_limits_the_claim_and_until_empty_drains() -> None:
    outbox = MemoryOutbox([delivery(f"r{i:04}", tokens=(f"t{i}",)) for i in range(1250)])
    sender = MemorySender()

    once = dispatch_once(outbox, sender, now=NOW, worker_id="w", batch_size=500)
    rest = dispatch_until_empty(outbox, sender, now=NOW, worker_id="w", batch_size=500)

    assert once.claimed == 500
    assert (rest.claimed, rest.sent, rest.calls) == (750, 750, 2)
    assert len(sender.delivered) == 1250
    assert len({m.token for m in sender.delivered}) == 1250


def test_until_empty_does_not_reclaim_what_it_just_rescheduled() -> None:
    outbox = MemoryOutbox([delivery(f"r{i}", tokens=(f"t{i}",)) for i in range(10)])
    sender = MemorySender({f"t{i}": [UNAVAILABLE_RESULT] for i in range(10)})

    report = dispatch_until_empty(outbox, sender, now=NOW, worker_id="w", batch_size=5)

    assert (report.claimed, report.retried) == (10, 10)
    assert len(sender.calls) == 2


def test_until_empty_is_bounded() -> None:
    class Endless:
        def claim(self, *, now: datetime, limit: int, worker_id: str) -> list[Delivery]:
            return [delivery(f"r{i}") for i in range(limit)]

        def record(self, outcomes: Sequence[Outcome], *, now: datetime) -> None:
            pass

    report = dispatch_until_empty(
        Endless(), MemorySender(), now=NOW, worker_id="w", batch_size=2, max_rounds=4
    )
    assert report.claimed == 8


def test_two_dispatchers_share_the_outbox_without_sending_twice() -> None:
    outbox = MemoryOutbox([delivery(f"r{i:04}", tokens=(f"t{i}",)) for i in range(2000)])
    sender = MemorySender()

    def work(worker_id: str) -> None:
        dispatch_until_empty(outbox, sender, now=NOW, worker_id=worker_id, batch_size=100)

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(sender.delivered) == 2000
    assert len({m.token for m in sender.delivered}) == 2000


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="aware"):
        run([delivery()], now=datetime(2026, 3, 10, 19, 0))


# --------------------------------------------------------------------------- through the SDK


def test_dispatch_through_the_real_sdk_to_the_fake(
    fcm_sender: FCMSender, fake_fcm: FakeFCM
) -> None:
    fake_fcm.script("t-gone", UNREGISTERED)
    fake_fcm.script("t-badtoken", INVALID_TOKEN)
    fake_fcm.script("t-payload", invalid_argument("message.android.ttl", "bad duration"))
    fake_fcm.script("t-quota", quota_exceeded(retry_after=120))
    fake_fcm.fail_times("t-down", UNAVAILABLE, 5)  # the SDK's 1 + 4 tries all fail
    deliveries = [
        delivery("ok", tokens=("t-ok", "t-gone")),
        delivery("badtoken", tokens=("t-badtoken",)),
        delivery("payload", tokens=("t-payload",)),
        delivery("quota", tokens=("t-quota",)),
        delivery("down", tokens=("t-down",)),
        delivery("late", tokens=("t-late",), send_at=NOW - timedelta(hours=4)),
    ]
    outbox = MemoryOutbox(deliveries)

    report = dispatch_once(outbox, fcm_sender, now=NOW, worker_id="w", rng=random.Random(5))

    assert {rid: outbox.status(rid) for rid in outbox.rows} == {
        "ok": (SENT, None),
        "badtoken": (FAILED, "INVALID_ARGUMENT"),
        "payload": (FAILED, "INVALID_ARGUMENT"),
        "quota": (RETRY, "QUOTA_EXCEEDED"),
        "down": (RETRY, "UNAVAILABLE"),
        "late": (DROPPED, "late"),
    }
    assert outbox.removed_devices == {"dev-t-gone", "dev-t-badtoken"}
    quota_at = outbox.rows["quota"].retry_at
    assert quota_at is not None and quota_at >= NOW + timedelta(seconds=120)
    assert fake_fcm.requests_for("t-down") == 5
    assert fake_fcm.requests_for("t-late") == 0
    assert report.tokens_removed == 2
    [ok] = fake_fcm.delivered_to("t-ok")
    assert ok["notification"] == {
        "title": "Reminder",
        "body": "Time for your check-in with yourself.",
    }
    assert ok["data"] == {"screen": "homework"}

    # FCM is back: the two retried reminders go out once each, at their retry times.
    later = max(outbox.rows["quota"].retry_at or NOW, outbox.rows["down"].retry_at or NOW)
    again = dispatch_until_empty(outbox, fcm_sender, now=later, worker_id="w")
    assert again.sent == 2
    assert len(fake_fcm.delivered_to("t-quota")) == len(fake_fcm.delivered_to("t-down")) == 1
    assert len(fake_fcm.messages) == 3


def test_600_deliveries_through_the_sdk_in_two_calls(
    fcm_sender: FCMSender, fake_fcm: FakeFCM, monkeypatch: pytest.MonkeyPatch
) -> None:
    from notifications import senders

    sizes: list[int] = []
    real, real_async = senders.messaging.send_each, senders.messaging.send_each_async

    def spy(messages: list[Any], **kwargs: Any) -> Any:
        sizes.append(len(messages))
        return real(messages, **kwargs)

    async def async_spy(messages: list[Any], **kwargs: Any) -> Any:
        sizes.append(len(messages))
        return await real_async(messages, **kwargs)

    monkeypatch.setattr(senders.messaging, "send_each", spy)
    monkeypatch.setattr(senders.messaging, "send_each_async", async_spy)
    outbox = MemoryOutbox([delivery(f"r{i:03}", tokens=(f"t{i}",)) for i in range(600)])

    report = dispatch_until_empty(outbox, fcm_sender, now=NOW, worker_id="w", batch_size=1000)

    assert sizes == [500, 100]
    assert report.sent == 600
    assert len(fake_fcm.messages) == 600
    assert len({m["token"] for m in fake_fcm.messages}) == 600
