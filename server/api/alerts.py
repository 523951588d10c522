"""Alerts for therapists."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

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
    def get(self) -> object:
        """The caller's open alerts, newest first."""
        return alerts.open_alerts(therapist=current_user())


@blp.route("/<alert_id>/ack", methods=["POST"])
@login_required(THERAPIST)
@blp.response(200, AlertSchema)
@blp.alt_response(404, description="No such alert, or not yours")
def acknowledge(alert_id: str) -> object:
    """Acknowledge an alert; the last open safety alert lifts the hold on joint exercises."""
    return alerts.acknowledge_alert(therapist=current_user(), alert_id=alert_id)
