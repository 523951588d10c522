"""Check-ins: recorded by partners, shown to each caller per the privacy rules."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from flask import Response, current_app
from flask.views import MethodView

from server.api import Blueprint
from server.auth import current_user, login_required
from server.models import CLIENT, THERAPIST
from server.schemas.homework import CheckInCreateSchema, CheckInSchema, HomeworkSchema
from server.services import checkins
from server.services.homework import homework_for

PREFIX = ""
blp = Blueprint("checkins", __name__, description="Homework and check-ins")


@blp.route("/checkins", methods=["POST"])
# The couple's current assignment comes with the session: the check-in's own is that
# one (found in the session's identity map) unless the program has just been replaced.
@login_required(CLIENT, with_assignment=True)
# An instance, not the class: webargs would build a new schema for every request.
@blp.arguments(CheckInCreateSchema())
@blp.response(201, CheckInSchema)
@blp.alt_response(200, schema=CheckInSchema, description="The same check-in again (a retry)")
@blp.alt_response(409, description="Same id, different check-in")
@blp.alt_response(422, description="Invalid answers, exercise not in the stage, bad time")
def create_checkin(body: dict[str, Any]) -> object:
    """Record a check-in (offline-safe: retry with the same id)."""
    author = current_user()
    checkin, created, _ = checkins.record_checkin(author=author, body=body)
    view = checkins.checkin_view(checkin, author)
    # Also on a retry: the phone that retries may never have shown the first answer.
    if checkin.flags:
        view["safety"] = checkins.CRISIS_GUIDANCE
    # The author's view is the documented shape already: written as JSON directly.
    return _json_response(view), 201 if created else 200


@blp.route("/checkins/<checkin_id>")
class CheckInItem(MethodView):
    @login_required()
    @blp.response(200, CheckInSchema)
    @blp.alt_response(404, description="No such check-in, or not visible to the caller")
    def get(self, checkin_id: str) -> object:
        """One check-in, as much of it as the caller may see."""
        viewer = current_user()
        checkin, exercises = checkins.get_checkin_for(viewer=viewer, checkin_id=checkin_id)
        return checkins.checkin_view(checkin, viewer, exercises)


@blp.route("/me/checkins")
class MyCheckIns(MethodView):
    @login_required(CLIENT)
    @blp.response(200, CheckInSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: Any) -> object:
        """The caller's own check-ins, newest first."""
        author = current_user()
        rows, total = checkins.list_own_checkins(
            author=author,
            offset=pagination_parameters.first_item,
            limit=pagination_parameters.page_size,
        )
        pagination_parameters.item_count = total
        return [checkins.checkin_view(c, author) for c in rows]


@blp.route("/me/homework")
class MyHomework(MethodView):
    @login_required(CLIENT, read_only=True, with_assignment=True)
    @blp.response(200, HomeworkSchema)
    def get(self) -> object:
        """This week's homework for the caller: targets, own sessions done, what is due."""
        # The service builds exactly the documented shape: written as JSON directly
        # (dates ISO 8601, instants in UTC with `Z`, as the schema would dump them).
        return _json_response(homework_for(partner=current_user()))


def _json_response(body: dict[str, Any]) -> Response:
    """`body` as JSON, written as the response schemas would dump it (dates ISO 8601,
    instants in UTC with `Z`), without a schema pass over what the service built."""
    text = json.dumps(body, default=_jsonable)
    return current_app.response_class(text, mimetype="application/json")  # type: ignore[no-any-return]


def _jsonable(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


@blp.route("/couples/<couple_id>/checkins")
class CoupleCheckIns(MethodView):
    @login_required(THERAPIST)
    @blp.response(200, CheckInSchema(many=True))
    @blp.alt_response(404, description="No such couple, or not yours")
    @blp.paginate()
    def get(self, couple_id: str, pagination_parameters: Any) -> object:
        """The couple's check-ins: private ones only as "happened", with their flags."""
        therapist = current_user()
        rows, total = checkins.list_couple_checkins(
            therapist=therapist,
            couple_id=couple_id,
            offset=pagination_parameters.first_item,
            limit=pagination_parameters.page_size,
        )
        pagination_parameters.item_count = total
        return [checkins.checkin_view(c, therapist) for c in rows]
