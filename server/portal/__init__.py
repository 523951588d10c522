"""The therapist portal: server-rendered pages under /portal (API.md, "Therapist portal").

The pages use the same services as the API and add no rules of their own. Sign-in is a
signed cookie session (separate from API tokens) that names a `LoginSession` row, so
logging out or revoking the login ends it at once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import Flask, Request, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

log = logging.getLogger(__name__)

SESSION_COOKIE_NAME = "tandem_portal"
# The cookie lives only while the therapist is active (refreshed on every request).
SESSION_IDLE = timedelta(hours=2)


class PortalSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, marked Secure whenever the request came over HTTPS
    (so a laptop on http://localhost still works) or when SESSION_COOKIE_SECURE is set."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        # The cookie is sent only under its path (/portal): elsewhere (the API, the
        # partner app) there is no session to read, and none may be written.
        if not request.path.startswith(self.get_cookie_path(app)):
            return self.make_null_session(app)
        return super().open_session(app, request)


def _configure_session(app: Flask) -> None:
    """Cookie flags for the portal session; explicit settings given to create_app win."""
    wanted = {
        "SESSION_COOKIE_NAME": SESSION_COOKIE_NAME,
        # Only the portal's pages receive the cookie; the API never does.
        "SESSION_COOKIE_PATH": "/portal",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "PERMANENT_SESSION_LIFETIME": SESSION_IDLE,
    }
    for key, value in wanted.items():
        if app.config.get(key) == Flask.default_config.get(key):
            app.config[key] = value
    app.session_interface = PortalSessionInterface()


def init_app(app: Flask) -> None:
    """Register the portal's blueprint and its session settings."""
    from server.portal import (
        accounts,  # noqa: F401 - email links' pages (routes on blp)
        alerts,  # noqa: F401 - the alerts inbox (routes on blp)
        couples,  # noqa: F401 - the couples list (routes on blp)
        signins,  # noqa: F401 - "Your sign-ins" (routes on blp)
        workflow,  # noqa: F401 - forms that change a program (routes on blp)
    )
    from server.portal.views import blp

    _configure_session(app)
    app.register_blueprint(blp)
