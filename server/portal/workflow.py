"""The portal's forms that change a couple's program, and its invites.

Clinical decisions are deliberate: moving on is a confirmation page (GET) whose button
does it (POST); a move can be undone ("Move back", with a reason); lifting a safety hold
and changing weekly targets each ask for a reason, kept in the history. Every form uses
the same services as the API (`server.services.assignments`, `couples`).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Response, flash, g, redirect, render_template, request

from server.errors import Conflict, ValidationFailed
from server.extensions import db
from server.models import Assignment
from server.portal.security import form_date, safe_next, whole_number
from server.portal.views import _see, blp
from server.services import assignments as assignment_service
from server.services.couples import get_couple_for_therapist, invite_code, reissue_invite

MAX_REASON = 2000
MAX_NOTE = 5000

ACTIONS: dict[str, tuple[Callable[..., Assignment], str]] = {
    "advance": (assignment_service.advance_stage, "Moved to the next stage."),
    "pause": (assignment_service.pause_assignment, "The program is paused."),
    "resume": (
        assignment_service.resume_assignment,
        "The program is running again: both partners see their homework and get reminders.",
    ),
    "complete": (assignment_service.complete_assignment, "The program is marked complete."),
}
HOLD_REASON = "Say why you lift the safety hold: the reason is kept in the history."


def _reason() -> str | None:
    reason = request.form.get("reason", "").strip()
    if len(reason) > MAX_REASON:
        raise ValidationFailed(f"Keep the reason under {MAX_REASON} characters.")
    return reason or None


def _back_to(couple_id: str) -> Response:
    """Where a form returns: its `next` (a portal page) or the couple's program."""
    target = safe_next(request.form.get("next"))
    if target:
        return redirect(target, code=303)
    return _see("portal.couple", "#program", couple_id=couple_id)


def _couple_names(assignment: Assignment) -> str:
    couple = get_couple_for_therapist(therapist=g.therapist, couple_id=assignment.couple_id)
    names = [p.name for p in couple.partners]
    return " & ".join(names) if names else couple.label


@blp.post("/couples/<couple_id>/assignments")
def assign(couple_id: str) -> Response:
    """Give the couple a program from the catalog (or one of the therapist's own)."""
    couple = get_couple_for_therapist(therapist=g.therapist, couple_id=couple_id)
    raw_date = request.form.get("start_date", "").strip()
    try:
        start_date = form_date(raw_date) if raw_date else None
    except ValueError:
        flash("The start date is not a date.", "error")
        return _see("portal.couple", "#program", couple_id=couple.id)
    try:
        assignment_service.assign_program(
            therapist=g.therapist,
            couple_id=couple.id,
            program_slug=request.form.get("program", "")[:64],
            start_date=start_date,
        )
    except (Conflict, ValidationFailed) as error:
        db.session.rollback()
        flash(error.detail, "error")
    else:
        flash("Program assigned. Both partners see stage 1 in their app.", "success")
    return _see("portal.couple", "#program", couple_id=couple.id)


def change_assignment(assignment_id: str, action: str) -> Response:
    """Advance, pause, resume or complete the assignment, with a reason (required to lift
    a safety hold, optional otherwise)."""
    assignment = assignment_service.get_assignment_for(
        user=g.therapist, assignment_id=assignment_id
    )
    couple_id = assignment.couple_id
    change, done = ACTIONS[action]
    try:
        reason = _reason()
        if action == "resume" and assignment.on_hold and reason is None:
            raise ValidationFailed(HOLD_REASON)
        change(therapist=g.therapist, assignment_id=assignment.id, reason=reason)
    except (Conflict, ValidationFailed) as error:
        db.session.rollback()
        flash(error.detail, "error")
    else:
        flash(done, "success")
    return _back_to(couple_id)


for _action in ACTIONS:
    blp.add_url_rule(
        f"/assignments/<assignment_id>/{_action}",
        endpoint=f"assignment_{_action}",
        view_func=change_assignment,
        methods=["POST"],
        defaults={"action": _action},
    )


@blp.get("/assignments/<assignment_id>/advance")
def confirm_advance(assignment_id: str) -> Response | str:
    """The confirmation step before moving on: what changes, a reason, one button."""
    assignment = assignment_service.get_assignment_for(
        user=g.therapist, assignment_id=assignment_id
    )
    program = assignment_service.frozen_program_data(assignment)
    stages = program["stages"]
    if not assignment_service.is_running(assignment) or assignment.stage_index >= len(stages):
        flash(
            "This program cannot move on now (it is paused, on hold, completed, or at its "
            "last stage).",
            "error",
        )
        return _see("portal.couple", "#program", couple_id=assignment.couple_id)
    exercises = assignment_service.frozen_exercises(assignment)
    current = stages[assignment.stage_index - 1]
    upcoming = stages[assignment.stage_index]
    includes, off_limits = assignment_service.stage_limits(upcoming, exercises)
    couple = get_couple_for_therapist(therapist=g.therapist, couple_id=assignment.couple_id)
    return render_template(
        "portal/confirm_advance.html",
        assignment=assignment,
        couple=couple,
        names=_couple_names(assignment),
        program=program,
        current=current,
        upcoming=upcoming,
        upcoming_exercises=[
            {
                "title": exercises[item["exercise"]]["title"],
                "per_week": item["per_week"],
                "joint": exercises[item["exercise"]]["joint"],
            }
            for item in upcoming["exercises"]
        ],
        includes=includes,
        off_limits=off_limits,
    )


