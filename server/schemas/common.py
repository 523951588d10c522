"""Shared fields and validators."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime

from marshmallow import Schema, ValidationError, fields, validate

from notifications.planning import is_valid_timezone
from server.services.accounts import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH


class RequestSchema(Schema):
    """Base of request bodies and query arguments: unknown fields are refused.

    NUL characters, lone surrogates and numbers that do not fit never get this far:
    `server.input_guard` refuses them for every request before any schema runs.
    """


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
    """An RFC 9457 problem document (every error, as `application/problem+json`)."""

    type = fields.String(required=True, metadata={"example": "about:blank"})
    title = fields.String(required=True, metadata={"example": "Unprocessable Entity"})
    status = fields.Integer(required=True, metadata={"example": 422})
    detail = fields.String(required=True, metadata={"example": "Some fields are invalid."})
    code = fields.String(
        metadata={"description": "Machine-readable reason", "example": "validation_failed"}
    )
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "Field → messages (validation failures)"},
    )


class PaginationMetadataSchema(Schema):
    """What the `X-Pagination` header of a list holds (as a JSON text)."""

    total = fields.Integer(required=True, metadata={"description": "Number of items"})
    total_pages = fields.Integer(required=True, metadata={"description": "Number of pages"})
    first_page = fields.Integer(metadata={"description": "1 (absent for an empty list)"})
    last_page = fields.Integer(metadata={"description": "The last page (absent when empty)"})
    page = fields.Integer(metadata={"description": "This page (absent when empty)"})
    previous_page = fields.Integer()
    next_page = fields.Integer()


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
        check_year(result)  # before astimezone: year 1 or 9999 would overflow there
        if result.tzinfo is None:
            raise ValidationError("Must include a time zone offset (e.g. Z).")
        return result.astimezone(UTC)


class LocalDate(fields.Date):
    """A calendar date (ISO 8601, `2026-03-01`) in the years 1900 to 2200."""

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        result = super()._deserialize(value, attr, data, **kwargs)
        check_year(result)
        return result


# Dates and instants outside these years are refused: date arithmetic near year 1 or
# 9999 overflows, and no homework is done then.
MIN_YEAR, MAX_YEAR = 1900, 2200


def check_year(value: date | datetime) -> None:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValidationError(f"Must be a date in the years {MIN_YEAR} to {MAX_YEAR}.")


_ASCII_INT = re.compile(r"[+-]?[0-9]{1,18}")


def parse_ascii_int(text: str, *, minimum: int, maximum: int) -> int:
    """A whole number written in ASCII digits, in [minimum, maximum] (else ValueError).

    `int()` and `str.isdigit` accept other digits too ("٣", and for isdigit "²"); forms
    and query strings take only 0-9.
    """
    text = text.strip()
    if not _ASCII_INT.fullmatch(text):
        raise ValueError("not a whole number")
    value = int(text)
    if not minimum <= value <= maximum:
        raise ValueError(f"not between {minimum} and {maximum}")
    return value


class AsciiInteger(fields.Integer):
    """An integer given as a JSON number or as ASCII digits (query strings, forms),
    between `minimum` and `maximum`."""

    def __init__(self, *, minimum: int = 0, maximum: int = 2**31 - 1, **kwargs: object) -> None:
        super().__init__(strict=False, **kwargs)  # type: ignore[arg-type]
        self.minimum, self.maximum = minimum, maximum

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValidationError("Must be a whole number.")
        try:
            return parse_ascii_int(str(value), minimum=self.minimum, maximum=self.maximum)
        except ValueError:
            raise ValidationError(
                f"Must be a whole number from {self.minimum} to {self.maximum}."
            ) from None


# Push tokens are printable ASCII: FCM's are about 160-200 characters. The cap keeps
# the unique index's entries far below PostgreSQL's btree limit (2,704 bytes per row).
DEVICE_TOKEN_MAX = 1024


def DeviceToken() -> fields.String:
    return fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=DEVICE_TOKEN_MAX),
            validate.Regexp(r"[\x21-\x7e]+\Z", error="Must be printable ASCII without spaces."),
        ],
        metadata={"description": "Push token (FCM registration token)"},
    )


def _client_uuid(value: str) -> None:
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise ValidationError("Must be a UUID.") from None
    if str(parsed) != value.lower():
        raise ValidationError("Must be a UUID in its usual form.")


def ClientId() -> fields.String:
    """The client-generated UUID of a record sent offline-safely (check-ins, questionnaire
    responses): the same id on every retry is what makes a retry one record."""
    return fields.String(
        required=True,
        validate=_client_uuid,
        metadata={"description": "Client-generated UUID", "format": "uuid"},
    )
