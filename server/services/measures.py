"""Measurement-based care: the questionnaire catalog, schedules per couple, partners'
responses (idempotent, scored here, private to the author and the therapist), what is
due for whom, and the risk alert of PHQ-9 item 9.

Privacy: a response is seen by its author and the couple's therapist, never by the other
partner — not its score, not whether it was done, not a count. Nothing here is ever
joined into a partner's view of the other (homework, shared check-ins, export,
reminders are each the caller's own).

Safety: a risk answer (PHQ-9 item 9 above 0) raises an urgent `risk` alert and a
therapist push at once and shows the author crisis guidance. It does NOT put the
couple's program on a safety hold: the answer is about the person, not the joint
exercises, and a hold is seen by both partners (every exercise paused), so holding right
after one partner answers a questionnaire would tell the other that something was
answered. The therapist decides, with the alert in hand, whether to pause the program.
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import bindparam, func, select, update

from exercises.measures import (
    EVERY_WEEKS,
    Measure,
    answer_errors,
    due_since,
    is_overdue,
    load_measures,
    score_answers,
)
from server.db import add_unique, utcnow
from server.errors import Conflict, ValidationFailed
from server.extensions import db
from server.models import (
    CLIENT,
    Alert,
    Couple,
    MeasureResponse,
    MeasureSchedule,
    Reminder,
    User,
)
from server.services.audit import record_event
from server.services.couples import get_couple_for_therapist

log = logging.getLogger(__name__)

RISK = "risk"


def measures_catalog() -> dict[str, Measure]:
    """The validated questionnaires of the app's catalog (`<catalog>/measures/`)."""
    app = current_app
    cached = app.extensions.get("tandem.measures")
    if cached is None:
        cached = load_measures(app.config["TANDEM_SETTINGS"].catalog_path)
        app.extensions["tandem.measures"] = cached
    return cached  # type: ignore[no-any-return]


def measure_view(measure: Measure) -> dict[str, Any]:
    return measure.to_dict()


def _measure(slug: str) -> Measure | None:
    return measures_catalog().get(slug) if isinstance(slug, str) else None


# --- schedules ------------------------------------------------------------------------


def set_schedule(
    *, therapist: User, couple_id: str, schedule: list[dict[str, Any]], now: datetime | None = None
) -> list[MeasureSchedule]:
    """Replace the couple's questionnaires. A measure kept at the same period keeps its
    calendar; a new one, or a new period, starts now. Left out: no longer asked."""
    couple = get_couple_for_therapist(therapist=therapist, couple_id=couple_id)
    now = now or utcnow()
    errors: dict[str, list[str]] = {}
    wanted: dict[str, int] = {}
    for i, entry in enumerate(schedule):
        slug, every = entry.get("measure"), entry.get("every_weeks")
        if _measure(slug) is None:
            errors[f"schedule.{i}.measure"] = [f"Unknown measure {slug!r}."]
        elif slug in wanted:
            errors[f"schedule.{i}.measure"] = [f"{slug!r} is listed twice."]
        if every not in EVERY_WEEKS or isinstance(every, bool):
            errors[f"schedule.{i}.every_weeks"] = ["Must be 1, 2 or 4."]
        if not errors:
            wanted[slug] = every
    if errors:
        raise ValidationFailed("The schedule is not valid.", errors=errors)
    rows = {
        r.measure: r
        for r in db.session.scalars(
            select(MeasureSchedule).where(MeasureSchedule.couple_id == couple.id)
        )
    }
    for slug, row in rows.items():
        if slug not in wanted:
            db.session.delete(row)
    for slug, every in wanted.items():
        row = rows.get(slug)
        if row is None:
            db.session.add(
                MeasureSchedule(
                    couple_id=couple.id,
                    measure=slug,
                    every_weeks=every,
                    started_at=now,
                    created_by_id=therapist.id,
                )
            )
        elif row.every_weeks != every:
            row.every_weeks, row.started_at = every, now
    record_event(
        actor_id=therapist.id,
        action="measures.scheduled",
        object_type="couple",
        object_id=couple.id,
        couple_id=couple.id,
        detail={"schedule": [{"measure": m, "every_weeks": w} for m, w in wanted.items()]},
    )
    db.session.flush()
    partners = list(
        db.session.scalars(select(User).where(User.couple_id == couple.id, User.role == CLIENT))
    )
    if partners:
        from server.services.replans import request_replan

        request_replan([p.id for p in partners])  # re-planned from the real now, always
    return schedules_of(couple.id)


