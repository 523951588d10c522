"""The partner app's session: an HttpOnly cookie, bridged to the API's bearer tokens.

Why a cookie and not tokens in the page: a token that page script can read can be
leaked by any script that runs in the page (an injected one, a compromised library, a
browser extension reading storage) and survives in storage on a shared phone. The
HttpOnly cookie is never visible to script, is sent only to `/app` of this origin
(`Path=/app`, `SameSite=Strict`), and dies at sign-out through `Clear-Site-Data`.

The API takes bearer tokens only, so the app's page calls `/app/api/<path>` and this
WSGI middleware rewrites each such request into the API request `/api/v1/<path>`, with
`Authorization: Bearer <a fresh access token for the cookie's login>`. Everything the
API does (validation, problem+json, rate limits, privacy rules, the one transaction per
request) applies unchanged; there is no second implementation of any route. In the
other direction, the token pair that sign-in and invite acceptance answer is taken out
of the body and turned into the cookie: page script never sees a token.

CSRF: every bridged request must carry the header `X-Tandem-CSRF` (a cross-site form
cannot set a header, a cross-site `fetch` with one needs a CORS preflight that Tandem
never grants). With a session, its value must be the session's CSRF token, which the
page reads from the (not HttpOnly) `tandem_app_csrf` cookie (double-submit, bound to
the login by an HMAC). `Sec-Fetch-Site`, when the browser sends it, must be same-origin.

The login behind the cookie is a `LoginSession` like any other: `GET /me/sessions`
lists it and revoking it ends the cookie at once (the API checks the login on every
request). The cookie ends 30 days after its last use and 90 days after sign-in, as
API logins do.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from werkzeug.http import dump_cookie, parse_cookie

from server.errors import problem

log = logging.getLogger(__name__)

BRIDGE_PREFIX = "/app/api/"
API_PREFIX = "/api/v1/"
COOKIE = "tandem_app"
CSRF_COOKIE = "tandem_app_csrf"
CSRF_HEADER = "HTTP_X_TANDEM_CSRF"
COOKIE_PATH = "/app"
IDLE_SECONDS = 30 * 24 * 3600
MAX_AGE_SECONDS = 90 * 24 * 3600
# A cookie older than this is re-issued (sliding expiry) on its next successful use.
REISSUE_AFTER = 24 * 3600
# API answers that carry a fresh token pair, turned into the cookie.
SIGN_IN_PATHS = ("/api/v1/auth/token",)
SIGN_IN_PREFIX, SIGN_IN_SUFFIX = "/api/v1/invites/", "/accept"
TOKEN_FIELDS = ("access_token", "refresh_token", "token_type", "expires_in")
# What sign-out (and account deletion) asks the browser to forget for this origin.
# Not "cookies": that would clear every cookie of the origin, signing a therapist who
# shares the browser out of the portal too. The app's own cookies are expired by name.
CLEAR_SITE_DATA = '"cache", "storage"'

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class PartnerAppBridge:
    """WSGI middleware: `/app/api/<path>` with the app's cookie → `/api/v1/<path>`."""

    def __init__(self, wsgi_app: WSGIApp, *, secret_key: str, access_tokens: Any) -> None:
        self.wsgi_app = wsgi_app
        self.signer = URLSafeTimedSerializer(secret_key, salt="tandem-partner-app-session")
        self.csrf_key = hashlib.sha256(b"tandem-partner-app-csrf:" + secret_key.encode()).digest()
        self.access_tokens = access_tokens  # the API's own access-token serializer

    # --- the session cookie ----------------------------------------------------------

    def csrf_for(self, sid: str) -> str:
        return hmac.new(self.csrf_key, sid.encode(), hashlib.sha256).hexdigest()

    def read_session(self, environ: dict[str, Any]) -> tuple[str, int, int] | None:
        """(login session id, signed-in at, cookie issued at) of a valid cookie."""
        value = parse_cookie(environ.get("HTTP_COOKIE", "")).get(COOKIE)
        if not value:
            return None
        try:
            payload, issued = self.signer.loads(value, max_age=IDLE_SECONDS, return_timestamp=True)
        except (BadSignature, SignatureExpired):
            return None
        if not isinstance(payload, dict):
            return None
        sid, since = payload.get("sid"), payload.get("since")
        if not isinstance(sid, str) or not isinstance(since, int):
            return None
        if time.time() - since > MAX_AGE_SECONDS:
            return None
        return sid, since, int(issued.timestamp())

    def session_cookies(self, environ: dict[str, Any], sid: str, since: int) -> list[str]:
        secure = environ.get("wsgi.url_scheme") == "https"
        common = {"path": COOKIE_PATH, "samesite": "Strict", "secure": secure}
        value = self.signer.dumps({"sid": sid, "since": since})
        return [
            dump_cookie(COOKIE, value, max_age=IDLE_SECONDS, httponly=True, **common),
            dump_cookie(CSRF_COOKIE, self.csrf_for(sid), max_age=IDLE_SECONDS, **common),
        ]

    @staticmethod
    def expired_cookies(environ: dict[str, Any]) -> list[str]:
        secure = environ.get("wsgi.url_scheme") == "https"
        common = {"path": COOKIE_PATH, "samesite": "Strict", "secure": secure, "max_age": 0}
        return [
            dump_cookie(COOKIE, "", httponly=True, expires=0, **common),
            dump_cookie(CSRF_COOKIE, "", expires=0, **common),
        ]

    # --- the bridge ------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(BRIDGE_PREFIX):
            return self.wsgi_app(environ, start_response)
        return self.bridge(environ, start_response)

    def bridge(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        session = self.read_session(environ)
        refused = self.refuse(environ, session)
        if refused is not None:
            return problem(403, refused, code="csrf_failed")(environ, start_response)
        api_path = API_PREFIX + environ["PATH_INFO"][len(BRIDGE_PREFIX) :]
        environ = dict(environ)
        environ["PATH_INFO"] = api_path
        for key in ("REQUEST_URI", "RAW_URI"):
            environ.pop(key, None)
        environ.pop("HTTP_COOKIE", None)  # the API reads no cookie
        environ.pop("HTTP_AUTHORIZATION", None)
        if session is not None:
            token = self.access_tokens.dumps({"sid": session[0]})
            environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        method = environ.get("REQUEST_METHOD", "GET")
        if api_path in SIGN_IN_PATHS or (
            api_path.startswith(SIGN_IN_PREFIX) and api_path.endswith(SIGN_IN_SUFFIX)
        ):
            return self.sign_in(environ, start_response)
        ends_session = api_path == "/api/v1/auth/logout" or (
            api_path == "/api/v1/me" and method == "DELETE"
        )

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            code = int(status.split(" ", 1)[0])
            headers = list(headers)
            if ends_session and (code < 300 or code == 401):
                headers += [("Set-Cookie", c) for c in self.expired_cookies(environ)]
                headers.append(("Clear-Site-Data", CLEAR_SITE_DATA))
            elif code == 401 and session is not None:
                # The login has ended (revoked, expired): so has the cookie.
                headers += [("Set-Cookie", c) for c in self.expired_cookies(environ)]
            elif session is not None and code < 400 and time.time() - session[2] > REISSUE_AFTER:
                cookies = self.session_cookies(environ, session[0], session[1])
                headers += [("Set-Cookie", c) for c in cookies]
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)

    def refuse(self, environ: dict[str, Any], session: tuple[str, int, int] | None) -> str | None:
        """Why this request may not cross the bridge (CSRF), or None."""
        fetch_site = environ.get("HTTP_SEC_FETCH_SITE")
        if fetch_site not in (None, "same-origin", "none"):
            return "Requests to the app's API must come from the app itself."
        sent = environ.get(CSRF_HEADER, "")
        if not sent:
            return "The X-Tandem-CSRF header is missing."
        if session is not None and not hmac.compare_digest(sent, self.csrf_for(session[0])):
            return "The X-Tandem-CSRF header does not match this session; reload the app."
        return None

    def sign_in(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Run the API's sign-in (or invite acceptance); keep its tokens in the cookie."""
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured.update(status=status, headers=headers)
            return lambda data: None

        result = self.wsgi_app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = captured["status"], list(captured["headers"])
        if status.startswith("2"):
            data = json.loads(body)
            claims = self.access_tokens.loads(data["access_token"])
            cookies = self.session_cookies(environ, claims["sid"], int(time.time()))
            data = {k: v for k, v in data.items() if k not in TOKEN_FIELDS}
            body = json.dumps(data).encode()
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers += [("Content-Length", str(len(body)))]
            headers += [("Set-Cookie", c) for c in cookies]
        start_response(status, headers)
        return [body]
