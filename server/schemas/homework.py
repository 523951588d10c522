"""Assignments, homework, check-ins, alerts and progress."""

from __future__ import annotations

from datetime import UTC, datetime

from marshmallow import Schema, fields, validate

from server.models import FLAGS, VISIBILITIES
from server.schemas.common import ClientId, Instant, LocalDate, RequestSchema, StrictBoolean

REASON = fields.String(
    validate=validate.Length(max=2000), metadata={"description": "Why (therapists only)"}
)


class AssignmentCreateSchema(RequestSchema):
    program = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "Program slug"},
    )
    start_date = LocalDate(metadata={"description": "Local date; default today"})


class OverrideSchema(RequestSchema):
    per_week = fields.Integer(required=True, strict=True)


class AssignmentUpdateSchema(RequestSchema):
    overrides = fields.Dict(
        keys=fields.String(validate=validate.Length(max=64)),
        values=fields.Nested(OverrideSchema),
        metadata={"description": "exercise slug → {per_week}; 0 skips the exercise"},
    )
    note = fields.String(
        validate=validate.Length(max=5000),
        allow_none=True,
        metadata={"description": "Therapist's note, never shown to partners"},
    )


class TransitionSchema(RequestSchema):
    reason = REASON


class DayOrInstant(fields.String):
    """A history entry's `at`: the instant for therapists; the local day for partners."""

    def _serialize(self, value, attr, obj, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(value, datetime):
            return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return None if value is None else value.isoformat()


class HistoryEntrySchema(Schema):
    at = DayOrInstant(
        metadata={
            "description": "Therapists: the instant (ISO 8601 in UTC with Z). Partners: only "
            "the local day in their own time zone (YYYY-MM-DD), never a time.",
            "pattern": r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?Z)?$",
            "examples": ["2026-11-30T19:41:07.123456Z", "2026-11-30"],
        }
    )
    actor_id = fields.String(allow_none=True)
    action = fields.String(
        metadata={
            "enum": [
                "assigned",
                "advanced",
                "moved_back",
                "paused",
                "resumed",
                "completed",
                "updated",
                "held",
            ]
        }
    )
    from_stage = fields.Integer(allow_none=True)
    to_stage = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True, metadata={"description": "Therapists only"})


class AssignmentSchema(Schema):
    id = fields.String()
    couple_id = fields.String()
    program = fields.Dict(metadata={"description": "The frozen program version"})
    stage_index = fields.Integer()
    stage = fields.Dict(allow_none=True)
    status = fields.String(metadata={"enum": ["active", "paused", "completed"]})
    on_hold = fields.Boolean(
        metadata={
            "description": "The program is on a safety hold (therapists only): the whole "
            "program is paused for both partners until the therapist resumes it"
        }
    )
    start_date = fields.Date()
    overrides = fields.Dict()
    note = fields.String(allow_none=True, metadata={"description": "Therapists only"})
    history = fields.List(fields.Nested(HistoryEntrySchema))
    created_at = Instant()


class HomeworkItemSchema(Schema):
    exercise = fields.String()
    version = fields.Integer(
        metadata={
            "description": "The exercise version frozen with the assignment: its form is "
            "GET /exercises/{exercise}?version={version}"
        }
    )
    title = fields.String()
    kind = fields.String()
    joint = fields.Boolean()
    duration_minutes = fields.Integer()
    per_week = fields.Integer()
    done_this_week = fields.Integer(metadata={"description": "The caller's own sessions"})
    declined_this_week = fields.Integer(
        metadata={
            "description": "Sessions the caller recorded as declined this week: neither done "
            "nor missed (each one lowers `remaining`)"
        }
    )
    remaining = fields.Integer()
    due_today = fields.Boolean()
    due_today_count = fields.Integer()
    paused = fields.Boolean()


class WeekSchema(Schema):
    start = fields.Date()
    end = fields.Date()


class MeasureDueSchema(Schema):
    measure = fields.String(metadata={"description": "Measure slug, e.g. phq-9"})
    title = fields.String()
    due_since = Instant()


class HomeworkSchema(Schema):
    assignment_id = fields.String(allow_none=True)
    status = fields.String(
        allow_none=True, metadata={"enum": ["active", "paused", "scheduled", "completed", None]}
    )
    program = fields.Dict(allow_none=True)
    stage = fields.Dict(allow_none=True)
    week = fields.Nested(WeekSchema)
    today = fields.Date()
    items = fields.List(fields.Nested(HomeworkItemSchema))
    message = fields.String(allow_none=True)
    measures_due = fields.List(
        fields.Nested(MeasureDueSchema),
        metadata={
            "description": "Questionnaires due for the caller (their own only): answer with "
            "POST /measure-responses; the form is GET /measures"
        },
    )


class FlagsSchema(RequestSchema):
    pain = StrictBoolean()
    distress = StrictBoolean()
    stop = StrictBoolean()
    pressured = StrictBoolean()
    unsafe = StrictBoolean()


class CheckInCreateSchema(RequestSchema):
    id = ClientId()
    assignment_id = fields.String(required=True, validate=validate.Length(max=64))
    exercise = fields.String(required=True, validate=validate.Length(max=64))
    occurred_at = Instant(required=True)
    answers = fields.Dict(keys=fields.String(validate=validate.Length(max=64)), load_default=dict)
    reflection = fields.String(validate=validate.Length(max=10_000), allow_none=True)
    visibility = fields.String(validate=validate.OneOf(VISIBILITIES), load_default="therapist")
    flags = fields.Nested(FlagsSchema, load_default=dict)


class CheckInSchema(Schema):
    id = fields.String()
    assignment_id = fields.String()
    exercise = fields.String()
    author_id = fields.String()
    occurred_at = Instant()
    recorded_at = Instant()
    answers = fields.Dict(
        allow_none=True, metadata={"description": "null when the caller may not see them"}
    )
    reflection = fields.String(allow_none=True)
    visibility = fields.String(metadata={"enum": list(VISIBILITIES)})
    flags = fields.Dict(
        keys=fields.String(),
        values=fields.Boolean(),
        metadata={"description": f"Subset of {', '.join(FLAGS)}"},
    )
    safety = fields.Dict(metadata={"description": "Guidance for the author when a flag was raised"})


class AlertSchema(Schema):
    id = fields.String()
    couple_id = fields.String()
    partner_id = fields.String(allow_none=True)
    kind = fields.String(metadata={"enum": ["safety", "inactivity", "risk"]})
    flags = fields.List(fields.String())
    created_at = Instant()
    checkin_id = fields.String(allow_none=True)
    acknowledged_at = Instant(allow_none=True)


class ProgressWeekSchema(Schema):
    start = fields.Date()
    stage_index = fields.Integer()
    items = fields.List(fields.Dict())
    means = fields.Dict(keys=fields.String(), values=fields.Float())


class ProgressPartnerSchema(Schema):
    id = fields.String()
    name = fields.String()
    timezone = fields.String()
    weeks = fields.List(fields.Nested(ProgressWeekSchema))


class ProgressSchema(Schema):
    assignment_id = fields.String(allow_none=True)
    stage_index = fields.Integer()
    status = fields.String()
    partners = fields.List(fields.Nested(ProgressPartnerSchema))
    history = fields.List(fields.Nested(HistoryEntrySchema))
    suggestion = fields.Dict(allow_none=True)


class DeleteMeSchema(RequestSchema):
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=1024))