def schedules_of(couple_id: str) -> list[MeasureSchedule]:
    return list(
        db.session.scalars(
            select(MeasureSchedule)
            .where(MeasureSchedule.couple_id == couple_id)
            .order_by(MeasureSchedule.measure)
        )
    )


def _answered_at(user_ids: list[str]) -> dict[tuple[str, str], list[datetime]]:
    """(author, measure) → when each response was completed, in one query."""
    out: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    if user_ids:
        for author_id, measure, completed_at in db.session.execute(
            select(
                MeasureResponse.author_id, MeasureResponse.measure, MeasureResponse.completed_at
            ).where(MeasureResponse.author_id.in_(user_ids))
        ):
            out[(author_id, measure)].append(completed_at)
    return out


def _due_since(
    schedule: MeasureSchedule, partner: User, answered: list[datetime], now: datetime
) -> datetime | None:
    return due_since(
        started_at=schedule.started_at,
        every_weeks=schedule.every_weeks,
        tz=ZoneInfo(partner.timezone),
        now=now,
        answered=answered,
    )


@functools.cache
def _due_statement() -> Any:
    """The partner's schedules (just the columns the rule needs) with their latest
    response each; built once, as the homework's hot statements are."""
    latest = (
        select(func.max(MeasureResponse.completed_at))
        .where(
            MeasureResponse.author_id == bindparam("partner"),
            MeasureResponse.measure == MeasureSchedule.measure,
        )
        .scalar_subquery()
    )
    return (
        select(
            MeasureSchedule.measure, MeasureSchedule.every_weeks, MeasureSchedule.started_at, latest
        )
        .where(MeasureSchedule.couple_id == bindparam("couple"))
        .order_by(MeasureSchedule.measure)
    )


def due_measures(*, partner: User, now: datetime | None = None) -> list[dict[str, Any]]:
    """The partner's own due questionnaires: `{measure, title, due_since}` (never
    whether it is overdue: that is for the therapist). One statement."""
    if partner.is_therapist or partner.couple_id is None:
        return []
    now = now or utcnow()
    parameters = {"partner": partner.id, "couple": partner.couple_id}
    rows = db.session.execute(_due_statement(), parameters)
    due = []
    for slug, every_weeks, started_at, last in rows:
        measure = _measure(slug)
        if measure is None:
            continue
        since = due_since(
            started_at=started_at,
            every_weeks=every_weeks,
            tz=ZoneInfo(partner.timezone),
            now=now,
            answered=[last] if last else [],
        )
        if since is not None:
            due.append({"measure": measure.slug, "title": measure.title, "due_since": since})
    return due


def due_for_users(users: list[User], now: datetime) -> dict[str, list[tuple[str, datetime]]]:
    """User id → [(measure, due since)] for a chunk of partners, in two queries (the
    reminder planner's view)."""
    couple_ids = {u.couple_id for u in users if u.couple_id and not u.is_therapist}
    if not couple_ids:
        return {}
    by_couple: dict[str, list[MeasureSchedule]] = defaultdict(list)
    for schedule in db.session.scalars(
        select(MeasureSchedule).where(MeasureSchedule.couple_id.in_(couple_ids))
    ):
        by_couple[schedule.couple_id].append(schedule)
    answered = _answered_at([u.id for u in users if u.couple_id in by_couple])
    out: dict[str, list[tuple[str, datetime]]] = {}
    for user in users:
        for schedule in by_couple.get(user.couple_id or "", []):
            since = _due_since(schedule, user, answered[(user.id, schedule.measure)], now)
            if since is not None:
                out.setdefault(user.id, []).append((schedule.measure, since))
    return out


# --- the therapist's view -------------------------------------------------------------


