"""The caller's own account."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from flask.views import MethodView

from server.api import Blueprint
from server.auth import current_user, login_required
from server.schemas.homework import DeleteMeSchema
from server.schemas.users import MeUpdateSchema, UserSchema
from server.services import accounts, data_rights

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

    @login_required()
    @blp.arguments(DeleteMeSchema)
    @blp.response(204)
    @blp.alt_response(409, description="A therapist who still has couples")
    @blp.alt_response(422, description="Wrong password")
    def delete(self, body: dict[str, str]) -> None:
        """Erase the caller's account and check-ins (the partner's data stays intact)."""
        data_rights.delete_account(user=current_user(), password=body["password"])


@blp.route("/export")
class MyExport(MethodView):
    @login_required()
    @blp.response(200)
    def get(self) -> object:
        """Everything Tandem holds about the caller, decrypted (nothing about the partner)."""
        export = data_rights.export_user(user=current_user())
        return json.loads(json.dumps(export, default=_jsonable))


def _jsonable(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(type(value).__name__)
