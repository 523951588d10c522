"""Sign-up, sign-in, token refresh and logout."""

from __future__ import annotations

from flask import current_app, g, request

from server.api import Blueprint
from server.auth import (
    login_required,
    revoke_session,
    rotate_refresh_token,
    sign_in_rate_limit_key,
)
from server.errors import Forbidden
from server.extensions import limiter
from server.schemas.users import (
    RefreshSchema,
    TherapistCreateSchema,
    TokenCreateSchema,
    TokenSchema,
    UserSchema,
)
from server.services import accounts
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


@blp.route("/therapists", methods=["POST"])
@limiter.limit("60 per minute")
@blp.arguments(TherapistCreateSchema)
@blp.response(201, UserSchema)
@blp.alt_response(403, description="Therapist sign-up is switched off")
@blp.alt_response(409, description="Email already registered")
@blp.alt_response(429, description="Too many attempts: wait for `Retry-After` seconds")
def sign_up_therapist(body: dict[str, str]) -> object:
    """Create a therapist account."""
    if not current_app.config["TANDEM_SETTINGS"].allow_therapist_signup:
        raise Forbidden("Therapist sign-up is switched off on this server.", code="signup_closed")
    return accounts.sign_up_therapist(**body)


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
