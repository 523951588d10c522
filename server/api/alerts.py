"""Alerts for therapists."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from server.api import Blueprint, page_of
from server.auth import current_user, login_required
from server.models import THERAPIST
from server.schemas.homework import AlertSchema
from server.services import alerts

PREFIX = "/alerts"
blp = Blueprint("alerts", __name__, description="Safety and inactivity alerts")


@blp.route("")
class Alerts(MethodView):
    @login_required(THERAPIST)
    @blp.response(200, AlertSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: Any) -> object:
        """The caller's open alerts, newest first."""
        return page_of(alerts.open_alerts(therapist=current_user()), pagination_parameters)


@blp.route("/<alert_id>/ack", methods=["POST"])
@login_required(THERAPIST)
@blp.doc(operationId="acknowledgeAlert")
@blp.response(200, AlertSchema)
@blp.alt_response(404, description="No such alert, or not yours")
def acknowledge(alert_id: str) -> object:
    """Acknowledge an alert; this never lifts a safety hold (resume the assignment for that)."""
    return alerts.acknowledge_alert(therapist=current_user(), alert_id=alert_id)
