"""Validated questionnaires: the catalog, schedules, responses."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from exercises.measures import DIRECTIONS, EVERY_WEEKS
from server.schemas.common import ClientId, Instant, RequestSchema


class MeasureOptionSchema(Schema):
    value = fields.Integer()
    label = fields.String()


class MeasureItemSchema(Schema):
    key = fields.String()
    label = fields.String(metadata={"description": "The item's exact published wording"})
    type = fields.String(metadata={"enum": ["options"]})
    required = fields.Boolean()
    scored = fields.Boolean(metadata={"description": "false: asked but not in the total"})
    options = fields.List(fields.Nested(MeasureOptionSchema))


class BandSchema(Schema):
    min = fields.Integer()
    max = fields.Integer()
    label = fields.String()


class ReliableChangeSchema(Schema):
    points = fields.Integer()
    source = fields.String()
    checked = fields.Boolean(metadata={"description": "Checked against the source"})


class ScoringSchema(Schema):
    method = fields.String(metadata={"enum": ["sum"]})
    min = fields.Integer()
    max = fields.Integer()
    bands = fields.List(fields.Nested(BandSchema))
    cutoff = fields.Dict(allow_none=True)
    reliable_change = fields.Nested(ReliableChangeSchema, allow_none=True)


class MeasureSchema(Schema):
    slug = fields.String()
    version = fields.Integer()
    title = fields.String()
    name = fields.String()
    instructions = fields.String()
    recall = fields.String(allow_none=True, metadata={"description": "The recall period"})
    direction = fields.String(metadata={"enum": list(DIRECTIONS)})
    form = fields.List(fields.Nested(MeasureItemSchema))
    scoring = fields.Nested(ScoringSchema)
    licence = fields.Dict()
    sources = fields.List(fields.String())


class ScheduleEntrySchema(RequestSchema):
    measure = fields.String(required=True, validate=validate.Length(min=1, max=32))
    every_weeks = fields.Integer(required=True, strict=True, validate=validate.OneOf(EVERY_WEEKS))


class ScheduleUpdateSchema(RequestSchema):
    schedule = fields.List(
        fields.Nested(ScheduleEntrySchema), required=True, validate=validate.Length(max=20)
    )


class ScheduleEntryViewSchema(Schema):
    measure = fields.String()
    every_weeks = fields.Integer()
    started_at = Instant()


class SeriesResponseSchema(Schema):
    id = fields.String()
    completed_at = Instant()
    score = fields.Integer()
    band = fields.String()
    flags = fields.List(fields.String())


class SeriesSchema(Schema):
    partner_id = fields.String()
    measure = fields.String()
    title = fields.String()
    direction = fields.String(metadata={"enum": list(DIRECTIONS)})
    min = fields.Integer()
    max = fields.Integer()
    bands = fields.List(fields.Nested(BandSchema))
    reliable_change = fields.Integer(allow_none=True)
    every_weeks = fields.Integer(allow_none=True)
    responses = fields.List(fields.Nested(SeriesResponseSchema))
    due_since = Instant(allow_none=True)
    overdue = fields.Boolean()


class CoupleMeasuresSchema(Schema):
    schedule = fields.List(fields.Nested(ScheduleEntryViewSchema))
    series = fields.List(fields.Nested(SeriesSchema))


class DueMeasureSchema(Schema):
    measure = fields.String()
    title = fields.String()
    due_since = Instant()


class MeasureResponseCreateSchema(RequestSchema):
    id = ClientId()
    measure = fields.String(required=True, validate=validate.Length(min=1, max=32))
    answers = fields.Dict(
        required=True,
        keys=fields.String(validate=validate.Length(max=64)),
        values=fields.Raw(allow_none=True),
        metadata={"description": "item key → option value (a whole number)"},
    )
    score = fields.Integer(
        allow_none=True,
        metadata={"description": "Ignored: the server scores the answers from the catalog"},
    )


class MeasureResponseSchema(Schema):
    id = fields.String()
    measure = fields.String()
    measure_version = fields.Integer()
    score = fields.Integer(metadata={"description": "Scored by the server"})
    band = fields.String()
    flags = fields.List(fields.String(), metadata={"description": "`risk` for a risk answer"})
    completed_at = Instant()
    answers = fields.Dict()
    guidance = fields.Dict(
        metadata={"description": "Crisis guidance for the author when a risk answer was given"}
    )
