"""Shared fields and validators."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from marshmallow import Schema, ValidationError, fields, pre_load, validate

from notifications.planning import is_valid_timezone
from server.services.accounts import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH


class RequestSchema(Schema):
    """Base of request bodies: unknown fields are refused, and so are NUL characters
    (PostgreSQL cannot store them; they are never meaningful in our text)."""

    @pre_load
    def _refuse_nul(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, dict):
            bad = {
                key: ["Must not contain NUL characters."]
                for key, value in data.items()
                if _has_nul(value)
            }
            if bad:
                raise ValidationError(bad)
        return data


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def validate_timezone(value: str) -> None:
    if not is_valid_timezone(value):
        raise ValidationError("Not a known IANA time zone (e.g. Europe/Berlin).")


def validate_not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("Must not be blank.")


def Password() -> fields.String:
    return fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(
            min=PASSWORD_MIN_LENGTH,
            max=PASSWORD_MAX_LENGTH,
            error=f"Must be between {PASSWORD_MIN_LENGTH} and {PASSWORD_MAX_LENGTH} characters.",
        ),
    )


def Name(required: bool = True) -> fields.String:
    return fields.String(
        required=required,
        validate=[validate.Length(min=1, max=100), validate_not_blank],
        metadata={"example": "Alex"},
    )


def Timezone(required: bool = True) -> fields.String:
    return fields.String(
        required=required,
        validate=validate_timezone,
        metadata={"description": "IANA time zone", "example": "Europe/Berlin"},
    )


class ProblemSchema(Schema):
    """An RFC 9457 problem document."""

    type = fields.String(metadata={"example": "about:blank"})
    title = fields.String(metadata={"example": "Unprocessable Entity"})
    status = fields.Integer(metadata={"example": 422})
    detail = fields.String()
    code = fields.String(metadata={"description": "Machine-readable reason"})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "Field → messages (validation failures)"},
    )


class StrictBoolean(fields.Boolean):
    """true or false only: no "yes", 1 or "on" (JSON has booleans)."""

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        if not isinstance(value, bool):
            raise ValidationError("Not a valid boolean.")
        return value


class Instant(fields.DateTime):
    """An instant, written as ISO 8601 in UTC with `Z` (naive input is refused)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(format="iso", **kwargs)  # type: ignore[arg-type]

    def _serialize(self, value, attr, obj, **kwargs):  # type: ignore[no-untyped-def]
        if value is None:
            return None
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        result = super()._deserialize(value, attr, data, **kwargs)
        if result.tzinfo is None:
            raise ValidationError("Must include a time zone offset (e.g. Z).")
        return result.astimezone(UTC)
