"""Re-planning as an event (issue 13): a change writes one replan request in its own
transaction; the worker's replan job, the dispatcher's check before a claim and
GET /me/reminders (the caller's own) apply it. A reminder for something already done is
never sent, and a safety hold stops every reminder at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import event, func, select

from notifications.senders import MemorySender
from server.extensions import db
from server.models import Reminder, ReplanRequest
from server.services.replans import request_replan
from server.worker import dispatch_pass, plan_pass, replan_pass
from tests.factories import SF_CALM, Actor, Api, assign, check_in, one_session_a_week


@pytest.fixture
def sender(app: Flask) -> Iterator[MemorySender]:
    memory = MemorySender()
    app.extensions["tandem.sender"] = memory
    yield memory
    app.extensions.pop("tandem.sender", None)


@pytest.fixture
def couple(api: Api, app: Flask):  # type: ignore[no-untyped-def]
    """A couple (Berlin, New York) on a program whose target one check-in meets, with
    their reminders planned by the worker (replan job, then a planning pass)."""
    t = api.therapist()
    c, a, b = api.couple_with_partners(t, timezones=("Europe/Berlin", "America/New_York"))
    aid = assign(api, t, c["id"], start_date="2026-11-01")["id"]
    one_session_a_week(api, t, aid)
    with app.app_context():
        replan_pass()
        plan_pass(datetime.now(UTC))
    for who, token in ((a, "phone-a"), (b, "phone-b")):
        r = api.call("POST", "/api/v1/me/devices", who, json={"token": token, "platform": "ios"})
        assert r.status_code == 201
    return t, c, a, b, aid


def rows(app: Flask, *users: Actor) -> list[Reminder]:
    """Outbox rows as they are (no replan job run)."""
    with app.app_context():
        found = list(
            db.session.scalars(
                select(Reminder)
                .where(Reminder.user_id.in_([u.id for u in users]))
                .order_by(Reminder.send_at)
            )
        )
        db.session.expunge_all()
        return found


def requests(app: Flask) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(select(ReplanRequest.user_id)))


def test_a_checkin_asks_for_a_replan_and_plans_nothing_in_the_request(  # type: ignore[no-untyped-def]
    api: Api, app: Flask, couple
) -> None:
    _, _, a, b, aid = couple
    before = [(r.key, r.status) for r in rows(app, a)]
    assert any(status == "pending" for _, status in before)
    assert requests(app) == set()
    check_in(api, a, aid)
    assert requests(app) == {a.id}  # one request, the author's own
    assert [(r.key, r.status) for r in rows(app, a)] == before  # the request planned nothing
    check_in(api, a, aid)
    assert requests(app) == {a.id}  # still one row
    with app.app_context():
        assert replan_pass() == {"replanned": 1, "planned": 0}
        assert replan_pass() == {"replanned": 0, "planned": 0}
    assert requests(app) == set()
    assert all(r.status == "cancelled" for r in rows(app, a))  # the week's target is met
    assert any(r.status == "pending" for r in rows(app, b))  # the other partner's are not


def test_request_replan_is_one_statement_and_idempotent(  # type: ignore[no-untyped-def]
    api: Api, app: Flask, couple
) -> None:
    _, _, a, b, _ = couple
    statements: list[str] = []
    with app.app_context():

        def count(*args: object) -> None:
            statements.append(str(args[2]))

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            request_replan([a.id, b.id, a.id])
            request_replan([a.id])
            db.session.commit()
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        assert db.session.scalar(select(func.count()).select_from(ReplanRequest)) == 2
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
    assert len(inserts) == 2, statements  # one per call, whatever the number of partners


def test_a_reminder_for_homework_done_is_not_sent_even_before_the_replan_job(  # type: ignore[no-untyped-def]
    api: Api, app: Flask, couple, sender: MemorySender
) -> None:
    _, _, a, _, aid = couple
    pending = [r for r in rows(app, a) if r.status == "pending"]
    assert pending
    due = pending[0].send_at
    berlin = ZoneInfo("Europe/Berlin")
    now = datetime.now(UTC)
    if due.astimezone(berlin).isocalendar()[:2] != now.astimezone(berlin).isocalendar()[:2]:
        pytest.skip("the next reminder is in the next local week: a new target, rightly sent")
    check_in(api, a, aid)  # meets the week's target; no replan job runs
    with app.app_context():
        dispatch_pass(due)
    assert sender.delivered_to("phone-a") == []
    [row] = [r for r in rows(app, a) if r.id == pending[0].id]
    assert (row.status, row.error) == ("cancelled", "no longer due")
    assert requests(app) == {a.id}  # the rest of the re-plan is the job's


def test_a_reminder_still_wanted_is_sent_although_a_replan_is_pending(  # type: ignore[no-untyped-def]
    api: Api, app: Flask, couple, sender: MemorySender
) -> None:
    _, _, a, _, _ = couple
    [first, *_] = [r for r in rows(app, a) if r.status == "pending"]
    r = api.call("PUT", "/api/v1/me/reminder-settings", a, json={"text": "Tea and a chat?"})
    assert r.status_code == 200
    with app.app_context():
        dispatch_pass(first.send_at)
    assert [m.body for m in sender.delivered_to("phone-a")] == ["Tea and a chat?"]


def test_a_safety_hold_stops_every_reminder_at_once(  # type: ignore[no-untyped-def]
    api: Api, app: Flask, couple, sender: MemorySender
) -> None:
    _, _, a, b, aid = couple
    assert [r for r in rows(app, a, b) if r.status == "pending"]
    check_in(api, a, aid, answers={**SF_CALM, "pain": 9})  # a flag: the program is held
    # In the hold's own transaction, before any replan job: nothing pending, either partner.
    assert not [r for r in rows(app, a, b) if r.kind == "reminder" and r.status == "pending"]
    latest = max(r.send_at for r in rows(app, a, b))
    with app.app_context():
        for hour in range(0, 25):
            dispatch_pass(datetime.now(UTC) + timedelta(hours=hour))
        dispatch_pass(latest)
    assert sender.delivered_to("phone-a") == [] and sender.delivered_to("phone-b") == []


def test_pause_and_hold_leave_the_same_rows(  # type: ignore[no-untyped-def]
    api: Api, app: Flask, couple
) -> None:
    t, _, a, b, aid = couple
    api.call("POST", f"/api/v1/assignments/{aid}/pause", t, json={"reason": "Travel."})
    paused = {(r.key, r.status, r.error) for r in rows(app, a, b)}
    assert paused and all(status == "cancelled" for _, status, _ in paused)
    assert all(error == "no longer due" for _, _, error in paused)


def test_my_reminders_read_my_own_writes(  # type: ignore[no-untyped-def]
    api: Api, app: Flask, couple
) -> None:
    _, _, a, b, _ = couple
    r = api.call("PUT", "/api/v1/me/reminder-settings", a, json={"times": ["08:00", "20:00"]})
    assert r.status_code == 200
    r = api.call("PUT", "/api/v1/me/reminder-settings", b, json={"paused": True})
    assert r.status_code == 200
    assert requests(app) == {a.id, b.id}
    listed = api.call("GET", "/api/v1/me/reminders", a).get_json()
    times = {x["local_time"] for x in listed if x["status"] == "pending"}
    assert "08:00" in times  # the new time is planned for the caller at once
    assert requests(app) == {b.id}  # only the caller's own request was applied
    listed = api.call("GET", "/api/v1/me/reminders", b).get_json()
    assert listed and all(x["status"] == "cancelled" for x in listed)
    assert requests(app) == set()


def test_the_worker_runs_the_replan_job(  # type: ignore[no-untyped-def]
    api: Api, app: Flask, couple
) -> None:
    from server import worker

    assert worker.EVERY["replan"] <= 5  # "within seconds"
    _, _, a, _, aid = couple
    check_in(api, a, aid)
    stop = threading.Event()
    thread = threading.Thread(
        target=worker.run, args=(app,), kwargs={"every": {"replan": 0.2}, "stop_event": stop}
    )
    thread.start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=15)
        while requests(app) and datetime.now(UTC) < deadline:
            threading.Event().wait(0.1)
    finally:
        stop.set()
        thread.join(timeout=15)
    assert requests(app) == set()
    assert all(r.status == "cancelled" for r in rows(app, a))


def test_a_failed_replan_keeps_the_request(  # type: ignore[no-untyped-def]
    api: Api, app: Flask, couple
) -> None:
    _, _, a, _, aid = couple
    check_in(api, a, aid)
    with app.app_context():
        from server.models import User

        # The partner's time zone is corrupted behind the API's back: planning fails.
        db.session.execute(
            User.__table__.update().where(User.id == a.id).values(timezone="Nowhere/Atlantis")
        )
        db.session.commit()
        with pytest.raises(Exception):  # noqa: B017, PT011
            replan_pass()
        db.session.rollback()
        db.session.remove()
    assert requests(app) == {a.id}  # rolled back with the failed transaction: not lost