def couple_measure_series(
    *, couple_id: str, reader: User | None = None, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Per partner and measure (scheduled now, or answered before): what the measure
    is (title, direction, range, bands, reliable change) and the partner's responses,
    oldest first, with what is due and overdue. For the couple's therapist only: the
    caller has checked that. When `reader` is given, the read is audited (privacy rule
    6: pass the therapist from every view that shows it)."""
    now = now or utcnow()
    partners = list(
        db.session.scalars(
            select(User)
            .where(User.couple_id == couple_id, User.role == CLIENT)
            .order_by(User.created_at, User.id)
        )
    )
    schedules = {s.measure: s for s in schedules_of(couple_id)}
    responses: dict[tuple[str, str], list[MeasureResponse]] = defaultdict(list)
    for response in db.session.scalars(
        select(MeasureResponse)
        .where(MeasureResponse.couple_id == couple_id)
        .order_by(MeasureResponse.completed_at, MeasureResponse.id)
    ):
        responses[(response.author_id, response.measure)].append(response)
    slugs = sorted(set(schedules) | {m for _, m in responses})
    series = []
    for partner in partners:
        for slug in slugs:
            measure = _measure(slug)
            own = responses.get((partner.id, slug), [])
            if measure is None or (slug not in schedules and not own):
                continue
            schedule = schedules.get(slug)
            since = (
                _due_since(schedule, partner, [r.completed_at for r in own], now)
                if schedule
                else None
            )
            reliable = measure.reliable_change
            series.append(
                {
                    "partner_id": partner.id,
                    "measure": slug,
                    "title": measure.title,
                    "direction": measure.direction,
                    "min": measure.min,
                    "max": measure.max,
                    "bands": [b.to_dict() for b in measure.bands],
                    "reliable_change": reliable.points if reliable else None,
                    "every_weeks": schedule.every_weeks if schedule else None,
                    "responses": [
                        {
                            "id": r.id,
                            "completed_at": r.completed_at,
                            "score": r.score,
                            "band": r.band,
                            "flags": list(r.flags or []),
                        }
                        for r in own
                    ],
                    "due_since": since,
                    "overdue": is_overdue(since, now),
                }
            )
    if reader is not None:
        record_event(
            actor_id=reader.id,
            action="measures.read",
            object_type="couple",
            object_id=couple_id,
            couple_id=couple_id,
            detail={"responses": sum(len(s["responses"]) for s in series)},
        )
    return series


def read_couple_measures(
    *, therapist: User, couple_id: str, now: datetime | None = None
) -> dict[str, Any]:
    """`GET /couples/{id}/measures`: the schedule and every series (audited)."""
    couple = get_couple_for_therapist(therapist=therapist, couple_id=couple_id)
    return {
        "schedule": [
            {"measure": s.measure, "every_weeks": s.every_weeks, "started_at": s.started_at}
            for s in schedules_of(couple.id)
        ],
        "series": couple_measure_series(couple_id=couple.id, reader=therapist, now=now),
    }


# --- responses ------------------------------------------------------------------------


def record_response(
    *, author: User, body: dict[str, Any], now: datetime | None = None
) -> tuple[MeasureResponse, bool]:
    """Store a partner's answers, scored here; returns (response, created).

    Same id and same answers again answers the stored response (an offline retry);
    same id with anything else is 409. A measure that is not due is 409.
    """
    now = now or utcnow()
    existing = db.session.get(MeasureResponse, body["id"])
    if existing is not None:
        return _replay(existing, author, body), False
    measure = _measure(body["measure"])
    if measure is None:
        raise ValidationFailed(
            "Unknown measure.", errors={"measure": [f"No measure {body['measure']!r}."]}
        )
    answers = body.get("answers")
    errors = answer_errors(measure, answers)
    if errors:
        raise ValidationFailed(f"The {measure.title} answers are not valid.", errors=errors)
    assert isinstance(answers, dict)
    schedule = None
    if author.couple_id is not None:
        schedule = db.session.scalars(
            select(MeasureSchedule).where(
                MeasureSchedule.couple_id == author.couple_id,
                MeasureSchedule.measure == measure.slug,
            )
        ).one_or_none()
    since = None
    if schedule is not None:
        answered = _answered_at([author.id])[(author.id, measure.slug)]
        since = _due_since(schedule, author, answered, now)
    if since is None:
        raise Conflict(f"{measure.title} is not due for you now.", code="measure_not_due")
    scored = score_answers(measure, answers)
    response = MeasureResponse(
        id=body["id"],
        couple_id=author.couple_id,
        author_id=author.id,
        measure=measure.slug,
        measure_version=measure.version,
        answers={k: v for k, v in answers.items() if v is not None},
        score=scored.score,
        band=scored.band,
        flags=list(scored.flags),
        due_since=since,
        completed_at=now,
    )
    if not add_unique(db.session, response):
        existing = db.session.get(MeasureResponse, body["id"], populate_existing=True)
        if existing is None:
            raise Conflict("This response is being recorded; try again.", code="measure_busy")
        return _replay(existing, author, body), False
    # Answered: the reminder for this period, if not sent yet, is not needed any more.
    db.session.execute(
        update(Reminder)
        .where(
            Reminder.key == reminder_key(author.id, measure.slug, since),
            Reminder.status == "pending",
        )
        .values(status="cancelled", error="answered", updated_at=now)
    )
    if RISK in response.flags:
        raise_risk_alert(response=response, author=author, now=now)
    return response, True


def _replay(existing: MeasureResponse, author: User, body: dict[str, Any]) -> MeasureResponse:
    answers = body.get("answers")
    same = (
        existing.author_id == author.id
        and existing.measure == body.get("measure")
        and isinstance(answers, dict)
        and {k: v for k, v in answers.items() if v is not None} == existing.answers
    )
    if not same:
        raise Conflict(
            "A different response with this id already exists.", code="measure_id_conflict"
        )
    return existing


def raise_risk_alert(*, response: MeasureResponse, author: User, now: datetime) -> Alert:
    """An urgent alert and a push to the therapist at once (no safety hold: see the
    module's docstring)."""
    from server.services.reminders import notify_therapist

    alert = Alert(
        couple_id=response.couple_id,
        partner_id=author.id,
        kind=RISK,
        flags=[f"{response.measure}:{key}" for key in _risk_keys(response)] or [RISK],
        created_at=now,
    )
    db.session.add(alert)
    db.session.flush()
    therapist_id = db.session.scalar(
        select(Couple.therapist_id).where(Couple.id == response.couple_id)
    )
    if therapist_id:
        notify_therapist(therapist_id=therapist_id, alert_id=alert.id, now=now)
    log.info("risk alert %s raised for couple %s", alert.id, response.couple_id)
    return alert


def _risk_keys(response: MeasureResponse) -> list[str]:
    measure = _measure(response.measure)
    if measure is None:
        return []
    return [
        i.key
        for i in measure.items
        if i.risk_at is not None and (response.answers.get(i.key) or 0) >= i.risk_at
    ]


def response_view(response: MeasureResponse, *, author_view: bool = True) -> dict[str, Any]:
    """A response as its author (or the therapist) sees it; with crisis guidance for a
    risk answer."""
    view: dict[str, Any] = {
        "id": response.id,
        "measure": response.measure,
        "measure_version": response.measure_version,
        "score": response.score,
        "band": response.band,
        "flags": list(response.flags or []),
        "completed_at": response.completed_at,
        "answers": dict(response.answers),
    }
    if RISK in view["flags"]:
        view["guidance"] = crisis_guidance()
    return view


def crisis_guidance() -> dict[str, str]:
    """The same words as a safety flag's ("Tandem is not an emergency service", local
    emergency numbers), without the part about joint exercises being paused (a risk
    answer does not pause them)."""
    from server.services.checkins import CRISIS_GUIDANCE

    return {
        "message": "Thank you for telling us. Your therapist has been told.",
        "emergency": CRISIS_GUIDANCE["emergency"],
    }


def list_own_responses(
    *, author: User, offset: int = 0, limit: int = 1000
) -> tuple[list[MeasureResponse], int]:
    """The caller's own responses, newest first, and how many there are."""
    mine = MeasureResponse.author_id == author.id
    total = db.session.scalar(select(func.count()).select_from(MeasureResponse).where(mine))
    rows = db.session.scalars(
        select(MeasureResponse)
        .where(mine)
        .order_by(MeasureResponse.completed_at.desc(), MeasureResponse.id)
        .offset(offset)
        .limit(limit)
    )
    return list(rows), int(total or 0)


def reminder_key(user_id: str, measure: str, since: datetime) -> str:
    """One reminder per partner, measure and period: the outbox's unique key."""
    return f"{user_id}:measure:{measure}:{since.strftime('%Y%m%dT%H%M%S')}"
