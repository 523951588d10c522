"""Reminder settings, devices, planning into the outbox and dispatching from it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import select

from notifications.delivery import SendResult
from notifications.senders import MemorySender
from notifications.texts import is_discreet
from server.extensions import db
from server.models import Reminder
from server.worker import dispatch_pass, inactivity_pass, plan_pass, replan_pass
from tests.factories import (
    SF_CALM,
    Actor,
    Api,
    assign,
    check_in,
    one_session_a_week,
    session_id_of,
)


@pytest.fixture
def sender(app: Flask) -> Iterator[MemorySender]:
    memory = MemorySender()
    app.extensions["tandem.sender"] = memory
    yield memory
    app.extensions.pop("tandem.sender", None)


def at(local: str, zone: str) -> datetime:
    return datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def next_local(clock: str, zone: str, after: datetime) -> datetime:
    """The next wall-clock `clock` (HH:MM) in `zone` after `after`."""
    day = after.astimezone(ZoneInfo(zone)).date()
    while True:
        moment = at(f"{day.isoformat()}T{clock}", zone)
        if moment > after:
            return moment
        day += timedelta(days=1)


def plan(app: Flask, now: datetime) -> int:
    with app.app_context():
        return int(plan_pass(now)["planned"])


def dispatch(app: Flask, now: datetime):  # type: ignore[no-untyped-def]
    with app.app_context():
        return dispatch_pass(now)


def replanned(app: Flask) -> None:
    """The worker's replan job ran (it does within seconds of any change)."""
    with app.app_context():
        replan_pass()


def rows(app: Flask, user: Actor) -> list[Reminder]:
    """The user's outbox rows once the worker has picked up pending re-plans."""
    replanned(app)
    with app.app_context():
        found = list(
            db.session.scalars(
                select(Reminder).where(Reminder.user_id == user.id).order_by(Reminder.send_at)
            )
        )
        db.session.expunge_all()
        return found


def device(api: Api, who: Actor, token: str = "token-a") -> dict:  # type: ignore[type-arg]
    r = api.call("POST", "/api/v1/me/devices", who, json={"token": token, "platform": "android"})
    assert r.status_code in (200, 201), r.get_json()
    return r.get_json()  # type: ignore[no-any-return]


@pytest.fixture
def couple(api: Api, app: Flask):  # type: ignore[no-untyped-def]
    t = api.therapist()
    c, a, b = api.couple_with_partners(t, timezones=("Europe/Berlin", "America/New_York"))
    aid = assign(api, t, c["id"], start_date="2026-11-01")["id"]
    replanned(app)
    return t, c, a, b, aid


# --- settings ----------------------------------------------------------------------


def test_settings_have_sensible_defaults(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    _, _, a, _, _ = couple
    settings = api.call("GET", "/api/v1/me/reminder-settings", a).get_json()
    assert settings == {
        "timezone": "Europe/Berlin",
        "times": ["20:00"],
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "quiet_hours": {"start": "23:00", "end": "07:00"},
        "paused": False,
        "discreet": True,
        "text": None,
    }


def test_settings_round_trip_and_move_the_time_zone(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    _, _, a, _, _ = couple
    wanted = {
        "timezone": "Asia/Tokyo",
        "times": ["07:30", "21:15"],
        "days": ["mon", "thu"],
        "quiet_hours": {"start": "22:00", "end": "06:30"},
        "paused": False,
        "discreet": True,
        "text": "Small steps",
    }
    r = api.call("PUT", "/api/v1/me/reminder-settings", a, json=wanted)
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == wanted
    assert api.call("GET", "/api/v1/me/reminder-settings", a).get_json() == wanted
    assert api.call("GET", "/api/v1/me", a).get_json()["timezone"] == "Asia/Tokyo"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"times": ["25:00"]}, "times"),
        ({"times": "20:00"}, "times"),
        ({"days": ["someday"]}, "days"),
        ({"quiet_hours": {"start": "22:00"}}, "quiet_hours"),
        ({"text": "Time for our sex homework"}, "text"),
        ({"paused": "no"}, "paused"),
        ({"volume": 11}, "volume"),
    ],
)
def test_bad_settings_are_422_and_change_nothing(api: Api, couple, body, field) -> None:  # type: ignore[no-untyped-def]
    _, _, a, _, _ = couple
    before = api.call("GET", "/api/v1/me/reminder-settings", a).get_json()
    r = api.call("PUT", "/api/v1/me/reminder-settings", a, json=body)
    assert r.status_code == 422, r.get_json()
    assert field in r.get_json()["errors"], r.get_json()
    assert api.call("GET", "/api/v1/me/reminder-settings", a).get_json() == before


