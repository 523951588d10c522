"""The partners' web app at /app/ (API.md, "Partner app"): plain HTML, CSS and ES
modules served from this package, offline-first through a service worker.

Pages carry no data: the page script reads everything through `/app/api/`, which
`bridge.PartnerAppBridge` turns into API requests authenticated by an HttpOnly cookie
(see there for why a cookie and not tokens in the page).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from functools import cache
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, render_template

from server.config import ConfigError
from server.partner_app.bridge import PartnerAppBridge

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
DEFAULT_NAME = "Tandem"
MAX_NAME = 30
# Scripts, styles, workers and the manifest from this origin only; no inline script.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src {connect}; manifest-src 'self'; worker-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
# Where the Firebase web SDK registers a phone for push (only when push is configured).
FIREBASE_HOSTS = (
    "https://firebaseinstallations.googleapis.com",
    "https://fcmregistrations.googleapis.com",
)
# The Firebase web settings an operator gives (public values, not secrets).
PUSH_KEYS = ("apiKey", "projectId", "messagingSenderId", "appId", "vapidKey")
# Not part of the app shell: loaded only when a partner switches push on.
VENDOR = "vendor"
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    # The service worker keeps what works offline; the browser's HTTP cache revalidates.
    "Cache-Control": "no-cache",
}

blp = Blueprint(
    "partner_app",
    __name__,
    url_prefix="/app",
    template_folder="templates",
    static_folder="static",
)


@cache
def assets_version() -> str:
    """A hash of every shipped file: a new release gets a new service-worker cache."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(STATIC).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def shell_files() -> list[str]:
    """What the service worker caches on install: the page and every static file but
    the vendored push SDK."""
    files = sorted(
        p.relative_to(STATIC).as_posix()
        for p in STATIC.rglob("*")
        if p.is_file() and p.relative_to(STATIC).parts[0] != VENDOR
    )
    return ["/app/", "/app/manifest.webmanifest", *(f"/app/static/{f}" for f in files)]


def app_name() -> str:
    return str(current_app.config["TANDEM_APP_NAME"])


@blp.get("/")
def index() -> str:
    """The app's only page: every screen is drawn by its script (no content in URLs)."""
    return render_template("partner_app/index.html", name=app_name(), version=assets_version())


@blp.get("/sw.js")
def service_worker() -> Response:
    """The service worker (scope /app/): the app shell offline, and push."""
    source = (STATIC.parent / "sw.js").read_text(encoding="utf-8")
    source = source.replace("__VERSION__", assets_version()).replace(
        "__SHELL__", json.dumps(shell_files())
    )
    return Response(source, mimetype="text/javascript")


@blp.get("/manifest.webmanifest")
def manifest() -> Response:
    """The Web App Manifest: a neutral name and icon, nothing that says what it is for."""
    name = app_name()
    data = {
        "name": name,
        "short_name": name,
        "id": "/app/",
        "start_url": "/app/",
        "scope": "/app/",
        "display": "standalone",
        "background_color": "#f6f5f2",
        "theme_color": "#2f5d62",
        "icons": [
            {"src": "/app/static/icon.svg", "sizes": "any", "type": "image/svg+xml"},
        ],
    }
    return Response(json.dumps(data), mimetype="application/manifest+json")


@blp.get("/push-config.json")
def push_config() -> Response:
    """The operator's Firebase web settings, or `enabled: false` when push is not set up."""
    config = current_app.config["TANDEM_APP_PUSH"]
    if not config:
        return Response(json.dumps({"enabled": False}), mimetype="application/json")
    firebase = {k: v for k, v in config.items() if k != "vapidKey"}
    body = {"enabled": True, "firebase": firebase, "vapidKey": config["vapidKey"]}
    return Response(json.dumps(body), mimetype="application/json")


@blp.after_request
def _headers(response: Response) -> Response:
    connect = "'self'"
    if current_app.config["TANDEM_APP_PUSH"]:
        connect = " ".join(("'self'", *FIREBASE_HOSTS))
    response.headers.setdefault("Content-Security-Policy", CSP.replace("{connect}", connect))
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _configured_push(app: Flask) -> dict[str, str] | None:
    """`TANDEM_FIREBASE_WEB_CONFIG`: the path of a JSON file with the Firebase web app's
    `apiKey`, `projectId`, `messagingSenderId`, `appId` and the web-push `vapidKey`
    (or `PARTNER_APP_PUSH_CONFIG`, that dict, given to create_app). Unset: no web push."""
    data: Any = app.config.get("PARTNER_APP_PUSH_CONFIG")
    path = os.environ.get("TANDEM_FIREBASE_WEB_CONFIG")
    if data is None and path:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(
                "TANDEM_FIREBASE_WEB_CONFIG", f"cannot read a JSON object from {path}: {exc}"
            ) from None
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ConfigError("TANDEM_FIREBASE_WEB_CONFIG", "must be a JSON object")
    config: dict[str, str] = {}
    for key in PUSH_KEYS:
        value = data.get(key)
        if not isinstance(value, str) or not value.strip() or len(value) > 300:
            raise ConfigError("TANDEM_FIREBASE_WEB_CONFIG", f"{key} must be a non-empty string")
        if not value.isprintable() or any(c in value for c in " ;'\"\\"):
            raise ConfigError("TANDEM_FIREBASE_WEB_CONFIG", f"{key} has characters it cannot have")
        config[key] = value
    return config


def _configured_name(app: Flask) -> str:
    """`TANDEM_APP_NAME` (or `PARTNER_APP_NAME` given to create_app), validated at
    start-up: the name the home screen, the tab and the manifest show."""
    name = app.config.get("PARTNER_APP_NAME") or os.environ.get("TANDEM_APP_NAME") or DEFAULT_NAME
    name = str(name).strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise ConfigError("TANDEM_APP_NAME", f"must be 1 to {MAX_NAME} printable characters")
    return name


def init_app(app: Flask) -> None:
    """Register /app/ and bridge /app/api/ to the API (after `server.auth.init_app`)."""
    app.config["TANDEM_APP_NAME"] = _configured_name(app)
    app.config["TANDEM_APP_PUSH"] = _configured_push(app)
    app.register_blueprint(blp)
    app.wsgi_app = PartnerAppBridge(  # type: ignore[method-assign]
        app.wsgi_app,
        secret_key=app.config["SECRET_KEY"],
        access_tokens=app.extensions["tandem.token_serializer"],
    )
