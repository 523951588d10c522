"""Reminder settings, the caller's reminders, and push devices."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import g
from flask.views import MethodView

from server.api import Blueprint, page_of
from server.auth import current_user, login_required
from server.errors import ValidationFailed
from server.models import CLIENT
from server.schemas.reminders import (
    DeviceCreateSchema,
    DeviceSchema,
    ReminderQueryArgsSchema,
    ReminderSchema,
    ReminderSettingsSchema,
    ReminderSettingsUpdateSchema,
)
from server.services import devices, reminders, replans

PREFIX = "/me"
blp = Blueprint("reminders", __name__, description="Reminders and push devices")

MAX_WINDOW_DAYS = 92


@blp.route("/reminder-settings")
class ReminderSettingsView(MethodView):
    @login_required(CLIENT)
    @blp.response(200, ReminderSettingsSchema)
    def get(self) -> object:
        """The caller's reminder settings (sensible defaults until changed)."""
        return reminders.settings_view(current_user())

    @login_required(CLIENT)
    @blp.arguments(ReminderSettingsUpdateSchema)
    @blp.response(200, ReminderSettingsSchema)
    def put(self, body: dict[str, Any]) -> object:
        """Change the caller's reminder settings; the next reminders are re-planned."""
        return reminders.update_settings(user=current_user(), data=body)


@blp.route("/reminders")
class MyReminders(MethodView):
    @login_required(CLIENT)
    @blp.arguments(ReminderQueryArgsSchema, location="query")
    @blp.response(200, ReminderSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> object:
        """The caller's reminders in a window of local dates, whatever their status."""
        user = current_user()
        replans.apply_own_request(user.id)  # read-your-writes: a pending re-plan first
        today = reminders.local_today(user)
        start = args.get("from_") or today - timedelta(days=7)
        end = args.get("to") or today + timedelta(days=14)
        if end < start:
            raise ValidationFailed("Empty window.", errors={"to": ["Must not be before from."]})
        if (end - start).days > MAX_WINDOW_DAYS:
            raise ValidationFailed(
                "Window too long.", errors={"to": [f"At most {MAX_WINDOW_DAYS} days."]}
            )
        rows = [
            r
            for r in reminders.list_reminders(user=user, start=start, end=end)
            if r.kind != "alert"
        ]
        return [
            {
                "id": r.id,
                "kind": r.kind,
                "send_at": r.send_at,
                "local_date": r.local_date,
                "local_time": r.local_time,
                "status": r.status,
                "reason": r.error,
                "sent_at": r.sent_at,
                "attempts": r.attempts,
            }
            for r in page_of(rows, pagination_parameters)
        ]


@blp.route("/devices", methods=["POST"])
@login_required()
@blp.arguments(DeviceCreateSchema)
@blp.response(201, DeviceSchema)
@blp.alt_response(200, schema=DeviceSchema, description="This token was known already")
@blp.alt_response(
    409,
    description="The token belongs to another account's open login (`device_taken`): sign "
    "that account out on this device first",
)
def register_device(body: dict[str, str]) -> object:
    """Register this phone's push token (therapists too: for alerts)."""
    device, created = devices.register_device(
        user=current_user(),
        session_id=g.session_id,
        token=body["token"],
        platform=body["platform"],
    )
    return device, 201 if created else 200


@blp.route("/devices/<device_id>", methods=["DELETE"])
@login_required()
@blp.response(204)
@blp.alt_response(404, description="No such device of the caller's")
def delete_device(device_id: str) -> None:
    """Forget a push token: it gets no more pushes, at once."""
    devices.delete_device(user=current_user(), device_id=device_id)
