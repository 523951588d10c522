"""Assignments: giving a couple a program, and every change to it (each one audited)."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import g, has_request_context
from sqlalchemy import bindparam, select
from sqlalchemy.orm import aliased

from exercises.model import Exercise, Program, without_therapist_notes
from exercises.program import local_date
from server.crypto import cipher
from server.db import is_id, utcnow
from server.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from server.extensions import db
from server.models import (
    ACTIVE,
    COMPLETED,
    PAUSED,
    Assignment,
    AssignmentEvent,
    Couple,
    User,
)
from server.services.audit import record_event
from server.services.catalog import get_program_version, latest_exercises
from server.services.couples import get_couple_for_therapist

log = logging.getLogger(__name__)

MAX_PER_WEEK = 14
MAX_BACKDATE_DAYS = 365


class _Lru(OrderedDict[str, Any]):
    """A small thread-safe LRU map (the worker runs jobs on threads)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.lock = threading.Lock()

    def fetch(self, key: str, make: Any) -> Any:
        with self.lock:
            if key in self:
                self.move_to_end(key)
                return self[key]
        value = make()
        with self.lock:
            self[key] = value
            while len(self) > self.size:
                self.popitem(last=False)
        return value


# Frozen copies never change, so each process parses them once. A program version is
# shared by every assignment made from it (its copy is that version's data); the
# exercises are frozen per assignment and loaded only where they are needed.
_PROGRAMS = _Lru(1024)
_EXERCISES = _Lru(4096)
_PARSED_EXERCISES = _Lru(4096)


def frozen_program_data(assignment: Assignment) -> dict[str, Any]:
    """The program version the assignment started with, as stored."""
    return frozen_program_pair(assignment)[0]  # type: ignore[no-any-return]


def frozen_program(assignment: Assignment) -> Program:
    """The program version the assignment started with, parsed."""
    return frozen_program_pair(assignment)[1]  # type: ignore[no-any-return]


def frozen_program_pair(assignment: Assignment) -> tuple[dict[str, Any], Program]:
    def load() -> tuple[dict[str, Any], Program]:
        data = assignment.program
        return data, Program.from_dict(data)

    return _PROGRAMS.fetch(assignment.program_version_id, load)  # type: ignore[no-any-return]


def frozen_exercises(assignment: Assignment) -> dict[str, dict[str, Any]]:
    """The exercise versions frozen with the assignment, by slug."""
    return _EXERCISES.fetch(assignment.id, lambda: assignment.exercises)  # type: ignore[no-any-return]


def frozen_exercise(assignment: Assignment, slug: str) -> Exercise:
    """One exercise frozen with the assignment, parsed (once per process: it never
    changes). KeyError when the assignment has no such exercise."""
    data = frozen_exercises(assignment)[slug]
    return _PARSED_EXERCISES.fetch(  # type: ignore[no-any-return]
        f"{assignment.id}/{slug}", lambda: Exercise.from_dict(data)
    )


def stage_limits(
    stage: dict[str, Any], exercises: dict[str, dict[str, Any]]
) -> tuple[list[str], list[str]]:
    """What a stage includes and what is off limits at it.

    The catalog keeps these lists on each exercise (a stage's own lists are usually
    empty), so a stage's are its own followed by those of its exercises, in stage
    order, without repeats.
    """
    includes: dict[str, None] = dict.fromkeys(stage.get("includes") or [])
    off_limits: dict[str, None] = dict.fromkeys(stage.get("off_limits") or [])
    for item in stage.get("exercises") or []:
        exercise = exercises.get(item["exercise"]) or {}
        includes.update(dict.fromkeys(exercise.get("includes") or []))
        off_limits.update(dict.fromkeys(exercise.get("off_limits") or []))
    return list(includes), list(off_limits)


_SAME = -1  # from_stage/to_stage default: the assignment's current stage


