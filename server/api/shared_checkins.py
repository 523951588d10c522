"""What the other partner shared: their check-ins with `visibility: couple`."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from server.api import Blueprint
from server.auth import current_user, login_required
from server.models import CLIENT
from server.schemas.homework import CheckInSchema
from server.services import checkins

PREFIX = ""
blp = Blueprint("shared_checkins", __name__, description="Homework and check-ins")


class SharedCheckInSchema(CheckInSchema):
    """A check-in as the other partner sees it: never its flags (privacy rule 4)."""

    class Meta:
        exclude = ("flags", "safety")


@blp.route("/me/shared-checkins")
class MySharedCheckIns(MethodView):
    @login_required(CLIENT)
    @blp.response(200, SharedCheckInSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: Any) -> object:
        """The other partner's check-ins shared with the couple, newest first (no flags)."""
        views, total = checkins.list_shared_checkins(
            partner=current_user(),
            offset=pagination_parameters.first_item,
            limit=pagination_parameters.page_size,
        )
        pagination_parameters.item_count = total
        return views
