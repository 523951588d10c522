"""The partner app's routes and headers, and the cookie bridge to the API (test client).

The browser journey is tests/e2e/test_partner_app_browser.py; here: what the server
promises on every request (CSP, no tokens to page script, CSRF, the cookie's life).
"""

from __future__ import annotations

import gzip
import json
import re
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from server.auth import revoke_all_sessions
from server.config import ConfigError
from server.extensions import db
from server.partner_app import STATIC, assets_version
from tests.conftest import make_app
from tests.factories import PASSWORD, Api

CSRF = "X-Tandem-CSRF"
# Words that must not appear on a shared phone's home screen, tab or app switcher.
REVEALING = re.compile(r"sex|sensate|therap|intima|erotic|genital|clinic|couple", re.I)


def set_cookies(response) -> dict[str, SimpleCookie]:  # type: ignore[no-untyped-def]
    cookies: dict[str, SimpleCookie] = {}
    for header in response.headers.getlist("Set-Cookie"):
        jar = SimpleCookie()
        jar.load(header)
        for name in jar:
            cookies[name] = jar
    return cookies


def csrf_of(client: FlaskClient) -> str:
    cookie = client.get_cookie("tandem_app_csrf", path="/app")
    assert cookie is not None
    return cookie.value


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post(
        "/app/api/auth/token", json={"email": email, "password": password}, headers={CSRF: "1"}
    )


@pytest.fixture
def partner(api: Api):  # type: ignore[no-untyped-def]
    therapist = api.therapist()
    _, a, _ = api.couple_with_partners(therapist)
    return therapist, a


# --- the page, the worker, the manifest -----------------------------------------------


def test_the_page_is_neutral_scripts_from_self_only_no_inline_script(client: FlaskClient) -> None:
    r = client.get("/app/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert re.search(r"<title>Tandem</title>", html)
    assert not REVEALING.search(html)
    # Every script is a file of this origin: no inline code, no other host.
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all(body.strip() == "" for _, body in scripts)
    assert all(re.search(r'src="/app/static/', attrs) for attrs, _ in scripts)
    assert "http://" not in html and "https://" not in html


def test_the_manifest_is_neutral_and_scoped(client: FlaskClient) -> None:
    r = client.get("/app/manifest.webmanifest")
    assert r.status_code == 200
    assert r.mimetype == "application/manifest+json"
    manifest = r.get_json(force=True)
    assert manifest["scope"] == "/app/" and manifest["start_url"] == "/app/"
    assert manifest["name"] == manifest["short_name"] == "Tandem"
    assert manifest["display"] == "standalone"
    assert not REVEALING.search(json.dumps(manifest))
    for icon in manifest["icons"]:
        with client.get(icon["src"]) as served:
            assert served.status_code == 200


def test_the_name_is_configurable_and_checked_at_start_up(
    tmp_path: Path, database_url: str
) -> None:
    app = make_app(tmp_path / "a", database_url, PARTNER_APP_NAME="Notes")
    client = app.test_client()
    assert "<title>Notes</title>" in client.get("/app/").get_data(as_text=True)
    assert client.get("/app/manifest.webmanifest").get_json(force=True)["name"] == "Notes"
    with pytest.raises(ConfigError, match="TANDEM_APP_NAME"):
        make_app(tmp_path / "b", database_url, PARTNER_APP_NAME="x" * 31)


def test_the_service_worker_lists_the_shell_of_this_release(client: FlaskClient) -> None:
    r = client.get("/app/sw.js")
    assert r.status_code == 200 and r.mimetype == "text/javascript"
    source = r.get_data(as_text=True)
    assert "__VERSION__" not in source and "__SHELL__" not in source
    assert assets_version() in source
    shell = json.loads(re.search(r"const SHELL = (\[.*?\]);", source).group(1))  # type: ignore[union-attr]
    assert "/app/" in shell and "/app/static/app.js" in shell
    for path in shell:
        with client.get(path) as served:
            assert served.status_code == 200, path


def test_static_files_are_small_and_from_no_other_host(client: FlaskClient) -> None:
    """First load under 100 kB of JS and CSS, compressed; nothing from a CDN."""
    files = [p for p in STATIC.iterdir() if p.suffix in (".js", ".css")]
    total = sum(len(gzip.compress(p.read_bytes(), 9)) for p in files)
    assert total < 100_000, total
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"""(import|from)\s*["']https?:""", text), path.name
        assert not re.search(r"""url\(\s*["']?https?:""", text), path.name
        with client.get(f"/app/static/{path.name}") as served:
            assert served.status_code == 200
            assert served.headers["X-Content-Type-Options"] == "nosniff"