# --- devices -----------------------------------------------------------------------


def test_devices_register_once_and_delete(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    t, _, a, b, _ = couple
    r = api.call("POST", "/api/v1/me/devices", a, json={"token": "tok-1", "platform": "ios"})
    assert r.status_code == 201
    again = api.call("POST", "/api/v1/me/devices", a, json={"token": "tok-1", "platform": "ios"})
    assert again.status_code == 200 and again.get_json()["id"] == r.get_json()["id"]
    assert "token" not in r.get_json()
    assert api.call("DELETE", f"/api/v1/me/devices/{r.get_json()['id']}", b).status_code == 404
    assert api.call("DELETE", f"/api/v1/me/devices/{r.get_json()['id']}", a).status_code == 204
    assert api.call("DELETE", f"/api/v1/me/devices/{r.get_json()['id']}", a).status_code == 404
    bad = api.call("POST", "/api/v1/me/devices", a, json={"token": "x", "platform": "nokia"})
    assert bad.status_code == 422
    assert (
        api.call(
            "POST", "/api/v1/me/devices", t, json={"token": "therapist-phone", "platform": "ios"}
        ).status_code
        == 201
    )


# --- planning and sending ------------------------------------------------------------


def test_reminders_come_at_the_chosen_local_time_once(  # type: ignore[no-untyped-def]
    api: Api, app: Flask, couple, sender: MemorySender
) -> None:
    _, _, a, b, _ = couple
    device(api, a, "phone-a")
    device(api, b, "phone-b")
    now = datetime.now(UTC)
    plan(app, now)
    assert plan(app, now) == 0  # planning twice plans nothing twice
    due_a = next_local("20:00", "Europe/Berlin", now)
    due_b = next_local("20:00", "America/New_York", now)
    assert [r.send_at for r in rows(app, a)] == [due_a]
    assert [r.send_at for r in rows(app, b)] == [due_b]
    for moment in sorted({due_a, due_b}):
        dispatch(app, moment - timedelta(minutes=1))
        assert all(
            r.status == "pending" for r in rows(app, a) + rows(app, b) if r.send_at >= moment
        )
        dispatch(app, moment)
    dispatch(app, max(due_a, due_b) + timedelta(minutes=5))
    assert [r.status for r in rows(app, a) + rows(app, b)] == ["sent", "sent"]
    assert sorted(m.token for m in sender.delivered) == ["phone-a", "phone-b"]
    message = sender.delivered_to("phone-a")[0]
    assert is_discreet(message.title) and is_discreet(message.body)
    assert message.data["screen"] == "homework"
    day = due_a.astimezone(ZoneInfo("Europe/Berlin")).date().isoformat()
    listed = api.call("GET", f"/api/v1/me/reminders?from={day}&to={day}", a).get_json()
    assert [(r["status"], r["local_time"]) for r in listed] == [("sent", "20:00")]


def test_meeting_the_weekly_target_cancels_pending_reminders(  # type: ignore[no-untyped-def]
    api: Api, app: Flask, couple
) -> None:
    t, _, a, _, aid = couple
    # Only one exercise, once a week: one check-in meets the target.
    one_session_a_week(api, t, aid)
    now = datetime.now(UTC)
    plan(app, now)
    assert any(r.status == "pending" for r in rows(app, a))
    check_in(api, a, aid)
    assert all(r.status in ("cancelled", "sent") for r in rows(app, a))
    cancelled = [r for r in rows(app, a) if r.status == "cancelled"]
    assert cancelled and cancelled[0].error == "no longer due"


def test_nothing_is_planned_while_paused(api: Api, app: Flask, couple) -> None:  # type: ignore[no-untyped-def]
    t, _, a, _, aid = couple
    now = datetime.now(UTC)
    plan(app, now)
    api.call("POST", f"/api/v1/assignments/{aid}/pause", t)
    assert not [r for r in rows(app, a) if r.status == "pending"]
    assert plan(app, now) == 0
    api.call("POST", f"/api/v1/assignments/{aid}/resume", t)
    assert [r for r in rows(app, a) if r.status == "pending"]


def test_paused_settings_stop_reminders(api: Api, app: Flask, couple) -> None:  # type: ignore[no-untyped-def]
    _, _, a, _, _ = couple
    api.call("PUT", "/api/v1/me/reminder-settings", a, json={"paused": True})
    assert plan(app, datetime.now(UTC)) in (0, 1)  # only the other partner
    assert not [r for r in rows(app, a) if r.status == "pending"]


def test_a_reminder_hours_late_is_dropped_not_sent(  # type: ignore[no-untyped-def]
    api: Api, app: Flask, couple, sender: MemorySender
) -> None:
    _, _, a, _, _ = couple
    device(api, a)
    due = next_local("20:00", "Europe/Berlin", datetime.now(UTC))
    report = dispatch(app, due + timedelta(hours=3))
    assert report.dropped >= 1
    assert sender.delivered == []
    assert [r.error for r in rows(app, a)] == ["late"]


def test_signed_out_everywhere_gets_no_push(  # type: ignore[no-untyped-def]
    api: Api, app: Flask, couple, sender: MemorySender
) -> None:
    _, _, a, _, _ = couple
    device(api, a)
    api.call("POST", "/api/v1/auth/logout", a)
    dispatch(app, next_local("20:00", "Europe/Berlin", datetime.now(UTC)))
    assert sender.delivered == []
    assert [r.error for r in rows(app, a)] == ["no device"]


def test_a_device_whose_login_expired_gets_no_push(  # type: ignore[no-untyped-def]
    api: Api, app: Flask, couple, sender: MemorySender
) -> None:
    """A login unused for 30 days ends by itself: its partner is signed out there, so
    the phone it registered is no longer pushed to (a tablet of a login still open is)."""
    from server.models import LoginSession

    _, _, a, _, _ = couple
    device(api, a, "a-phone")
    tablet = api.login(a.user["email"], user=a.user)
    device(api, tablet, "a-tablet")
    due = next_local("20:00", "Europe/Berlin", datetime.now(UTC))
    with app.app_context():
        login = db.session.get(LoginSession, session_id_of(app, a))
        assert login is not None
        login.expires_at = due - timedelta(minutes=1)
        db.session.commit()
    assert dispatch(app, due).sent == 1
    assert [m.token for m in sender.delivered] == ["a-tablet"]


def test_an_unregistered_token_is_removed(  # type: ignore[no-untyped-def]
    api: Api, app: Flask, couple, sender: MemorySender
) -> None:
    _, _, a, _, _ = couple
    device(api, a, "old-phone")
    device(api, a, "new-phone")
    sender.script("old-phone", SendResult(ok=False, error="UNREGISTERED", token_invalid=True))
    assert dispatch(app, next_local("20:00", "Europe/Berlin", datetime.now(UTC))).sent == 1
    assert [m.token for m in sender.delivered] == ["new-phone"]
    from server.models import Device

    with app.app_context():
        assert db.session.scalars(select(Device.token).where(Device.user_id == a.id)).all() == [
            "new-phone"
        ]


def test_a_transient_failure_is_retried_later(  # type: ignore[no-untyped-def]
    api: Api, app: Flask, couple, sender: MemorySender
) -> None:
    _, _, a, _, _ = couple
    device(api, a, "phone")
    sender.script("phone", SendResult(ok=False, error="UNAVAILABLE"))
    due = next_local("20:00", "Europe/Berlin", datetime.now(UTC))
    first = dispatch(app, due)
    assert first.retried == 1
    [row] = rows(app, a)
    assert row.status == "pending" and row.attempts == 1 and row.error == "UNAVAILABLE"
    assert row.next_attempt_at > due
    second = dispatch(app, row.next_attempt_at + timedelta(seconds=1))
    assert second.sent == 1
    [row] = rows(app, a)
    assert row.status == "sent" and row.attempts == 2


def test_a_safety_alert_pushes_discreetly_to_the_therapist(  # type: ignore[no-untyped-def]
    api: Api, app: Flask, couple, sender: MemorySender
) -> None:
    t, _, a, b, aid = couple
    device(api, t, "therapist-phone")
    device(api, b, "partner-phone")
    check_in(api, a, aid, answers={**SF_CALM, "pain": 9})
    dispatch(app, datetime.now(UTC))
    delivered = [m for m in sender.delivered if m.token == "therapist-phone"]
    assert len(delivered) == 1
    assert is_discreet(delivered[0].title) and is_discreet(delivered[0].body)
    assert "pain" not in (delivered[0].title + delivered[0].body).lower()
    assert delivered[0].data["screen"] == "alerts"
    assert not sender.delivered_to("partner-phone")


def test_own_wording_is_used(api: Api, app: Flask, couple, sender: MemorySender) -> None:  # type: ignore[no-untyped-def]
    _, _, a, _, _ = couple
    device(api, a)
    api.call("PUT", "/api/v1/me/reminder-settings", a, json={"text": "Tea and a chat?"})
    dispatch(app, next_local("20:00", "Europe/Berlin", datetime.now(UTC)))
    assert sender.delivered[0].body == "Tea and a chat?"


def test_inactivity_nudges_the_partner_then_alerts_the_therapist(  # type: ignore[no-untyped-def]
    api: Api, app: Flask, couple
) -> None:
    t, _, a, _, aid = couple
    now = datetime.now(UTC)
    check_in(api, a, aid, occurred_at=(now - timedelta(days=5)).isoformat().replace("+00:00", "Z"))
    with app.app_context():
        from server.models import Assignment

        db.session.execute(
            Assignment.__table__.update().values(created_at=now - timedelta(days=21))
        )
        db.session.commit()
        first = inactivity_pass(now)
        again = inactivity_pass(now)
    assert first["nudges"] >= 1 and again["nudges"] == 0
    alerts = api.call("GET", "/api/v1/alerts", t).get_json()
    inactive = [x for x in alerts if x["kind"] == "inactivity"]
    # partner b never logged anything for 21 days: an alert; a logged 5 days ago: none yet
    assert {x["partner_id"] for x in inactive} == {couple[3].id}
    with app.app_context():
        assert inactivity_pass(now + timedelta(days=3))["alerts"] == 1  # now a too
    nudges = [r for r in rows(app, a) if r.kind == "nudge"]
    assert len(nudges) == 1
    assert is_discreet(nudges[0].payload["title"] + " " + nudges[0].payload["body"])


DST_ZONES = [
    "America/New_York",
    "Europe/Berlin",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Pacific/Apia",
]


@pytest.mark.parametrize(
    ("zone", "days"),
    [
        ("America/New_York", ("2026-03-06", 5)),
        ("America/New_York", ("2026-10-30", 5)),
        ("Europe/Berlin", ("2026-03-27", 5)),
        ("Europe/Berlin", ("2026-10-23", 5)),
        ("Australia/Sydney", ("2026-04-02", 5)),
        ("Australia/Sydney", ("2026-10-02", 5)),
        ("Australia/Lord_Howe", ("2026-04-03", 4)),
        ("Australia/Lord_Howe", ("2026-10-02", 4)),
        ("Pacific/Apia", ("2026-03-27", 5)),
    ],
)
def test_across_dst_each_reminder_comes_once_at_the_local_time(  # type: ignore[no-untyped-def]
    api: Api, app: Flask, zone: str, days, sender: MemorySender
) -> None:
    """Hourly planning and minute-by-minute dispatch over days around a change."""
    t = api.therapist()
    couple, a, _ = api.couple_with_partners(t, timezones=(zone, zone))
    first, count = days
    assign(api, t, couple["id"], start_date=first)
    api.call(
        "PUT",
        "/api/v1/me/reminder-settings",
        a,
        json={"times": ["02:30", "20:00"], "quiet_hours": None},
    )
    device(api, a, f"phone-{zone}")
    start = at(f"{first}T00:00", zone)
    with app.app_context():
        from server.models import Assignment

        db.session.execute(
            Assignment.__table__.update().values(created_at=start - timedelta(days=1))
        )
        db.session.commit()
    moment = start
    while moment < start + timedelta(days=count):
        plan(app, moment)
        dispatch(app, moment)
        moment += timedelta(minutes=30)
    got = [m for m in sender.delivered if m.token == f"phone-{zone}"]
    sent = [r for r in rows(app, a) if r.status == "sent"]
    assert len(got) == len(sent)
    local = [r.send_at.astimezone(ZoneInfo(zone)) for r in sent]
    by_day: dict[str, list[str]] = {}
    for moment_local in local:
        by_day.setdefault(moment_local.date().isoformat(), []).append(
            moment_local.strftime("%H:%M")
        )
    keys = [r.key.split(":", 1)[1] for r in sent]
    assert len(keys) == len(set(keys))  # never twice
    for day, times in by_day.items():
        assert "20:00" in times, (day, times)
        assert len(times) <= 2
        night = [x for x in times if x != "20:00"]
        # 02:30, or the first valid minute after a gap
        assert all("02:30" <= x <= "03:30" for x in night), (day, times)


def test_moving_time_zone_moves_pending_reminders(api: Api, app: Flask, couple) -> None:  # type: ignore[no-untyped-def]
    _, _, a, _, _ = couple
    now = datetime.now(UTC)
    plan(app, now)
    api.call("PUT", "/api/v1/me/reminder-settings", a, json={"timezone": "Asia/Tokyo"})
    pending = [r for r in rows(app, a) if r.status == "pending"]
    assert pending
    for row in pending:
        assert row.send_at.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%H:%M") == "20:00"
