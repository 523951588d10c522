"""The caller's logins and their password."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.schemas.common import Instant, Password, RequestSchema


class PasswordChangeSchema(RequestSchema):
    current_password = fields.String(
        required=True, load_only=True, validate=validate.Length(max=1024)
    )
    new_password = Password()


class LoginSessionSchema(Schema):
    id = fields.String()
    created_at = Instant(metadata={"description": "When this login signed in"})
    last_used_at = Instant(metadata={"description": "Its last use (to within a few minutes)"})
    current = fields.Boolean(metadata={"description": "True for the login making this request"})
    client = fields.String(
        metadata={
            "description": 'What signed in: e.g. "Chrome on Android", "Safari on iPhone", '
            '"portal", "partner app" (never the raw User-Agent)',
            "example": "Firefox on Windows",
        }
    )
