"""The portal's "Your sign-ins" page: the therapist's open logins (portal and apps),
ending one or all others, and changing the password (API.md: /me/sessions, /me/password).

The same services as the API; the password form counts wrong passwords in the sign-in
buckets (per account and address, per address), like `POST /api/v1/me/password`.
"""

from __future__ import annotations

import logging

from flask import Response, flash, g, redirect, render_template, request, session, url_for
from flask_limiter.util import get_remote_address

from server.auth import SIGN_IN_SCOPE, sign_in_rate_limit_key
from server.extensions import limiter
from server.portal.views import blp
from server.services import accounts
from server.services.accounts import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH

log = logging.getLogger(__name__)

MAX_LISTED = 200


def _see_sign_ins() -> Response:
    return redirect(url_for("portal.sign_ins"), code=303)


def _therapist_key() -> str:
    return sign_in_rate_limit_key(g.therapist.email)


def _password_refused(response: Response) -> bool:
    return bool(g.get("password_refused"))


@blp.get("/sign-ins")
def sign_ins() -> str:
    """The therapist's open logins, this browser's first, and the password form."""
    current = session.get("sid")
    logins = accounts.list_sessions(user=g.therapist, current_session_id=current)
    logins.sort(key=lambda login: not login["current"])
    return render_template(
        "portal/sign_ins.html",
        logins=logins[:MAX_LISTED],
        more=max(0, len(logins) - MAX_LISTED),
        min_length=PASSWORD_MIN_LENGTH,
        max_length=PASSWORD_MAX_LENGTH,
    )


@blp.post("/sign-ins/<session_id>/end")
def end_sign_in(session_id: str) -> Response:
    """End one login (404 for anyone else's): its tokens stop, its devices get no pushes."""
    accounts.end_session(user=g.therapist, session_id=session_id[:64])
    if session_id == session.get("sid"):
        session.clear()
        flash("You have signed out.", "success")
        return redirect(url_for("portal.login"), code=303)
    flash("That sign-in has ended. Its device gets no more notifications.", "success")
    return _see_sign_ins()


@blp.post("/sign-ins/end-others")
def end_other_sign_ins() -> Response:
    """Sign out everywhere else: every login but this browser's ends."""
    accounts.end_other_sessions(user=g.therapist, keep_session_id=session["sid"])
    flash("Every other sign-in has ended.", "success")
    return _see_sign_ins()


@blp.post("/password")
@limiter.shared_limit(
    "10 per 15 minutes",
    scope=SIGN_IN_SCOPE,
    key_func=_therapist_key,
    deduct_when=_password_refused,
)
@limiter.shared_limit(
    "100 per 15 minutes",
    scope=SIGN_IN_SCOPE,
    key_func=get_remote_address,
    deduct_when=_password_refused,
)
def change_password() -> Response:
    """Change the password (the current one confirms it); every other login ends."""
    current = request.form.get("current_password", "")[:PASSWORD_MAX_LENGTH]
    new = request.form.get("new_password", "")
    again = request.form.get("new_password_again", "")
    if not PASSWORD_MIN_LENGTH <= len(new) <= PASSWORD_MAX_LENGTH:
        flash(
            f"Choose a new password of {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters.",
            "error",
        )
        return _see_sign_ins()
    if new != again:
        flash("The two new passwords are not the same.", "error")
        return _see_sign_ins()
    try:
        accounts.change_password(
            user=g.therapist,
            keep_session_id=session["sid"],
            current_password=current,
            new_password=new,
        )
    except accounts.WrongPassword:
        g.password_refused = True
        flash("The current password is not correct.", "error")
        return _see_sign_ins()
    flash("Your password has changed. Every other sign-in has ended.", "success")
    return _see_sign_ins()