def record_change(
    assignment: Assignment,
    *,
    actor_id: str | None,
    action: str,
    from_stage: int | None = _SAME,
    to_stage: int | None = _SAME,
    reason: str | None = None,
) -> AssignmentEvent:
    """Record a change in the history and the audit trail, and re-plan reminders."""
    if from_stage == _SAME:
        from_stage = assignment.stage_index
    if to_stage == _SAME:
        to_stage = assignment.stage_index
    event = AssignmentEvent(
        assignment_id=assignment.id,
        actor_id=actor_id,
        action=action,
        from_stage=from_stage,
        to_stage=to_stage,
        reason_encrypted=cipher().encrypt(reason) if reason else None,
        at=utcnow(),
    )
    assignment.events.append(event)
    detail: dict[str, Any] = {"from_stage": from_stage, "to_stage": to_stage}
    if action == "held":
        # The system holds the program on a partner's flag. Kept out of that partner's
        # own activity (their data export), where it would tell a hold from a pause.
        detail["raised_by"], actor_id = actor_id, None
    record_event(
        actor_id=actor_id,
        action=f"assignment.{action}",
        object_type="assignment",
        object_id=assignment.id,
        couple_id=assignment.couple_id,
        detail=detail,
    )
    # Every change (stage, pause, hold, targets) changes what is due: re-plan reminders.
    from server.services.replans import replan_after_change

    db.session.flush()
    replan_after_change(assignment)
    return event


def current_assignment_id(couple_id: Any) -> Any:
    """The id of the couple's current assignment, as a scalar subquery (`couple_id` may
    be a column: `server.auth` reads it in the same statement as the session): the
    running (active or paused) one, else the latest completed one. At most one runs
    at a time (`assign_program`), and it is the newest."""
    candidate = aliased(Assignment)  # the outer statement may read `assignments` too
    return (
        select(candidate.id)
        .where(candidate.couple_id == couple_id)
        .order_by(candidate.status == COMPLETED, candidate.created_at.desc())
        .limit(1)
        .scalar_subquery()
    )


# Built once (a hot read).
_CURRENT = select(Assignment).where(Assignment.id == current_assignment_id(bindparam("couple")))


def current_assignment(*, couple_id: str) -> Assignment | None:
    """The couple's running (active or paused) assignment, else the latest completed one.

    Inside a request authenticated `with_assignment` (server.auth) for this couple, the
    one read with the session."""
    if has_request_context() and "current_assignment" in g:
        caller = g.get("user")
        if caller is not None and caller.couple_id == couple_id:
            return g.current_assignment  # type: ignore[no-any-return]
    return db.session.scalars(_CURRENT, {"couple": couple_id}).first()


def assign_program(
    *, therapist: User, couple_id: str, program_slug: str, start_date: date | None
) -> Assignment:
    """Give the couple a frozen copy of the program's newest version, at stage 1."""
    couple = get_couple_for_therapist(therapist=therapist, couple_id=couple_id)
    # Serialise assignments per couple: one active at a time, even under concurrency.
    db.session.execute(select(Couple.id).where(Couple.id == couple.id).with_for_update()).all()
    running = db.session.scalar(
        select(Assignment.id).where(
            Assignment.couple_id == couple.id, Assignment.status != COMPLETED
        )
    )
    if running is not None:
        raise Conflict(
            "This couple already has a running assignment; complete it first.",
            code="assignment_exists",
        )
    try:
        version = get_program_version(user=therapist, slug=program_slug)
    except NotFound:
        raise ValidationFailed(
            "Unknown program.", errors={"program": [f"No program {program_slug!r}."]}
        ) from None
    today = utcnow().date()
    if start_date is not None and not (
        today - timedelta(days=MAX_BACKDATE_DAYS) <= start_date <= today + timedelta(days=90)
    ):
        raise ValidationFailed(
            "The start date is out of range.",
            errors={"start_date": ["Must be within a year before and 90 days after today."]},
        )
    program = Program.from_dict(version.data)
    catalog = latest_exercises()
    # In stage order, so that every reader sees the exercises in the same order.
    ordered = dict.fromkeys(item.exercise for stage in program.stages for item in stage.items)
    exercises = {slug: catalog[slug].to_dict() for slug in ordered}
    now = utcnow()
    assignment = Assignment(
        couple_id=couple.id,
        program_version_id=version.id,
        program=version.data,
        exercises=exercises,
        stage_index=1,
        # A back-dated program has been at stage 1 since its start date.
        stage_started_at=(
            min(now, datetime.combine(start_date, datetime.min.time(), tzinfo=UTC))
            if start_date
            else now
        ),
        status=ACTIVE,
        on_hold=False,
        start_date=start_date or now.date(),
        overrides={},
        created_by_id=therapist.id,
        created_at=now,
    )
    db.session.add(assignment)
    db.session.flush()
    record_change(assignment, actor_id=therapist.id, action="assigned", from_stage=None, to_stage=1)
    db.session.flush()
    return assignment


