"""Validated questionnaires: the catalog, the therapist's schedule per couple, partners'
responses (seen by their author and the therapist only)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from server.api import Blueprint
from server.auth import current_user, login_required
from server.models import CLIENT, THERAPIST
from server.schemas.measures import (
    CoupleMeasuresSchema,
    DueMeasureSchema,
    MeasureResponseCreateSchema,
    MeasureResponseSchema,
    MeasureSchema,
    ScheduleUpdateSchema,
)
from server.services import measures

PREFIX = ""
blp = Blueprint("measures", __name__, description="Validated questionnaires (measures)")


@blp.route("/measures", methods=["GET"])
@login_required()
@blp.response(200, MeasureSchema(many=True))
def list_measures() -> object:
    """The catalog's validated questionnaires: items as published, scoring, licence."""
    return [measures.measure_view(m) for m in measures.measures_catalog().values()]


@blp.route("/couples/<couple_id>/measures")
class CoupleMeasures(MethodView):
    @login_required(THERAPIST)
    @blp.response(200, CoupleMeasuresSchema)
    @blp.alt_response(404, description="No such couple, or not yours")
    def get(self, couple_id: str) -> object:
        """Per partner and measure, the scores over time, and what is due or overdue."""
        return measures.read_couple_measures(therapist=current_user(), couple_id=couple_id)

    @login_required(THERAPIST)
    @blp.arguments(ScheduleUpdateSchema)
    @blp.response(200, CoupleMeasuresSchema)
    @blp.alt_response(404, description="No such couple, or not yours")
    def put(self, body: dict[str, Any], couple_id: str) -> object:
        """Ask both partners these questionnaires, each every 1, 2 or 4 weeks from now."""
        therapist = current_user()
        measures.set_schedule(therapist=therapist, couple_id=couple_id, schedule=body["schedule"])
        return measures.read_couple_measures(therapist=therapist, couple_id=couple_id)


@blp.route("/me/measures")
class MyMeasures(MethodView):
    @login_required(CLIENT)
    @blp.response(200, DueMeasureSchema(many=True))
    def get(self) -> object:
        """The questionnaires due for the caller now."""
        return measures.due_measures(partner=current_user())


@blp.route("/measure-responses", methods=["POST"])
@login_required(CLIENT)
@blp.arguments(MeasureResponseCreateSchema)
@blp.response(201, MeasureResponseSchema)
@blp.alt_response(
    200, schema=MeasureResponseSchema, description="The same response again (a retry)"
)
@blp.alt_response(409, description="Same id, different answers; or the measure is not due")
@blp.alt_response(422, description="Unknown measure, or answers missing or not allowed")
def create_measure_response(body: dict[str, Any]) -> object:
    """Answer a due questionnaire (offline-safe: retry with the same id); scored here."""
    response, created = measures.record_response(author=current_user(), body=body)
    return measures.response_view(response), 201 if created else 200


@blp.route("/me/measure-responses")
class MyMeasureResponses(MethodView):
    @login_required(CLIENT)
    @blp.response(200, MeasureResponseSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: Any) -> object:
        """The caller's own questionnaire responses, newest first."""
        rows, total = measures.list_own_responses(
            author=current_user(),
            offset=pagination_parameters.first_item,
            limit=pagination_parameters.page_size,
        )
        pagination_parameters.item_count = total
        return [measures.response_view(r) for r in rows]
