"""Reminder settings, reminders and devices."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.schemas.common import DeviceToken, Instant, LocalDate, RequestSchema, StrictBoolean

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class QuietHoursSchema(Schema):
    start = fields.String(required=True, metadata={"example": "23:00"})
    end = fields.String(required=True, metadata={"example": "07:00"})


class ReminderSettingsSchema(Schema):
    timezone = fields.String(metadata={"example": "Europe/Berlin"})
    times = fields.List(fields.String(), metadata={"example": ["20:00"]})
    days = fields.List(fields.String(validate=validate.OneOf(DAYS)))
    quiet_hours = fields.Nested(QuietHoursSchema, allow_none=True)
    paused = fields.Boolean()
    discreet = fields.Boolean()
    text = fields.String(allow_none=True, metadata={"description": "Own wording of the push"})


class ReminderSettingsUpdateSchema(RequestSchema):
    """Field formats are checked by the planner's own validation (one message per field)."""

    # The types below only document the shape (the planner checks it and says why).
    timezone = fields.Raw(metadata={"type": "string", "example": "Europe/Berlin"})
    times = fields.Raw(
        metadata={"type": "array", "items": {"type": "string"}, "example": ["20:00"]}
    )
    days = fields.Raw(
        metadata={"type": "array", "items": {"type": "string", "enum": DAYS}, "example": ["mon"]}
    )
    quiet_hours = fields.Raw(
        allow_none=True,
        metadata={
            "type": "object",
            "properties": {"start": {"type": "string"}, "end": {"type": "string"}},
            "example": {"start": "23:00", "end": "07:00"},
        },
    )
    paused = StrictBoolean()
    discreet = StrictBoolean()
    text = fields.Raw(allow_none=True, metadata={"type": "string"})


class ReminderQueryArgsSchema(RequestSchema):
    from_ = LocalDate(data_key="from", metadata={"description": "Local date (default: 7 days ago)"})
    to = LocalDate(metadata={"description": "Local date (default: 14 days ahead)"})


class ReminderSchema(Schema):
    id = fields.String()
    kind = fields.String(metadata={"enum": ["reminder", "nudge", "measure"]})
    send_at = Instant(metadata={"description": "Intended time"})
    local_date = fields.String(allow_none=True)
    local_time = fields.String(allow_none=True)
    status = fields.String(
        metadata={"enum": ["pending", "sending", "sent", "failed", "cancelled", "dropped"]}
    )
    reason = fields.String(allow_none=True, metadata={"description": "Why it was not sent"})
    sent_at = Instant(allow_none=True)
    attempts = fields.Integer()


class DeviceCreateSchema(RequestSchema):
    token = DeviceToken()
    platform = fields.String(required=True, validate=validate.OneOf(["ios", "android", "web"]))


class DeviceSchema(Schema):
    id = fields.String()
    platform = fields.String()
    created_at = Instant()
    last_seen_at = Instant()
