"""What the therapist sees of a couple's progress, and the couples list's summaries."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from exercises.model import DECLINED_KEY
from exercises.program import CheckinRecord, local_date, suggest_advancement, targets, week_of
from server.db import utcnow
from server.extensions import db
from server.models import COMPLETED, Assignment, CheckIn, Couple, User
from server.services.assignments import (
    assignment_view,
    current_assignment,
    frozen_exercises,
    frozen_program,
)
from server.services.audit import record_event
from server.services.couples import get_couple_for_therapist


def _stage_at(assignment: Assignment, instant: datetime) -> int:
    """The stage the assignment was at, at `instant`, from its history."""
    stage = 1
    for event in assignment.events:
        if event.at > instant:
            break
        if event.to_stage is not None:
            stage = event.to_stage
    return stage


def _declined(checkin: CheckIn) -> bool:
    """A session one of the couple declined ("not tonight"), as the therapist may know it.

    Declined sessions count neither as done nor against the partner. Of a `private`
    check-in the therapist learns only that it happened (privacy rule 2), so a private
    one counts as a session logged, as it always has.
    """
    return checkin.visibility != "private" and checkin.answers.get(DECLINED_KEY) is True


def couple_progress(*, therapist: User, couple_id: str) -> dict[str, Any]:
    """Per partner and local week: sessions done vs target, means of scale answers
    (private check-ins count as done, never in the means), history and suggestion."""
    couple = get_couple_for_therapist(therapist=therapist, couple_id=couple_id)
    assignment = current_assignment(couple_id=couple.id)
    # Rating means are derived from check-in content: the read is audited (rule 6).
    record_event(
        actor_id=therapist.id,
        action="progress.read",
        object_type="couple",
        object_id=couple.id,
        couple_id=couple.id,
    )
    if assignment is None:
        return {
            "assignment_id": None,
            "partners": [
                {"id": p.id, "name": p.name, "timezone": p.timezone, "weeks": []}
                for p in couple.partners
            ],
            "history": [],
            "suggestion": None,
        }
    program = frozen_program(assignment)
    scale_keys = {
        slug: [q["key"] for q in data["form"] if q["type"] == "scale"]
        for slug, data in frozen_exercises(assignment).items()
    }
    checkins = db.session.scalars(
        select(CheckIn).where(CheckIn.assignment_id == assignment.id).order_by(CheckIn.occurred_at)
    ).all()
    by_author: dict[str, list[CheckIn]] = defaultdict(list)
    for checkin in checkins:
        by_author[checkin.author_id].append(checkin)
    now = utcnow()
    partners = []
    records: dict[str, list[CheckinRecord]] = {}
    names = [p.name for p in couple.partners]
    for partner in couple.partners:
        label = (
            partner.name if names.count(partner.name) == 1 else f"{partner.name} ({partner.id[:8]})"
        )
        tz = ZoneInfo(partner.timezone)
        own = by_author.get(partner.id, [])
        partners.append(
            {
                "id": partner.id,
                "name": partner.name,
                "timezone": partner.timezone,
                "weeks": _weeks(assignment, program, own, tz, now, scale_keys),
            }
        )
        records[label] = [
            CheckinRecord(
                exercise=c.exercise,
                occurred_at=c.occurred_at,
                answers=None if c.visibility == "private" else c.answers,
                flags=frozenset(c.flags),
                declined=_declined(c),
            )
            for c in own
        ]
    suggestion = None
    if assignment.status != COMPLETED:
        suggestion = suggest_advancement(
            program,
            assignment.stage_index,
            records,
            started_at=assignment.stage_started_at,
            now=now,
        ).to_dict()
    view = assignment_view(assignment, viewer=therapist, therapist_id=therapist.id)
    return {
        "assignment_id": assignment.id,
        "stage_index": assignment.stage_index,
        "status": view["status"],
        "partners": partners,
        "history": view["history"],
        "suggestion": suggestion,
    }


def _weeks(
    assignment: Assignment,
    program: Any,
    own: list[CheckIn],
    tz: ZoneInfo,
    now: datetime,
    scale_keys: dict[str, list[str]],
) -> list[dict[str, Any]]:
    first = week_of(
        datetime.combine(assignment.start_date, datetime.min.time(), tzinfo=tz), tz
    ).start
    last = week_of(now, tz).start
    by_week: dict[date, list[CheckIn]] = defaultdict(list)
    for checkin in own:
        by_week[week_of(checkin.occurred_at, tz).start].append(checkin)
    weeks = []
    start = first
    while start <= last:
        week_start_instant = datetime.combine(start, datetime.min.time(), tzinfo=tz)
        stage_index = _stage_at(assignment, max(week_start_instant, assignment.created_at))
        wanted = targets(program.stage(stage_index), assignment.overrides)
        rows = by_week.get(start, [])
        done: dict[str, int] = defaultdict(int)
        declined: dict[str, int] = defaultdict(int)
        sums: dict[str, list[float]] = defaultdict(list)
        for checkin in rows:
            if _declined(checkin):  # not done, not missed, no ratings
                declined[checkin.exercise] += 1
                continue
            done[checkin.exercise] += 1
            if checkin.visibility == "private":
                continue
            for key in scale_keys.get(checkin.exercise, []):
                value = checkin.answers.get(key)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    sums[key].append(float(value))
        slugs = list(wanted) + [s for s in {**done, **declined} if s not in wanted]
        weeks.append(
            {
                "start": start,
                "stage_index": stage_index,
                "items": [
                    {
                        "exercise": slug,
                        "done": done.get(slug, 0),
                        "target": wanted.get(slug, 0),
                        "declined": declined.get(slug, 0),
                    }
                    for slug in slugs
                ],
                "means": {key: round(sum(v) / len(v), 2) for key, v in sorted(sums.items())},
            }
        )
        start += timedelta(days=7)
    return weeks


def couple_summaries(couples: list[Couple]) -> dict[str, dict[str, Any]]:
    """Current stage, adherence this week and open alerts for a page of couples, with a
    fixed number of queries whatever the page size."""
    from server.services.alerts import open_alert_counts

    ids = [c.id for c in couples]
    summaries: dict[str, dict[str, Any]] = {
        cid: {
            "current_stage": None,
            "status": None,
            "on_hold": False,
            "adherence_this_week": None,
            "partners": [],
            "open_alerts": 0,
        }
        for cid in ids
    }
    if not ids:
        return summaries
    assignments = {
        a.couple_id: a
        for a in db.session.scalars(
            select(Assignment).where(Assignment.couple_id.in_(ids), Assignment.status != COMPLETED)
        )
    }
    now = utcnow()
    since = now - timedelta(days=8)
    recent: dict[str, list[CheckIn]] = defaultdict(list)
    if assignments:
        for checkin in db.session.scalars(
            select(CheckIn).where(
                CheckIn.assignment_id.in_([a.id for a in assignments.values()]),
                CheckIn.occurred_at >= since,
            )
        ):
            recent[checkin.author_id].append(checkin)
    for couple in couples:
        assignment = assignments.get(couple.id)
        summary = summaries[couple.id]
        if assignment is None:
            continue
        summary["current_stage"] = assignment.stage_index
        summary["status"] = assignment.status
        summary["on_hold"] = assignment.on_hold
        wanted = targets(
            frozen_program(assignment).stage(assignment.stage_index), assignment.overrides
        )
        done = 0
        expected = 0
        for partner in couple.partners:
            tz = ZoneInfo(partner.timezone)
            week = week_of(now, tz)
            counted: dict[str, int] = defaultdict(int)
            excused: dict[str, int] = defaultdict(int)
            for checkin in recent.get(partner.id, []):
                if week.contains(local_date(checkin.occurred_at, tz)):
                    (excused if _declined(checkin) else counted)[checkin.exercise] += 1
            # A declined session takes one off the target: saying no is not falling behind.
            own_target = sum(max(0, t - excused[slug]) for slug, t in wanted.items())
            own = sum(min(counted[slug], max(0, t - excused[slug])) for slug, t in wanted.items())
            done += own
            expected += own_target
            summary["partners"].append(
                {
                    "id": partner.id,
                    "name": partner.name,
                    "adherence_this_week": round(own / own_target, 2) if own_target else None,
                }
            )
        if expected and couple.partners:
            summary["adherence_this_week"] = round(done / expected, 2)
    for couple_id, count in open_alert_counts(ids).items():
        summaries[couple_id]["open_alerts"] = count
    return summaries
