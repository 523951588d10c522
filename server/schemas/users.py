"""Accounts, tokens and the caller's profile."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.schemas.common import Instant, Name, Password, RequestSchema, Timezone


class UserSchema(Schema):
    id = fields.String(dump_only=True)
    email = fields.String()
    name = fields.String()
    role = fields.String(metadata={"enum": ["therapist", "client"]})
    timezone = fields.String()
    couple_id = fields.String(allow_none=True, metadata={"description": "null for therapists"})
    created_at = Instant()


class TherapistCreateSchema(RequestSchema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = Password()
    name = Name()


class TokenCreateSchema(RequestSchema):
    email = fields.String(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=1024))


class RefreshSchema(RequestSchema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=512))


class TokenSchema(Schema):
    access_token = fields.String()
    refresh_token = fields.String()
    token_type = fields.String(metadata={"example": "Bearer"})
    expires_in = fields.Integer(metadata={"description": "Seconds until the access token expires"})


class MeUpdateSchema(RequestSchema):
    name = Name(required=False)
    timezone = Timezone(required=False)


class InviteAcceptSchema(RequestSchema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = Password()
    name = Name()
    timezone = Timezone()


class InviteAcceptedSchema(TokenSchema):
    user = fields.Nested(UserSchema)


# --- sign-up without enumeration, verification, password reset, recovery codes -------

TOKEN_MAX_LENGTH = 200


def OneTimeToken() -> fields.String:
    return fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(min=1, max=TOKEN_MAX_LENGTH),
        metadata={
            "description": "The token of an email's link (`?token=`), or for a password "
            "reset a recovery code from the therapist (e.g. `7KQ2-M9XD-HT4R-B8WN`)"
        },
    )


class AcceptedSchema(Schema):
    detail = fields.String(
        metadata={"description": "The same text whether or not the address has an account"}
    )


class VerifyEmailSchema(RequestSchema):
    token = OneTimeToken()


class PasswordResetRequestSchema(RequestSchema):
    email = fields.Email(required=True, validate=validate.Length(max=254))


class PasswordResetConfirmSchema(RequestSchema):
    token = OneTimeToken()
    new_password = Password()


class RecoveryCodeSchema(Schema):
    code = fields.String(
        metadata={"description": "One-time, for `POST /auth/password-reset/confirm`'s `token`"}
    )
    expires_at = Instant()
