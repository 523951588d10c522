"""Sign-up, sign-in, token refresh and logout."""

from __future__ import annotations

from flask import current_app, g, request

from server.api import Blueprint
from server.auth import (
    address_rate_limit_key,
    login_required,
    revoke_session,
    rotate_refresh_token,
    sign_in_rate_limit_key,
    token_refused,
)
from server.errors import Forbidden
from server.extensions import limiter
from server.schemas.users import (
    AcceptedSchema,
    PasswordResetConfirmSchema,
    PasswordResetRequestSchema,
    RefreshSchema,
    TherapistCreateSchema,
    TokenCreateSchema,
    TokenSchema,
    VerifyEmailSchema,
)
from server.services import account_mail, accounts
from server.services.audit import record_event

PREFIX = "/auth"
blp = Blueprint("auth", __name__, description="Accounts and tokens")


def _email_key() -> str:
    """Rate-limit key for sign-in: the account being tried from this address (never the
    account alone: a stranger's failures must not lock out the real user), else the
    caller's address."""
    body = request.get_json(silent=True)
    email = body.get("email") if isinstance(body, dict) else None
    if isinstance(email, str) and email.strip():
        return sign_in_rate_limit_key(accounts.normalize_email(email)[:254])
    return sign_in_rate_limit_key(None)


def _failed(response) -> bool:  # type: ignore[no-untyped-def]
    return response.status_code == 401


def _address_key() -> str:
    """`address_rate_limit_key` of a JSON body's `email`."""
    body = request.get_json(silent=True)
    return address_rate_limit_key(body.get("email") if isinstance(body, dict) else None)


@blp.route("/therapists", methods=["POST"])
@limiter.limit("60 per minute")
@limiter.limit("5 per hour", key_func=_address_key)
@blp.arguments(TherapistCreateSchema)
@blp.response(202, AcceptedSchema)
@blp.alt_response(403, description="Therapist sign-up is switched off")
@blp.alt_response(429, description="Too many attempts: wait for `Retry-After` seconds")
def sign_up_therapist(body: dict[str, str]) -> object:
    """Sign up as a therapist: the same answer whether or not the address has an account.

    A new address receives a link to confirm it (valid 24 h); the account signs in only
    after that. An address with an account receives a note instead (with a link to
    choose a new password), and nothing changes."""
    if not current_app.config["TANDEM_SETTINGS"].allow_therapist_signup:
        raise Forbidden("Therapist sign-up is switched off on this server.", code="signup_closed")
    return {"detail": account_mail.request_therapist_signup(**body)}, 202


@blp.route("/verify-email", methods=["POST"])
@limiter.limit("30 per 15 minutes", deduct_when=token_refused)
@blp.arguments(VerifyEmailSchema)
@blp.response(204)
@blp.alt_response(404, description="Not a token we issued (`token_invalid`)")
@blp.alt_response(410, description="Expired (`token_expired`) or already used (`token_used`)")
@blp.alt_response(429, description="Too many attempts: wait for `Retry-After` seconds")
def verify_email(body: dict[str, str]) -> None:
    """Confirm an email address with the token of the sign-up email (once, within 24 h)."""
    account_mail.verify_email(token=body["token"])
    return None


@blp.route("/password-reset", methods=["POST"])
@limiter.limit("30 per 15 minutes")
@limiter.limit("5 per hour", key_func=_address_key)
@blp.arguments(PasswordResetRequestSchema)
@blp.response(202, AcceptedSchema)
@blp.alt_response(429, description="Too many attempts: wait for `Retry-After` seconds")
def request_password_reset(body: dict[str, str]) -> object:
    """Ask for a password reset: the same answer for every address; an account's address
    receives a one-time link (valid 1 h)."""
    return {"detail": account_mail.request_password_reset(email=body["email"])}, 202


@blp.route("/password-reset/confirm", methods=["POST"])
@limiter.limit("10 per 15 minutes", deduct_when=token_refused)
@blp.arguments(PasswordResetConfirmSchema)
@blp.response(204)
@blp.alt_response(404, description="Not a token or code we issued (`token_invalid`)")
@blp.alt_response(410, description="Expired (`token_expired`) or already used (`token_used`)")
@blp.alt_response(429, description="Too many attempts: wait for `Retry-After` seconds")
def confirm_password_reset(body: dict[str, str]) -> None:
    """Set a new password with a reset token or a therapist's recovery code (once); every
    login of the account ends."""
    account_mail.confirm_password_reset(token=body["token"], new_password=body["new_password"])
    return None


@blp.route("/token", methods=["POST"])
@limiter.limit("10 per 15 minutes", key_func=_email_key, deduct_when=_failed)
@limiter.limit("100 per 15 minutes", deduct_when=_failed)
@blp.arguments(TokenCreateSchema)
@blp.response(200, TokenSchema)
@blp.alt_response(401, description="Wrong email or password (the same answer for both)")
@blp.alt_response(429, description="Too many attempts: wait for `Retry-After` seconds")
def create_token(body: dict[str, str]) -> object:
    """Sign in: exchange email and password for an access and a refresh token."""
    return accounts.sign_in(email=body["email"], password=body["password"])


@blp.route("/refresh", methods=["POST"])
@limiter.limit("120 per minute")
@blp.arguments(RefreshSchema)
@blp.response(200, TokenSchema)
@blp.alt_response(401, description="Invalid, expired or re-used refresh token")
@blp.alt_response(429, description="Too many attempts: wait for `Retry-After` seconds")
def refresh_token(body: dict[str, str]) -> object:
    """Spend a refresh token for a new pair (re-using a spent one ends the login)."""
    return rotate_refresh_token(refresh_token=body["refresh_token"])


@blp.route("/logout", methods=["POST"])
@login_required()
@blp.response(204)
def logout() -> None:
    """End this login: its access and refresh tokens stop working."""
    revoke_session(session_id=g.session_id, reason="logout")
    record_event(
        actor_id=g.user.id,
        action="session.logged_out",
        object_type="session",
        object_id=g.session_id,
    )
    return None