@blp.post("/assignments/<assignment_id>/back")
def move_back(assignment_id: str) -> Response:
    """Undo a move: back to the previous stage, with a reason (required)."""
    assignment = assignment_service.get_assignment_for(
        user=g.therapist, assignment_id=assignment_id
    )
    couple_id = assignment.couple_id
    try:
        moved = assignment_service.move_back_stage(
            therapist=g.therapist, assignment_id=assignment.id, reason=_reason()
        )
    except (Conflict, ValidationFailed) as error:
        db.session.rollback()
        flash(error.detail, "error")
    else:
        flash(
            f"Moved back to stage {moved.stage_index}. Both partners see that stage's "
            "homework again; reminders follow it.",
            "success",
        )
    return _see("portal.couple", "#program", couple_id=couple_id)


@blp.post("/assignments/<assignment_id>/note")
def note(assignment_id: str) -> Response:
    """Save the therapist's own note on the program (never shown to partners)."""
    assignment = assignment_service.get_assignment_for(
        user=g.therapist, assignment_id=assignment_id
    )
    couple_id = assignment.couple_id
    text = request.form.get("note", "").strip()
    if len(text) > MAX_NOTE:
        flash(f"Keep the note under {MAX_NOTE} characters.", "error")
        return _see("portal.couple", "#note", couple_id=couple_id)
    try:
        assignment_service.update_assignment(
            therapist=g.therapist, assignment_id=assignment.id, overrides=None, note=text
        )
    except (Conflict, ValidationFailed) as error:
        db.session.rollback()
        flash(error.detail, "error")
    else:
        flash("Note saved." if text else "Note removed.", "success")
    return _see("portal.couple", "#note", couple_id=couple_id)


def _changed_targets(assignment: Assignment) -> dict[str, dict[str, int]] | None:
    """The weekly targets the form changes (None when one is not a whole number)."""
    program = assignment_service.frozen_program_data(assignment)
    stage = next((s for s in program["stages"] if s["index"] == assignment.stage_index), None)
    current = {
        item["exercise"]: assignment.overrides.get(item["exercise"], item["per_week"])
        for item in (stage or {}).get("exercises", [])
    }
    changed: dict[str, dict[str, int]] = {}
    for name, value in request.form.items():
        if name.startswith("per_week-") and value.strip():
            per_week = whole_number(value, maximum=10**6)
            if per_week is None:
                return None
            slug = name.removeprefix("per_week-")[:64]
            if current.get(slug) != per_week:
                changed[slug] = {"per_week": per_week}
    return changed


@blp.post("/assignments/<assignment_id>/targets")
def targets(assignment_id: str) -> Response:
    """Adjust this stage's weekly targets (0 skips an exercise), with a reason."""
    assignment = assignment_service.get_assignment_for(
        user=g.therapist, assignment_id=assignment_id
    )
    couple_id = assignment.couple_id
    overrides = _changed_targets(assignment)
    if overrides is None:
        flash("Weekly targets are whole numbers.", "error")
        return _see("portal.couple", "#program", couple_id=couple_id)
    if not overrides:
        flash("The weekly targets are unchanged.", "success")
        return _see("portal.couple", "#program", couple_id=couple_id)
    try:
        reason = _reason()
        if reason is None:
            raise ValidationFailed(
                "Say why you change the weekly targets: the reason is kept in the history."
            )
        assignment_service.update_assignment(
            therapist=g.therapist,
            assignment_id=assignment.id,
            overrides=overrides,
            note=None,
            reason=reason,
        )
    except (Conflict, ValidationFailed) as error:
        db.session.rollback()
        messages = [m for ms in (error.errors or {}).values() for m in ms]
        flash(" ".join([error.detail, *messages]), "error")
    else:
        flash("Weekly targets saved. Both partners see them in their homework.", "success")
    return _see("portal.couple", "#program", couple_id=couple_id)


@blp.post("/couples/<couple_id>/invites/<int:slot>/reissue")
def reissue(couple_id: str, slot: int) -> Response | str:
    """A fresh invite code for a partner slot nobody has joined (the old one stops
    working); shown once on its own page."""
    couple = get_couple_for_therapist(therapist=g.therapist, couple_id=couple_id)
    try:
        invite = reissue_invite(therapist=g.therapist, couple_id=couple.id, slot=slot)
    except Conflict as error:
        db.session.rollback()
        flash(error.detail, "error")
        return _see("portal.couple", couple_id=couple.id)
    return render_template(
        "portal/invite_code.html",
        couple=couple,
        slot=invite.slot,
        code=invite_code(invite),
        expires_at=invite.expires_at,
    )