def test_english_text_lives_in_one_module() -> None:
    """Screens take their words from strings.js (no sentence typed into app.js)."""
    source = (STATIC / "app.js").read_text(encoding="utf-8")
    sentences = re.findall(r'"([A-Z][a-z]+ [a-z]+ [^"]*)"', source)
    assert sentences == [], sentences


# --- the cookie bridge ------------------------------------------------------------------


def test_sign_in_gives_an_httponly_cookie_and_no_token_to_the_page(
    client: FlaskClient, partner
) -> None:  # type: ignore[no-untyped-def]
    _, a = partner
    r = sign_in(client, a.user["email"])
    assert r.status_code == 200
    body = r.get_json()
    assert not {"access_token", "refresh_token"} & set(body)
    assert "access_token" not in r.get_data(as_text=True)
    cookies = set_cookies(r)
    session = cookies["tandem_app"]["tandem_app"]
    assert session["httponly"] and session["samesite"] == "Strict" and session["path"] == "/app"
    csrf = cookies["tandem_app_csrf"]["tandem_app_csrf"]
    assert not csrf["httponly"] and csrf["path"] == "/app"

    me = client.get("/app/api/me", headers={CSRF: csrf_of(client)})
    assert me.status_code == 200 and me.get_json()["id"] == a.id
    assert me.headers["Cache-Control"] == "no-store"
    # The API itself never reads the cookie.
    assert client.get("/api/v1/me").status_code == 401


def test_every_bridged_request_needs_the_csrf_header(client: FlaskClient, partner) -> None:  # type: ignore[no-untyped-def]
    _, a = partner
    sign_in(client, a.user["email"])
    for headers in ({}, {CSRF: "1"}, {CSRF: "0" * 64}):
        r = client.get("/app/api/me", headers=headers)
        assert r.status_code == 403, headers
        assert r.content_type == "application/problem+json"
        assert r.get_json()["code"] == "csrf_failed"
    cross = client.get(
        "/app/api/me", headers={CSRF: csrf_of(client), "Sec-Fetch-Site": "cross-site"}
    )
    assert cross.status_code == 403
    # Sign-in too (login CSRF): no header, no sign-in.
    bare = client.post("/app/api/auth/token", json={"email": a.user["email"], "password": PASSWORD})
    assert bare.status_code == 403


def test_joining_through_the_app_signs_in_with_the_cookie(client: FlaskClient, api: Api) -> None:
    therapist = api.therapist()
    code = api.couple(therapist)["invites"][0]["code"]
    r = client.post(
        f"/app/api/invites/{code.lower()}/accept",
        json={
            "email": "joiner@example.test",
            "password": PASSWORD,
            "name": "Jo",
            "timezone": "UTC",
        },
        headers={CSRF: "1"},
    )
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["user"]["name"] == "Jo"
    assert "refresh_token" not in r.get_json()
    homework = client.get("/app/api/me/homework", headers={CSRF: csrf_of(client)})
    assert homework.status_code == 200
    # Errors pass through untouched: problem+json, by field.
    again = client.post(
        f"/app/api/invites/{code}/accept",
        json={"email": "x@example.test", "password": "short", "name": "", "timezone": "Nowhere"},
        headers={CSRF: csrf_of(client)},
    )
    assert again.status_code in (409, 422)
    assert again.content_type == "application/problem+json"


def test_sign_out_ends_the_login_and_clears_the_site(client: FlaskClient, partner) -> None:  # type: ignore[no-untyped-def]
    _, a = partner
    sign_in(client, a.user["email"])
    stolen = client.get_cookie("tandem_app", path="/app")
    assert stolen is not None
    token = csrf_of(client)
    r = client.post("/app/api/auth/logout", headers={CSRF: token})
    assert r.status_code == 204
    assert r.headers["Clear-Site-Data"] == '"cache", "storage"'
    # The app's cookies end by name; the portal's (same origin) are left alone.
    expired = r.headers.getlist("Set-Cookie")
    assert all("Path=/app" in c and "Max-Age=0" in c for c in expired) and len(expired) == 2
    expired = set_cookies(r)
    assert expired["tandem_app"]["tandem_app"].value == ""
    assert client.get_cookie("tandem_app", path="/app") is None
    # A copy of the cookie kept from before is worthless: the login has ended.
    client.set_cookie("tandem_app", stolen.value, path="/app")
    client.set_cookie("tandem_app_csrf", token, path="/app")
    assert client.get("/app/api/me", headers={CSRF: token}).status_code == 401


def test_ending_the_login_elsewhere_ends_the_cookie(
    client: FlaskClient, partner, app: Flask
) -> None:  # type: ignore[no-untyped-def]
    _, a = partner
    sign_in(client, a.user["email"])
    token = csrf_of(client)
    # Every login of the account ends (as a password reset does).
    with app.app_context():
        revoke_all_sessions(user_id=a.id, reason="test")
        db.session.commit()
    r = client.get("/app/api/me", headers={CSRF: token})
    assert r.status_code == 401
    assert client.get_cookie("tandem_app", path="/app") is None


