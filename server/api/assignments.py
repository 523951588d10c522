"""Assignments: a program given to a couple, and the therapist's changes to it."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import fields, validate

from server.api import Blueprint, page_of
from server.auth import current_user, login_required
from server.db import is_id
from server.extensions import db
from server.models import THERAPIST, Assignment, Couple
from server.schemas.common import RequestSchema
from server.schemas.homework import (
    AssignmentCreateSchema,
    AssignmentSchema,
    AssignmentUpdateSchema,
    ProgressSchema,
    TransitionSchema,
)
from server.services import assignments, progress

PREFIX = ""
blp = Blueprint("assignments", __name__, description="Programs given to couples")


def _view(assignment: Assignment) -> dict[str, Any]:
    user = current_user()
    therapist_id = user.id if user.is_therapist else _therapist_of(assignment.couple_id)
    return assignments.assignment_view(assignment, viewer=user, therapist_id=therapist_id)


def _therapist_of(couple_id: str) -> str:
    couple = db.session.get(Couple, couple_id) if is_id(couple_id) else None
    return couple.therapist_id if couple else ""


@blp.route("/couples/<couple_id>/assignments")
class CoupleAssignments(MethodView):
    @login_required(THERAPIST)
    @blp.response(200, AssignmentSchema(many=True))
    @blp.alt_response(404, description="No such couple, or not yours")
    @blp.paginate()
    def get(self, couple_id: str, pagination_parameters: Any) -> object:
        """The couple's assignments, newest first."""
        rows = assignments.list_assignments(therapist=current_user(), couple_id=couple_id)
        return [_view(a) for a in page_of(rows, pagination_parameters)]

    @login_required(THERAPIST)
    @blp.doc(operationId="createAssignment")
    @blp.arguments(AssignmentCreateSchema)
    @blp.response(201, AssignmentSchema)
    @blp.alt_response(404, description="No such couple, or not yours")
    @blp.alt_response(409, description="The couple already has a running assignment")
    def post(self, body: dict[str, Any], couple_id: str) -> object:
        """Assign a program (a frozen copy of its newest version), starting at stage 1."""
        assignment = assignments.assign_program(
            therapist=current_user(),
            couple_id=couple_id,
            program_slug=body["program"],
            start_date=body.get("start_date"),
        )
        return _view(assignment)


@blp.route("/assignments/<assignment_id>")
class AssignmentItem(MethodView):
    @login_required()
    @blp.response(200, AssignmentSchema)
    @blp.alt_response(404, description="No such assignment, or not yours")
    def get(self, assignment_id: str) -> object:
        """One assignment; partners of the couple see it without notes or reasons."""
        return _view(
            assignments.get_assignment_for(user=current_user(), assignment_id=assignment_id)
        )

    @login_required(THERAPIST)
    @blp.arguments(AssignmentUpdateSchema)
    @blp.response(200, AssignmentSchema)
    @blp.alt_response(404, description="No such assignment, or not yours")
    @blp.alt_response(409, description="The assignment is completed")
    def patch(self, body: dict[str, Any], assignment_id: str) -> object:
        """Change weekly targets per exercise (0 skips one) or the therapist's note."""
        assignment = assignments.update_assignment(
            therapist=current_user(),
            assignment_id=assignment_id,
            overrides=body.get("overrides"),
            note=body.get("note"),
        )
        return _view(assignment)


def _transition(name: str, service: Any, summary: str) -> None:
    """Register `POST /assignments/{id}/<name>` calling `service`."""

    def transition(body: dict[str, Any], assignment_id: str) -> object:
        assignment = service(
            therapist=current_user(), assignment_id=assignment_id, reason=body.get("reason")
        )
        return _view(assignment)

    # The docstring becomes the OpenAPI summary, so it is set before decorating.
    transition.__doc__ = summary
    transition.__name__ = f"assignment_{name}"
    view = blp.doc(operationId=f"{name}Assignment")(transition)
    view = blp.alt_response(409, description="Not possible in the assignment's current state")(view)
    view = blp.alt_response(404, description="No such assignment, or not yours")(view)
    view = blp.response(200, AssignmentSchema)(view)
    view = blp.arguments(TransitionSchema)(view)
    view = login_required(THERAPIST)(view)
    blp.route(f"/assignments/<assignment_id>/{name}", methods=["POST"])(view)


_transition(
    "advance",
    assignments.advance_stage,
    "Move to the next stage (409 at the last stage: complete instead).",
)
_transition(
    "complete",
    assignments.complete_assignment,
    "Mark the program completed (only from its last stage).",
)
_transition("pause", assignments.pause_assignment, "Pause the program.")
_transition(
    "resume",
    assignments.resume_assignment,
    "Resume a paused program; this is also what lifts a safety hold.",
)


class MoveBackSchema(RequestSchema):
    reason = fields.String(
        required=True,
        validate=validate.Length(min=1, max=2000),
        metadata={"description": "Why the couple goes back a stage (therapists only)"},
    )


@blp.route("/assignments/<assignment_id>/back", methods=["POST"])
@login_required(THERAPIST)
@blp.doc(operationId="moveAssignmentBack")
@blp.arguments(MoveBackSchema)
@blp.response(200, AssignmentSchema)
@blp.alt_response(404, description="No such assignment, or not yours")
@blp.alt_response(409, description="At the first stage (`first_stage`), or completed")
def assignment_back(body: dict[str, Any], assignment_id: str) -> object:
    """Move back to the previous stage (undoes a move made too early; reason required)."""
    assignment = assignments.move_back_stage(
        therapist=current_user(), assignment_id=assignment_id, reason=body["reason"]
    )
    return _view(assignment)


@blp.route("/couples/<couple_id>/progress")
class CoupleProgress(MethodView):
    @login_required(THERAPIST)
    @blp.response(200, ProgressSchema)
    @blp.alt_response(404, description="No such couple, or not yours")
    def get(self, couple_id: str) -> object:
        """Per partner and week: sessions vs target, rating means, history, suggestion."""
        return progress.couple_progress(therapist=current_user(), couple_id=couple_id)
