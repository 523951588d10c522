"""Couples and invites."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.schemas.common import Instant, RequestSchema, validate_not_blank


class CoupleCreateSchema(RequestSchema):
    label = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=100), validate_not_blank],
        metadata={"description": "How the therapist refers to the couple", "example": "R. & S."},
    )


class PartnerSchema(Schema):
    id = fields.String()
    name = fields.String()
    timezone = fields.String()


class InviteSchema(Schema):
    slot = fields.Integer(metadata={"description": "Partner slot, 1 or 2"})
    code = fields.String(
        allow_none=True, metadata={"description": "The code to give the partner; null once used"}
    )
    status = fields.String(metadata={"enum": ["pending", "accepted", "expired"]})
    expires_at = Instant()
    accepted_at = Instant(allow_none=True)


class PartnerAdherenceSchema(Schema):
    id = fields.String()
    name = fields.String()
    adherence_this_week = fields.Float(allow_none=True)


class CoupleSummarySchema(Schema):
    current_stage = fields.Integer(allow_none=True)
    status = fields.String(allow_none=True, metadata={"enum": ["active", "paused", None]})
    on_hold = fields.Boolean(metadata={"description": "The whole program is on a safety hold"})
    adherence_this_week = fields.Float(
        allow_none=True, metadata={"description": "Sessions done / target this week, 0..1"}
    )
    partners = fields.List(
        fields.Nested(PartnerAdherenceSchema),
        metadata={"description": "This week's adherence per partner (own local week)"},
    )
    open_alerts = fields.Integer()


class CoupleSchema(Schema):
    id = fields.String()
    label = fields.String()
    status = fields.String(metadata={"enum": ["invited", "active"]})
    created_at = Instant()
    partners = fields.List(fields.Nested(PartnerSchema))
    invites = fields.List(fields.Nested(InviteSchema))
    summary = fields.Nested(CoupleSummarySchema)
