"""Accepting an invite: how a partner joins their couple."""

from __future__ import annotations

from server.api import Blueprint
from server.auth import token_refused
from server.extensions import limiter
from server.schemas.users import InviteAcceptedSchema, InviteAcceptSchema
from server.services import couples

PREFIX = "/invites"
blp = Blueprint("invites", __name__, description="Joining a couple")


@blp.route("/<code>/accept", methods=["POST"])
@limiter.limit("60 per minute")
@limiter.limit("30 per 15 minutes", deduct_when=token_refused)
@blp.arguments(InviteAcceptSchema)
@blp.response(201, InviteAcceptedSchema)
@blp.alt_response(404, description="No such invite code")
@blp.alt_response(409, description="Invite already used, or email already registered")
@blp.alt_response(410, description="Invite expired")
@blp.alt_response(429, description="Too many attempts: wait for `Retry-After` seconds")
def accept_invite(body: dict[str, str], code: str) -> object:
    """Create the partner's account in the invited couple and sign them in."""
    user, tokens = couples.accept_invite(code=code, **body)
    return {"user": user, **tokens.__dict__}