def test_deleting_the_account_clears_the_site(client: FlaskClient, partner) -> None:  # type: ignore[no-untyped-def]
    _, a = partner
    sign_in(client, a.user["email"])
    r = client.delete("/app/api/me", json={"password": PASSWORD}, headers={CSRF: csrf_of(client)})
    assert r.status_code == 204
    assert "storage" in r.headers["Clear-Site-Data"]


def test_a_forged_or_stale_cookie_is_no_session(client: FlaskClient, partner, app: Flask) -> None:  # type: ignore[no-untyped-def]
    _, a = partner
    client.set_cookie("tandem_app", "forged.value.here", path="/app")
    r = client.get("/app/api/me", headers={CSRF: "1"})
    assert r.status_code == 401
    sign_in(client, a.user["email"])
    bridge = app.wsgi_app
    old = bridge.signer.dumps({"sid": "x", "since": 0})  # signed in 1970: too old
    client.set_cookie("tandem_app", old, path="/app")
    assert client.get("/app/api/me", headers={CSRF: bridge.csrf_for("x")}).status_code == 401


# --- push (web) ---------------------------------------------------------------------------

PUSH = {
    "apiKey": "AIzaSyExample",
    "projectId": "tandem-example",
    "messagingSenderId": "1234567890",
    "appId": "1:1234567890:web:abcdef",
    "vapidKey": "BExampleVapidPublicKey",
}


def test_without_push_settings_the_app_says_push_is_off(client: FlaskClient) -> None:
    r = client.get("/app/push-config.json")
    assert r.status_code == 200 and r.get_json() == {"enabled": False}
    csp = client.get("/app/").headers["Content-Security-Policy"]
    assert "connect-src 'self';" in csp


def test_push_settings_are_served_and_open_the_csp_to_firebase_only(
    tmp_path: Path, database_url: str
) -> None:
    app = make_app(tmp_path / "i", database_url, PARTNER_APP_PUSH_CONFIG=PUSH)
    client = app.test_client()
    body = client.get("/app/push-config.json").get_json()
    assert body["enabled"] is True and body["vapidKey"] == PUSH["vapidKey"]
    assert body["firebase"]["projectId"] == "tandem-example" and "vapidKey" not in body["firebase"]
    csp = client.get("/app/").headers["Content-Security-Policy"]
    connect = re.search(r"connect-src ([^;]*);", csp).group(1).split()  # type: ignore[union-attr]
    assert connect == [
        "'self'",
        "https://firebaseinstallations.googleapis.com",
        "https://fcmregistrations.googleapis.com",
    ]
    assert "script-src 'self';" in csp  # the SDK is served from here, never a CDN


@pytest.mark.parametrize(
    "config",
    [
        {k: v for k, v in PUSH.items() if k != "vapidKey"},
        {**PUSH, "appId": ""},
        {**PUSH, "apiKey": "x'; script-src *"},
        ["not", "an", "object"],
    ],
)
def test_bad_push_settings_stop_start_up(tmp_path: Path, database_url: str, config: object) -> None:
    with pytest.raises(ConfigError, match="TANDEM_FIREBASE_WEB_CONFIG"):
        make_app(tmp_path / "i", database_url, PARTNER_APP_PUSH_CONFIG=config)


def test_push_settings_file_that_cannot_be_read_stops_start_up(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TANDEM_FIREBASE_WEB_CONFIG", str(tmp_path / "missing.json"))
    with pytest.raises(ConfigError, match="TANDEM_FIREBASE_WEB_CONFIG: cannot read"):
        make_app(tmp_path / "i", database_url)
    good = tmp_path / "firebase-web.json"
    good.write_text(json.dumps(PUSH), encoding="utf-8")
    monkeypatch.setenv("TANDEM_FIREBASE_WEB_CONFIG", str(good))
    app = make_app(tmp_path / "j", database_url)
    assert app.test_client().get("/app/push-config.json").get_json()["enabled"] is True


def test_the_push_sdk_is_served_here_but_not_part_of_the_first_load(client: FlaskClient) -> None:
    vendor = STATIC / "vendor" / "firebase"
    for name in ("firebase-app.js", "firebase-messaging.js"):
        source = (vendor / name).read_text(encoding="utf-8")
        assert not re.search(r"""from\s*["']https?:""", source), name
        with client.get(f"/app/static/vendor/firebase/{name}") as served:
            assert served.status_code == 200
    shell = client.get("/app/sw.js").get_data(as_text=True)
    assert "/vendor/" not in shell
    assert "vendor" not in client.get("/app/").get_data(as_text=True)
