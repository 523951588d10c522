"""The caller's own account."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from server.auth import current_user, login_required
from server.schemas.users import MeUpdateSchema, UserSchema
from server.services import accounts

PREFIX = "/me"
blp = Blueprint("me", __name__, description="The caller's own account")


@blp.route("")
class Me(MethodView):
    @login_required()
    @blp.response(200, UserSchema)
    def get(self) -> object:
        """The caller's profile."""
        return current_user()

    @login_required()
    @blp.arguments(MeUpdateSchema)
    @blp.response(200, UserSchema)
    def patch(self, body: dict[str, str]) -> object:
        """Change the caller's name or time zone."""
        return accounts.update_profile(user=current_user(), **body)
