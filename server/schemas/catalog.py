"""Exercises and programs."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.schemas.common import RequestSchema

KINDS = ["sensate_focus", "communication", "journaling"]


class QuestionSchema(Schema):
    key = fields.String()
    type = fields.String(metadata={"enum": ["scale", "boolean", "choice", "text"]})
    label = fields.String()
    required = fields.Boolean()
    min = fields.Integer(allow_none=True)
    max = fields.Integer(allow_none=True)
    min_label = fields.String(allow_none=True, metadata={"description": "Anchor label at min"})
    max_label = fields.String(allow_none=True, metadata={"description": "Anchor label at max"})
    options = fields.List(fields.String())
    multiple = fields.Boolean()
    max_length = fields.Integer(allow_none=True)
    flag = fields.String(
        allow_none=True,
        metadata={
            "description": "Safety flag this answer can raise",
            "enum": ["pain", "distress", "stop", "pressured", "unsafe", None],
        },
    )
    flag_at = fields.Integer(allow_none=True, metadata={"description": "Scale threshold"})
    audience = fields.String(
        metadata={
            "description": (
                "Who reads the answer besides its author: 'all' (the default; the partner "
                "too when shared with the couple) or 'therapist' (never the partner)"
            ),
            "enum": ["all", "therapist"],
        }
    )


class ExerciseSchema(Schema):
    slug = fields.String()
    version = fields.Integer()
    kind = fields.String(metadata={"enum": KINDS})
    title = fields.String()
    summary = fields.String()
    instructions = fields.String(metadata={"description": "Markdown"})
    joint = fields.Boolean(metadata={"description": "Done together; each partner logs their own"})
    duration_minutes = fields.Integer()
    duration_range = fields.List(fields.Integer(), allow_none=True)
    safety = fields.String(metadata={"description": "Markdown"})
    includes = fields.List(fields.String())
    off_limits = fields.List(fields.String())
    initiator = fields.String(allow_none=True)
    form = fields.List(fields.Nested(QuestionSchema))
    sources = fields.List(fields.String())
    therapist_notes = fields.String(
        metadata={"description": "Markdown guidance for the therapist; never sent to a partner"}
    )


class ExerciseQueryArgsSchema(RequestSchema):
    kind = fields.String(validate=validate.OneOf(KINDS))


class ExerciseVersionArgsSchema(RequestSchema):
    version = fields.Integer(
        strict=False,
        validate=validate.Range(min=1, max=1_000_000),
        metadata={
            "description": (
                "A published version (default: the newest). An assignment keeps the "
                "versions it started with; its check-in forms are those versions' forms"
            )
        },
    )


class StageItemSchema(Schema):
    exercise = fields.String(required=True)
    per_week = fields.Integer(required=True, strict=True)


class CriteriaSchema(Schema):
    min_sessions = fields.Integer(strict=True)
    exercise = fields.String(allow_none=True)
    max_mean = fields.Dict(keys=fields.String(), values=fields.Float())
    min_mean = fields.Dict(keys=fields.String(), values=fields.Float())
    mean_of_last = fields.Integer(allow_none=True, strict=True)
    require_ready = fields.Boolean()
    min_yes_share = fields.Dict(
        keys=fields.String(),
        values=fields.Float(),
        metadata={"description": "Yes/no question key -> least share of yes answers (0 to 1)"},
    )


class StageSchema(Schema):
    index = fields.Integer()
    title = fields.String()
    guidance = fields.String()
    exercises = fields.List(fields.Nested(StageItemSchema))
    includes = fields.List(fields.String())
    off_limits = fields.List(fields.String())
    min_weeks = fields.Integer()
    criteria = fields.Nested(CriteriaSchema, allow_none=True)
    therapist_notes = fields.String(
        metadata={"description": "Markdown guidance for the therapist; never sent to a partner"}
    )


class ProgramSchema(Schema):
    slug = fields.String()
    version = fields.Integer()
    title = fields.String()
    summary = fields.String()
    owner_id = fields.String(allow_none=True)
    custom = fields.Boolean(metadata={"description": "A therapist's own program"})
    stages = fields.List(fields.Nested(StageSchema))
    therapist_notes = fields.String(
        metadata={"description": "Markdown guidance for the therapist; never sent to a partner"}
    )


class StageCreateSchema(RequestSchema):
    title = fields.String(required=True)
    guidance = fields.String()
    exercises = fields.List(fields.Nested(StageItemSchema), required=True)
    includes = fields.List(fields.String())
    off_limits = fields.List(fields.String())
    min_weeks = fields.Integer(strict=True)
    criteria = fields.Nested(CriteriaSchema, allow_none=True)
    therapist_notes = fields.String(
        metadata={"description": "Guidance for yourself; never shown to a partner"}
    )


class ProgramCreateSchema(RequestSchema):
    slug = fields.String(required=True, metadata={"example": "slow-start"})
    title = fields.String(required=True)
    summary = fields.String()
    stages = fields.List(fields.Nested(StageCreateSchema), required=True)
    therapist_notes = fields.String(
        metadata={"description": "Guidance for yourself; never shown to a partner"}
    )
