"""The steady planning pass (issue 13) plans only partners with work to do; it must
leave the outbox exactly as planning everyone would. Checked pass by pass over three
days of 15-minute passes, across the United States' spring-forward change, for partners in zones with odd offsets
and gaps, with their own times, days and quiet hours, paused settings, a paused
program, a program starting later, and the week's target met: after every steady
pass, planning every partner at the same instant (in a savepoint, rolled back) adds,
cancels and moves nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import func, select

from server.extensions import db
from server.models import CLIENT, Reminder, ReminderPlan, User
from server.services.reminders import plan_all, replan_users
from server.services.replans import replan_pass
from tests.factories import Api, assign, check_in, one_session_a_week

ZONES = (
    ("America/New_York", "Europe/London"),
    ("Australia/Lord_Howe", "Pacific/Apia"),
    ("Asia/Kathmandu", "America/St_Johns"),
    ("Pacific/Chatham", "Asia/Tehran"),
)
SPRING = datetime(2027, 3, 13, 12, 0, tzinfo=UTC)
SETTINGS = (
    {"times": ["08:00", "12:30", "21:30"], "days": ["mon", "wed", "sat"]},
    {"times": ["02:30"], "quiet_hours": None},
    {"times": ["06:00", "22:30"], "quiet_hours": {"start": "23:00", "end": "05:30"}},
    {"paused": True},
    {"times": ["19:00"], "days": ["sun"]},
)


def outbox(app: Flask) -> set[tuple[str, str, str, datetime]]:
    return {
        (r.user_id, r.key, r.status, r.send_at)
        for r in db.session.scalars(select(Reminder).where(Reminder.kind == "reminder"))
    }


def test_the_steady_pass_leaves_what_planning_everyone_would(api: Api, app: Flask) -> None:
    t = api.therapist()
    partners = []
    for n, zones in enumerate(ZONES):
        c, a, b = api.couple_with_partners(t, timezones=zones)
        # One program starts the day after tomorrow.
        start = None if n != 3 else (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
        aid = assign(api, t, c["id"], **({"start_date": start} if start else {}))["id"]
        partners += [(a, aid), (b, aid)]
        if n == 2:
            api.call("POST", f"/api/v1/assignments/{aid}/pause", t, json={"reason": "Away."})
    for i, (who, _) in enumerate(partners):
        body = SETTINGS[i % len(SETTINGS)]
        r = api.call("PUT", "/api/v1/me/reminder-settings", who, json=body)
        assert r.status_code == 200, r.get_json()
    # One partner meets a small target at once: reminders stop for the week.
    who, aid = partners[0]
    one_session_a_week(api, t, aid)
    check_in(api, who, aid)

    real_now = datetime.now(UTC).replace(second=0, microsecond=0)
    with app.app_context():
        replan_pass(now=real_now)
        ids = list(db.session.scalars(select(User.id).where(User.role == CLIENT)))
        planned_counts = []
        # A day from now (the target met, a program not started yet), then three days
        # across the United States' spring-forward change of 2027-03-14.
        for first, steps in ((real_now, 4 * 24), (SPRING, 3 * 4 * 24)):
            for step in range(steps):
                moment = first + timedelta(minutes=15 * step)
                plan_all(now=moment)
                planned_counts.append(
                    db.session.scalar(
                        select(func.count())
                        .select_from(ReminderPlan)
                        .where(ReminderPlan.planned_at == moment)
                    )
                )
                steady = outbox(app)
                savepoint = db.session.begin_nested()
                assert replan_users(ids, now=moment) == 0, moment
                db.session.flush()
                assert outbox(app) == steady, moment
                savepoint.rollback()
        assert any(status == "pending" for _, _, status, _ in outbox(app))
    # The steady passes did skip: most planned nobody, none planned everyone but the first.
    assert planned_counts[0] == len(ids)
    assert sum(1 for n in planned_counts if n == 0) > len(planned_counts) / 2
