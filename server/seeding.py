"""`tandem seed`: the shipped content and, on request, demo accounts. Idempotent."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from server.db import utcnow
from server.extensions import db
from server.models import Couple, User

log = logging.getLogger(__name__)

DEMO_THERAPIST = ("therapist@demo.tandem.test", "demo-therapist-1", "Dr. Robin Demo")
DEMO_PARTNERS = (
    ("alex@demo.tandem.test", "demo-partner-1", "Alex", "Europe/London"),
    ("sam@demo.tandem.test", "demo-partner-2", "Sam", "Europe/London"),
)
DEMO_COUPLE_LABEL = "Alex & Sam (demo)"
DEMO_PROGRAM = "sensate-focus-course"
DEMO_WEEKS = 4
# Demo check-in ids are derived from this namespace, so they are stable per seed.
_DEMO_NAMESPACE = uuid.UUID("5d1c7a52-6a0e-4d38-9a55-7f3f0c1a2b10")


def seed_all(*, demo: bool = False) -> Iterator[str]:
    """Seed everything there is to seed; yields lines to show the operator."""
    from server.services.catalog import loaded_catalog, seed_catalog

    yield from seed_catalog(loaded_catalog())
    if demo:
        yield from seed_demo()


def seed_demo() -> Iterator[str]:
    """A demo therapist with one couple whose partners have both joined."""
    from server.services.accounts import create_therapist
    from server.services.couples import accept_invite, create_couple, invite_code

    therapist = db.session.scalars(
        select(User).where(User.email == DEMO_THERAPIST[0])
    ).one_or_none()
    if therapist is None:
        email, password, name = DEMO_THERAPIST
        therapist = create_therapist(email=email, password=password, name=name)
        couple = create_couple(therapist=therapist, label=DEMO_COUPLE_LABEL)
        for invite, (p_email, p_password, p_name, tz) in zip(
            couple.invites, DEMO_PARTNERS, strict=True
        ):
            accept_invite(
                code=invite_code(invite) or "",
                email=p_email,
                password=p_password,
                name=p_name,
                timezone=tz,
            )
        db.session.commit()
        log.info("created demo accounts")
    couple = db.session.scalars(
        select(Couple).where(Couple.therapist_id == therapist.id, Couple.label == DEMO_COUPLE_LABEL)
    ).one_or_none()
    if couple is not None and len(couple.partners) == 2:
        from server.services.assignments import current_assignment

        if current_assignment(couple_id=couple.id) is None:
            from server.services.devices import register_device

            # A demo phone for everyone, so `tandem worker` with the log notifier shows
            # the pushes each would get.
            for user in (therapist, *couple.partners):
                register_device(
                    user=user,
                    session_id=None,
                    token=f"demo-device-{user.name.split()[-1]}",
                    platform="android",
                )
            _seed_demo_weeks(therapist=therapist, couple=couple)
            db.session.commit()
            log.info("created demo assignment and check-ins")
    yield "Demo logins (for trying Tandem only; do not use on a real server):"
    yield f"  therapist  {DEMO_THERAPIST[0]}  password {DEMO_THERAPIST[1]}"
    for p_email, p_password, p_name, _ in DEMO_PARTNERS:
        yield f"  partner    {p_email}  password {p_password}  ({p_name})"


# --- a few weeks of demo homework ----------------------------------------------------

# Per partner: on which days (counted from the start date) each exercise was done.
_DEMO_PLAN: dict[str, dict[str, tuple[int, ...]]] = {
    "Alex": {
        "sf-1-nongenital-touch": (1, 4, 6, 8, 11, 13, 15, 18, 20, 22, 24),
        "daily-appreciations": (0, 2, 3, 7, 9, 10, 14, 16, 17, 21, 23),
        "journal-touch-reflection": (4, 11, 18, 24),
    },
    "Sam": {
        "sf-1-nongenital-touch": (1, 4, 8, 13, 15, 20, 22, 25),
        "daily-appreciations": (2, 5, 9, 12, 16, 19, 23),
        "journal-touch-reflection": (5, 19),
    },
}
# (partner, exercise, day) of the check-ins with something special about them.
_DEMO_PRIVATE = ("Alex", "journal-touch-reflection", 18)
_DEMO_FLAGGED = ("Sam", "sf-1-nongenital-touch", 25)


def _demo_answers(name: str, exercise: str, day: int, progress: float) -> dict[str, Any]:
    """Plausible answers that improve over the weeks (`progress` runs from 0 to 1)."""
    start, end = (6.5, 2.0) if name == "Alex" else (5.5, 3.0)
    anxiety = round(start + (end - start) * progress + (0.8 if day % 3 == 0 else -0.3))
    if exercise == "sf-1-nongenital-touch":
        pain = 5 if (name, exercise, day) == _DEMO_FLAGGED else day % 2
        return {
            "duration_minutes": 20 + (day * 7) % 25,
            "initiated_by": ("Me", "My partner", "Both of us")[day % 3],
            "sensations": ["Temperature (warm, cool)", "Pressure (firm, light)"][: 1 + day % 2],
            "distractions": (
                ["Expectations about what should happen"] if progress < 0.5 else ["None came up"]
            ),
            "refocused": progress > 0.3,
            "anxiety": max(0, min(10, anxiety)),
            "pain": pain,
            "distress": max(0, min(10, anxiety - 2)),
            "within_limits": True,
            "pressured": False,
            "stopped": False,
            "unsafe": False,
            "ready_to_move_on": progress > (0.7 if name == "Alex" else 0.95),
        }
    if exercise == "daily-appreciations":
        return {
            "felt_appreciated": min(10, 5 + round(4 * progress) + day % 2),
            "easy_to_give": min(10, 4 + round(5 * progress)),
            "unsafe": False,
        }
    return {
        "sensation_detail": "The warmth of a hand resting on my shoulder.",
        "where_attention_went": "To whether I was doing it right.",
        "what_brought_me_back": "Breathing out slowly and feeling the pressure again.",
        "distress": max(0, min(10, anxiety - 3)),
    }


def _seed_demo_weeks(*, therapist: User, couple: Couple) -> None:
    """Give the demo couple the sensate-focus course, started a few weeks ago, and the
    check-ins both partners would have recorded since: a private one and, lately, one
    that raised a pain alert. Everything goes through the services the app uses."""
    from server.services.assignments import assign_program
    from server.services.checkins import record_checkin

    now = utcnow()
    partners = {p.name: p for p in couple.partners}
    tz = ZoneInfo(partners["Alex"].timezone)
    today = now.astimezone(tz).date()
    start_date = today - timedelta(days=DEMO_WEEKS * 7 - 1)
    assignment = assign_program(
        therapist=therapist, couple_id=couple.id, program_slug=DEMO_PROGRAM, start_date=start_date
    )
    # As if assigned on the start date: the stage's criteria count sessions from when
    # the stage began, and the history should say when that was.
    began = datetime.combine(start_date, time(9, 0), tzinfo=tz).astimezone(now.tzinfo)
    assignment.created_at = assignment.stage_started_at = began
    for event in assignment.events:
        event.at = began
    last_day = (today - start_date).days
    sessions = sorted(
        (day, name, exercise)
        for name, plan in _DEMO_PLAN.items()
        for exercise, days in plan.items()
        for day in days
        if day < last_day
    )
    for day, name, exercise in sessions:
        partner = partners[name]
        local = datetime.combine(start_date + timedelta(days=day), time(20, 30), tzinfo=tz)
        body: dict[str, Any] = {
            "id": str(uuid.uuid5(_DEMO_NAMESPACE, f"{name}/{exercise}/{day}")),
            "assignment_id": assignment.id,
            "exercise": exercise,
            "occurred_at": local.astimezone(now.tzinfo),
            "answers": _demo_answers(name, exercise, day, day / max(last_day - 1, 1)),
            "visibility": "therapist",
        }
        if (name, exercise, day) == _DEMO_PRIVATE:
            body["visibility"] = "private"
            body["reflection"] = "Something I want to keep to myself for now."
        elif (name, exercise, day) == _DEMO_FLAGGED:
            body["reflection"] = "My lower back hurt when lying on my front; we stopped early."
        elif exercise == "sf-1-nongenital-touch" and day % 4 == 0:
            body["reflection"] = "Easier to stay with the sensations than last time."
        record_checkin(author=partner, body=body)
    _seed_demo_measures(therapist=therapist, couple=couple, began=began)


# Weekly totals, oldest first: slowly better, never an item-9 (risk) answer.
_DEMO_MEASURES: dict[str, dict[str, tuple[int, ...]]] = {
    "phq-9": {"Alex": (11, 9, 8, 6), "Sam": (8, 8, 6, 5)},
    "csi-4": {"Alex": (11, 12, 14, 15), "Sam": (13, 13, 15, 16)},
}


def _demo_measure_answers(slug: str, total: int) -> dict[str, int]:
    """Answers that add up to `total`, spread over the items (PHQ-9 item 9 stays 0)."""
    caps = {"phq-9": [3] * 8, "csi-4": [6, 5, 5, 5]}[slug]
    answers = [0] * len(caps)
    for step in range(total):
        i = step % len(caps)
        while answers[i] >= caps[i]:
            i = (i + 1) % len(caps)
        answers[i] += 1
    out = {f"q{n}": value for n, value in enumerate(answers, start=1)}
    if slug == "phq-9":
        out["q9"] = 0
    return out


def _seed_demo_measures(*, therapist: User, couple: Couple, began: datetime) -> None:
    """CSI-4 and PHQ-9 every week since the program began, answered by both partners a
    day or two after each became due, through the services the app uses."""
    from exercises.measures import occasion_at
    from server.services.measures import record_response, set_schedule

    set_schedule(
        therapist=therapist,
        couple_id=couple.id,
        schedule=[{"measure": slug, "every_weeks": 1} for slug in _DEMO_MEASURES],
        now=began,
    )
    now = utcnow()
    for partner in couple.partners:
        tz = ZoneInfo(partner.timezone)
        for slug, totals in _DEMO_MEASURES.items():
            for week, total in enumerate(totals.get(partner.name, ())):
                due = occasion_at(started_at=began, every_weeks=1, tz=tz, index=week)
                at = due + timedelta(days=1 + week % 2, hours=10)
                if at > now:
                    continue
                body = {
                    "id": str(uuid.uuid5(_DEMO_NAMESPACE, f"{partner.name}/{slug}/{week}")),
                    "measure": slug,
                    "answers": _demo_measure_answers(slug, total),
                }
                record_response(author=partner, body=body, now=at)