def get_assignment_for(*, user: User, assignment_id: str) -> Assignment:
    """The assignment if `user` is the couple's therapist or one of its partners; else 404."""
    if not is_id(assignment_id):
        raise NotFound("No such assignment.")
    row = db.session.execute(
        select(Assignment, Couple.therapist_id)
        .join(Couple, Couple.id == Assignment.couple_id)
        .where(Assignment.id == assignment_id)
    ).one_or_none()
    if row is None:
        raise NotFound("No such assignment.")
    assignment, therapist_id = row
    allowed = (
        therapist_id == user.id if user.is_therapist else assignment.couple_id == user.couple_id
    )
    if not allowed:
        raise NotFound("No such assignment.")
    return assignment


def list_assignments(*, therapist: User, couple_id: str) -> list[Assignment]:
    couple = get_couple_for_therapist(therapist=therapist, couple_id=couple_id)
    return list(
        db.session.scalars(
            select(Assignment)
            .where(Assignment.couple_id == couple.id)
            .order_by(Assignment.created_at.desc())
        )
    )


def _owned(therapist: User, assignment_id: str) -> Assignment:
    assignment = get_assignment_for(user=therapist, assignment_id=assignment_id)
    # Lock the row: two therapists' tabs advancing at once must not skip a stage.
    db.session.execute(
        select(Assignment.id).where(Assignment.id == assignment.id).with_for_update()
    ).all()
    db.session.refresh(assignment)
    return assignment


def update_assignment(
    *,
    therapist: User,
    assignment_id: str,
    overrides: dict[str, dict[str, int]] | None,
    note: str | None,
    reason: str | None = None,
) -> Assignment:
    """Per-exercise weekly targets (0 skips an exercise) and the therapist's note; the
    `updated` history entry keeps `reason` (the portal asks for one with new targets)."""
    assignment = _owned(therapist, assignment_id)
    if assignment.status == COMPLETED:
        raise InvalidTransition("This assignment is completed.")
    if overrides is not None:
        known = frozen_program(assignment).exercise_slugs
        errors: dict[str, list[str]] = {}
        for slug, change in overrides.items():
            if slug not in known:
                errors[f"overrides.{slug}"] = [f"{slug!r} is not an exercise of this program."]
            elif not 0 <= change["per_week"] <= MAX_PER_WEEK:
                errors[f"overrides.{slug}.per_week"] = [f"Must be between 0 and {MAX_PER_WEEK}."]
        if errors:
            raise ValidationFailed("Some overrides are invalid.", errors=errors)
        assignment.overrides = {
            **assignment.overrides,
            **{slug: change["per_week"] for slug, change in overrides.items()},
        }
    if note is not None:
        assignment.note_encrypted = cipher().encrypt(note) if note.strip() else None
    record_change(assignment, actor_id=therapist.id, action="updated", reason=reason)
    return assignment


