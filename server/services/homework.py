"""A partner's homework this week, from the program engine and their own check-ins."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select

from exercises.model import DECLINED_KEY
from exercises.program import CheckinRecord, homework, local_date, week_of, week_window_utc
from server.db import utcnow
from server.extensions import db
from server.models import ACTIVE, COMPLETED, PAUSED, CheckIn, User
from server.services.assignments import (
    current_assignment,
    frozen_exercises,
    frozen_program,
    is_running,
    stage_limits,
)
from server.services.measures import due_measures

PAUSED_MESSAGE = "Paused by your therapist."

# The partner's own check-ins of their week (built once: the homework is a hot read).
_WEEK_CHECKINS = select(CheckIn.exercise, CheckIn.occurred_at, CheckIn.answers).where(
    CheckIn.author_id == bindparam("author"),
    CheckIn.assignment_id == bindparam("assignment"),
    CheckIn.occurred_at >= bindparam("start", type_=CheckIn.occurred_at.type),
    CheckIn.occurred_at < bindparam("end", type_=CheckIn.occurred_at.type),
)


def homework_for(*, partner: User) -> dict[str, Any]:
    """The caller's homework: only their own check-ins count (privacy rule 3), and the
    questionnaires due for the caller (`measures_due`, their own only)."""
    now = utcnow()
    return {**_exercises_for(partner, now), "measures_due": due_measures(partner=partner, now=now)}


def _exercises_for(partner: User, now: datetime) -> dict[str, Any]:
    tz = ZoneInfo(partner.timezone)
    week = week_of(now, tz)
    empty = {
        "assignment_id": None,
        "status": None,
        "program": None,
        "stage": None,
        "week": {"start": week.start, "end": week.end},
        "today": local_date(now, tz),
        "items": [],
        "message": None,
    }
    assignment = current_assignment(couple_id=partner.couple_id) if partner.couple_id else None
    if assignment is None:
        return empty
    program = frozen_program(assignment)
    base = {
        **empty,
        "assignment_id": assignment.id,
        "program": {"slug": program.slug, "title": program.title, "version": program.version},
    }
    if assignment.status == COMPLETED:
        return {**base, "status": COMPLETED, "message": "You have completed this program."}
    if base["today"] < assignment.start_date:
        return {
            **base,
            "status": "scheduled",
            "message": f"Your program starts on {assignment.start_date.isoformat()}.",
        }
    stage = program.stage(assignment.stage_index)
    # A safety hold holds the whole program, exactly as a pause does (privacy rule 4):
    # nothing below may depend on which of the two it is.
    held = not is_running(assignment)
    start, end = week_window_utc(week, tz)
    rows = db.session.execute(
        _WEEK_CHECKINS,
        {"author": partner.id, "assignment": assignment.id, "start": start, "end": end},
    )
    # The partner's own check-ins: a session they recorded as declined is not "done".
    records = [
        CheckinRecord(
            exercise=r.exercise,
            occurred_at=r.occurred_at,
            declined=r.answers.get(DECLINED_KEY) is True,
        )
        for r in rows
    ]
    result = homework(
        program,
        assignment.stage_index,
        checkins=records,
        tz=tz,
        now=now,
        overrides=assignment.overrides,
    )
    items = []
    for item in result.items:
        exercise = frozen_exercises(assignment)[item.exercise]
        items.append(
            {
                "exercise": item.exercise,
                "version": exercise["version"],
                "title": exercise["title"],
                "kind": exercise["kind"],
                "joint": exercise["joint"],
                "duration_minutes": exercise["duration_minutes"],
                "per_week": item.per_week,
                "done_this_week": item.done_this_week,
                "declined_this_week": item.declined_this_week,
                "remaining": item.remaining,
                "due_today": item.due_today and not held,
                "due_today_count": 0 if held else item.due_today_count,
                "paused": held,
            }
        )
    limits = stage_limits(stage.to_dict(), frozen_exercises(assignment))
    return {
        **base,
        "status": PAUSED if held else ACTIVE,
        "stage": {
            "index": stage.index,
            "title": stage.title,
            "guidance": stage.guidance,
            # The catalog keeps these on each exercise: the stage's are their union.
            "includes": limits[0],
            "off_limits": limits[1],
        },
        "week": {"start": result.week.start, "end": result.week.end},
        "today": result.today,
        "items": items,
        "message": PAUSED_MESSAGE if held else None,
    }
