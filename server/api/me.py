"""The caller's own account."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from flask import Response, g
from flask.views import MethodView
from flask_limiter.util import get_remote_address

from server.api import Blueprint, page_of
from server.auth import SIGN_IN_SCOPE, current_user, login_required, sign_in_rate_limit_key
from server.errors import ValidationFailed
from server.extensions import limiter
from server.schemas.homework import DeleteMeSchema
from server.schemas.sessions import LoginSessionSchema, PasswordChangeSchema
from server.schemas.users import MeUpdateSchema, UserSchema
from server.services import accounts, data_rights

PREFIX = "/me"
blp = Blueprint("me", __name__, description="The caller's own account")


def _caller_key() -> str:
    """The sign-in bucket of the caller's account from this address (see server.auth)."""
    return sign_in_rate_limit_key(current_user().email)


def _password_refused(response: Response) -> bool:
    return bool(g.get("password_refused"))


# A wrong password given to a signed-in route counts as a failed sign-in, in the same
# buckets (API and portal): a stolen access token is no way to guess the password.
_like_sign_in = [
    limiter.shared_limit(
        "10 per 15 minutes",
        scope=SIGN_IN_SCOPE,
        key_func=_caller_key,
        deduct_when=_password_refused,
    ),
    limiter.shared_limit(
        "100 per 15 minutes",
        scope=SIGN_IN_SCOPE,
        key_func=get_remote_address,
        deduct_when=_password_refused,
    ),
]


def limited_like_sign_in(func: Any) -> Any:
    """Put under `login_required`: the caller's account is known when the limit is checked."""
    for limit in reversed(_like_sign_in):
        func = limit(func)
    return func


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


# DELETE /me is a view of its own (operationId `deleteMe`, as before) so that its rate
# limit belongs to it alone, not to GET and PATCH /me.
@blp.route("", methods=["DELETE"])
@login_required()
@limited_like_sign_in
@blp.arguments(DeleteMeSchema)
@blp.response(204)
@blp.alt_response(409, description="A therapist who still has couples")
@blp.alt_response(422, description="Wrong password")
@blp.alt_response(429, description="Too many wrong passwords: wait for `Retry-After` seconds")
def delete_me(body: dict[str, str]) -> None:
    """Erase the caller's account and check-ins (the partner's data stays intact)."""
    try:
        data_rights.delete_account(user=current_user(), password=body["password"])
    except ValidationFailed:
        g.password_refused = True
        raise


@blp.route("/password", methods=["POST"])
@login_required()
@limited_like_sign_in
@blp.arguments(PasswordChangeSchema)
@blp.response(204)
@blp.alt_response(422, description="Wrong current password (`errors.current_password`)")
@blp.alt_response(429, description="Too many wrong passwords: wait for `Retry-After` seconds")
def change_password(body: dict[str, str]) -> None:
    """Change the caller's password; every other login of the account ends."""
    try:
        accounts.change_password(
            user=current_user(),
            keep_session_id=g.session_id,
            current_password=body["current_password"],
            new_password=body["new_password"],
        )
    except accounts.WrongPassword:
        g.password_refused = True
        raise


@blp.route("/sessions")
class MySessions(MethodView):
    @login_required()
    @blp.response(200, LoginSessionSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: Any) -> object:
        """The caller's open logins, most recently used first (`current`: this one)."""
        items = accounts.list_sessions(user=current_user(), current_session_id=g.session_id)
        return page_of(items, pagination_parameters)

    @login_required()
    @blp.doc(operationId="endOtherSessions")
    @blp.response(204)
    def delete(self) -> None:
        """Sign out everywhere else: every login but this one ends."""
        accounts.end_other_sessions(user=current_user(), keep_session_id=g.session_id)


@blp.route("/sessions/<session_id>", methods=["DELETE"])
@login_required()
@blp.response(204)
@blp.alt_response(404, description="No such open login of the caller's")
def end_session(session_id: str) -> None:
    """End one of the caller's logins: its tokens stop working, its devices get no pushes."""
    accounts.end_session(user=current_user(), session_id=session_id)


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