def advance_stage(*, therapist: User, assignment_id: str, reason: str | None) -> Assignment:
    """Move to the next stage (the therapist decides; criteria only suggest)."""
    assignment = _owned(therapist, assignment_id)
    if not is_running(assignment):
        raise InvalidTransition(
            f"Only an active assignment can advance (it is {shown_status(assignment)})."
        )
    stages = len(frozen_program(assignment).stages)
    if assignment.stage_index >= stages:
        raise InvalidTransition(
            "This is the last stage; complete the assignment instead.", code="last_stage"
        )
    before = assignment.stage_index
    assignment.stage_index = before + 1
    assignment.stage_started_at = utcnow()
    record_change(
        assignment,
        actor_id=therapist.id,
        action="advanced",
        from_stage=before,
        to_stage=assignment.stage_index,
        reason=reason,
    )
    db.session.flush()
    return assignment


def move_back_stage(*, therapist: User, assignment_id: str, reason: str | None) -> Assignment:
    """Undo a move made too early: back to the previous stage (a reason is required).

    The stage counts as having begun when the program last entered it, so what the
    couple did there before still counts towards its criteria. Reminders are re-planned
    and partners see `moved_back` (without the reason) in their history.
    """
    if not (reason or "").strip():
        raise ValidationFailed(
            "Say why you move the couple back.", errors={"reason": ["Required."]}
        )
    assignment = _owned(therapist, assignment_id)
    if assignment.status == COMPLETED:
        raise InvalidTransition("This assignment is completed.")
    if assignment.stage_index <= 1:
        raise InvalidTransition("This is the first stage.", code="first_stage")
    before = assignment.stage_index
    target = before - 1
    entered = [
        _entered_at(assignment, event)
        for event in assignment.events
        if event.to_stage == target and event.action in ("assigned", "advanced", "moved_back")
    ]
    assignment.stage_index = target
    assignment.stage_started_at = entered[-1] if entered else utcnow()
    record_change(
        assignment,
        actor_id=therapist.id,
        action="moved_back",
        from_stage=before,
        to_stage=target,
        reason=reason,
    )
    db.session.flush()
    return assignment


def _entered_at(assignment: Assignment, event: AssignmentEvent) -> datetime:
    """When the program entered the stage of `event`: a back-dated program has been at
    stage 1 since its start date (as `assign_program` set it)."""
    if event.action == "assigned" and assignment.start_date < event.at.date():
        return min(
            event.at, datetime.combine(assignment.start_date, datetime.min.time(), tzinfo=UTC)
        )
    return event.at


def complete_assignment(*, therapist: User, assignment_id: str, reason: str | None) -> Assignment:
    """Mark the program done (from its last stage)."""
    assignment = _owned(therapist, assignment_id)
    if assignment.status == COMPLETED:
        raise InvalidTransition("This assignment is already completed.")
    if assignment.stage_index < len(frozen_program(assignment).stages):
        raise InvalidTransition(
            "Only the last stage can be completed; advance first.", code="not_last_stage"
        )
    assignment.status = COMPLETED
    assignment.on_hold = False
    assignment.completed_at = utcnow()
    record_change(assignment, actor_id=therapist.id, action="completed", reason=reason)
    return assignment


def pause_assignment(*, therapist: User, assignment_id: str, reason: str | None) -> Assignment:
    """Pause the whole program for both partners."""
    assignment = _owned(therapist, assignment_id)
    if not is_running(assignment):
        raise InvalidTransition(
            f"Only an active assignment can be paused (it is {shown_status(assignment)})."
        )
    assignment.status = PAUSED
    record_change(assignment, actor_id=therapist.id, action="paused", reason=reason)
    return assignment


def resume_assignment(*, therapist: User, assignment_id: str, reason: str | None) -> Assignment:
    """Resume a paused assignment; this is also the one act that lifts a safety hold."""
    assignment = _owned(therapist, assignment_id)
    if assignment.status == COMPLETED or (assignment.status == ACTIVE and not assignment.on_hold):
        raise InvalidTransition("There is nothing to resume.")
    assignment.status = ACTIVE
    assignment.on_hold = False
    record_change(assignment, actor_id=therapist.id, action="resumed", reason=reason)
    return assignment


