"""Couples (therapist only)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from server.api import Blueprint
from server.auth import current_user, login_required
from server.db import utcnow
from server.extensions import limiter
from server.models import THERAPIST, Couple
from server.schemas.couples import CoupleCreateSchema, CoupleSchema, InviteSchema
from server.schemas.users import RecoveryCodeSchema
from server.services import account_mail, couples, progress

PREFIX = "/couples"
blp = Blueprint("couples", __name__, description="A therapist's couples")


def couple_view(couple: Couple, summary: dict[str, Any] | None = None) -> dict[str, Any]:
    """A couple as the therapist sees it, invite codes decrypted while still usable."""
    now = utcnow()
    return {
        "id": couple.id,
        "label": couple.label,
        "status": couple.status,
        "created_at": couple.created_at,
        "partners": couple.partners,
        "invites": [
            {
                "slot": invite.slot,
                "code": couples.invite_code(invite) if invite.status_at(now) == "pending" else None,
                "status": invite.status_at(now),
                "expires_at": invite.expires_at,
                "accepted_at": invite.accepted_at,
            }
            for invite in couple.invites
        ],
        "summary": summary or progress.couple_summaries([couple])[couple.id],
    }


@blp.route("")
class Couples(MethodView):
    @login_required(THERAPIST)
    @blp.response(200, CoupleSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: Any) -> object:
        """The caller's couples, newest first, each with a summary."""
        items, total = couples.list_couples(
            therapist=current_user(),
            offset=pagination_parameters.first_item,
            limit=pagination_parameters.page_size,
        )
        pagination_parameters.item_count = total
        summaries = progress.couple_summaries(items)
        return [couple_view(c, summaries[c.id]) for c in items]

    @login_required(THERAPIST)
    @blp.doc(operationId="createCouple")
    @blp.arguments(CoupleCreateSchema)
    @blp.response(201, CoupleSchema)
    def post(self, body: dict[str, str]) -> object:
        """Create a couple and its two invite codes."""
        return couple_view(couples.create_couple(therapist=current_user(), label=body["label"]))


@blp.route("/<couple_id>")
class CoupleItem(MethodView):
    @login_required(THERAPIST)
    @blp.response(200, CoupleSchema)
    @blp.alt_response(404, description="No such couple, or not yours")
    def get(self, couple_id: str) -> object:
        """One of the caller's couples."""
        return couple_view(
            couples.get_couple_for_therapist(therapist=current_user(), couple_id=couple_id)
        )


@blp.route("/<couple_id>/invites/<int:slot>/reissue", methods=["POST"])
@login_required(THERAPIST)
@blp.response(201, InviteSchema)
@blp.alt_response(404, description="No such couple or slot, or not yours")
@blp.alt_response(409, description="That partner has already joined")
def reissue_invite(couple_id: str, slot: int) -> object:
    """Replace a partner slot's unused (e.g. expired) invite with a fresh code."""
    invite = couples.reissue_invite(therapist=current_user(), couple_id=couple_id, slot=slot)
    return {
        "slot": invite.slot,
        "code": couples.invite_code(invite),
        "status": "pending",
        "expires_at": invite.expires_at,
        "accepted_at": None,
    }


@blp.route("/<couple_id>/partners/<partner_id>/recovery", methods=["POST"])
@limiter.limit("30 per hour")
@login_required(THERAPIST)
@blp.response(201, RecoveryCodeSchema)
@blp.alt_response(404, description="No such couple or partner, or not yours")
@blp.alt_response(429, description="Too many attempts: wait for `Retry-After` seconds")
def create_recovery_code(couple_id: str, partner_id: str) -> object:
    """Issue a one-time recovery code (24 h) for a partner who lost their password; they
    type it as the `token` of a password reset. An earlier unused code stops working."""
    return account_mail.issue_recovery_code(
        therapist=current_user(), couple_id=couple_id, partner_id=partner_id
    )