def hold_for_safety(*, assignment: Assignment, raised_by: User) -> None:
    """Hold the whole program, for both partners, until the therapist resumes it.

    A hold is a pause (the status becomes `paused`, so everything that reads the
    status stops: homework, reminders, nudges) that only the therapist can tell apart,
    by `on_hold` and the `held` entry in the history. A hold on a program the therapist
    had paused already is still recorded for the therapist; partners see no change.
    Acknowledging the alert does not lift it: `resume_assignment` does.
    """
    if assignment.on_hold or assignment.status == COMPLETED:
        return
    assignment.status = PAUSED
    assignment.on_hold = True
    record_change(assignment, actor_id=raised_by.id, action="held")


def is_running(assignment: Assignment) -> bool:
    """True while exercises are due: active and not on a safety hold.

    A hold stores `paused` as well; checking `on_hold` too keeps holds recorded before
    that (status `active`, `on_hold` set) held.
    """
    return assignment.status == ACTIVE and not assignment.on_hold


def shown_status(assignment: Assignment) -> str:
    """The status everyone is shown: a safety hold is `paused`."""
    return PAUSED if assignment.status == ACTIVE and assignment.on_hold else assignment.status


def partner_history(
    assignment: Assignment, *, timezone: str, therapist_id: str
) -> list[dict[str, Any]]:
    """The history as a partner sees it (privacy rule 4).

    No reasons; a safety hold reads as a pause by their therapist; every entry is dated
    by its local day in the partner's time zone (`YYYY-MM-DD`), never a time; and a
    pause or hold while the program is paused already shows nothing, so a hold on a
    paused program leaves no trace a partner could see.
    """
    tz = ZoneInfo(timezone)
    entries: list[dict[str, Any]] = []
    paused = False
    for event in assignment.events:
        action, actor_id = event.action, event.actor_id
        if action in ("paused", "held"):
            if paused:
                continue
            paused = True
            action, actor_id = "paused", therapist_id
        elif action in ("resumed", "assigned"):
            paused = False
        entries.append(
            {
                "at": local_date(event.at, tz),
                "actor_id": actor_id,
                "action": action,
                "from_stage": event.from_stage,
                "to_stage": event.to_stage,
            }
        )
    return entries


def _therapist_history(assignment: Assignment) -> list[dict[str, Any]]:
    return [
        {
            "at": event.at,
            "actor_id": event.actor_id,
            "action": event.action,
            "from_stage": event.from_stage,
            "to_stage": event.to_stage,
            "reason": cipher().decrypt(event.reason_encrypted) if event.reason_encrypted else None,
        }
        for event in assignment.events
    ]


def assignment_view(assignment: Assignment, *, viewer: User, therapist_id: str) -> dict[str, Any]:
    """The assignment as `viewer` may see it.

    Partners get no therapist note, no reasons, no `on_hold`, and a history in local
    days where a safety hold is a plain pause by their therapist (`partner_history`).
    Only the therapist sees that it was a safety hold (`on_hold`, `held`) and why.
    """
    program = frozen_program_data(assignment)
    is_therapist = viewer.is_therapist
    if not is_therapist:  # guidance for the therapist (screening, medical checks) only
        program = without_therapist_notes(program)
    view: dict[str, Any] = {
        "id": assignment.id,
        "couple_id": assignment.couple_id,
        "program": program,
        "stage_index": assignment.stage_index,
        "stage": next((s for s in program["stages"] if s["index"] == assignment.stage_index), None),
        "status": shown_status(assignment),
        "start_date": assignment.start_date,
        "overrides": {k: {"per_week": v} for k, v in assignment.overrides.items()},
        "history": (
            _therapist_history(assignment)
            if is_therapist
            else partner_history(assignment, timezone=viewer.timezone, therapist_id=therapist_id)
        ),
        "created_at": assignment.created_at,
    }
    if is_therapist:
        view["on_hold"] = assignment.on_hold
        view["note"] = (
            cipher().decrypt(assignment.note_encrypted) if assignment.note_encrypted else None
        )
    return view
