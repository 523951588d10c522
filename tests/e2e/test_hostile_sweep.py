"""A bad-input sweep against the running server (issue 9, defect 5): a table of hostile
values by every API operation of the served OpenAPI document and every portal form, sent
over HTTP to `tandem serve --demo` (two gunicorn workers), on SQLite and on PostgreSQL.
No answer is a 5xx; values no field can hold are 400 or 422.

Then text stored before the edge refused it (a lone surrogate and a NUL in a flagged
check-in's reflection, written straight into the database) does not take the
therapist's couple page down: it answers 200 and shows the newest flagged check-in.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from sqlalchemy import select

from server.seeding import DEMO_COUPLE_LABEL, DEMO_PARTNERS, DEMO_THERAPIST
from tests.api.test_hostile_input import (
    HOSTILE_QUERY,
    SKIPPED_QUERY,
    Hostile,
    check_answer,
    hostile_of,
    openapi_operations,
    variants,
)
from tests.live import LiveServer, live_server, serve_env
from tests.portal.matrix import PORTAL_MATRIX

TEST_DB_ENV = "TANDEM_TEST_DATABASE_URL"
NOW = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")

# A body that works (or nearly) for each operation that takes one; the sweep puts every
# hostile value in every place of it. Operations not listed get `{"x-extra": value}`.
BODIES: dict[str, dict[str, Any]] = {
    "POST /api/v1/auth/therapists": {
        "email": "sweep@example.test",
        "password": "a long password",
        "name": "Dr. Sweep",
    },
    # Failed sign-ins count per account: never the demo therapist's, who signs in later.
    "POST /api/v1/auth/token": {"email": "nobody@example.test", "password": "not it"},
    "POST /api/v1/auth/refresh": {"refresh_token": "not-a-token"},
    "POST /api/v1/auth/verify-email": {"token": "not-a-token"},
    "POST /api/v1/auth/password-reset": {"email": "nobody@example.test"},
    "POST /api/v1/auth/password-reset/confirm": {
        "token": "not-a-token",
        "new_password": "a long new password",
    },
    "POST /api/v1/invites/{code}/accept": {
        "email": "kim@example.test",
        "password": "a long password",
        "name": "Kim",
        "timezone": "Europe/Paris",
    },
    "PATCH /api/v1/me": {"name": "Dr. Robin Demo", "timezone": "Europe/London"},
    "DELETE /api/v1/me": {"password": "not the password"},
    "POST /api/v1/programs": {
        "slug": "sweep-program",
        "title": "Gentle start",
        "summary": "Small and often.",
        "stages": [
            {
                "title": "Appreciate",
                "guidance": "Small and often.",
                "exercises": [{"exercise": "daily-appreciations", "per_week": 4}],
                "min_weeks": 1,
                "criteria": {"min_sessions": 2, "max_mean": {"anxiety": 4.5}},
            }
        ],
    },
    "POST /api/v1/couples": {"label": "Sweep couple"},
    "POST /api/v1/couples/{couple_id}/assignments": {
        "program": "communication-foundations",
        "start_date": "2026-01-05",
    },
    "PATCH /api/v1/assignments/{assignment_id}": {
        "note": "Go gently.",
        "overrides": {"sf-1-nongenital-touch": {"per_week": 2}},
    },
    "POST /api/v1/assignments/{assignment_id}/advance": {"reason": "Both ready."},
    "POST /api/v1/assignments/{assignment_id}/pause": {"reason": "Holiday."},
    "POST /api/v1/assignments/{assignment_id}/resume": {"reason": "Back."},
    "POST /api/v1/assignments/{assignment_id}/complete": {"reason": "Done."},
    "POST /api/v1/checkins": {
        "id": "00000000-0000-4000-8000-000000000000",
        "assignment_id": "{assignment_id}",
        "exercise": "sf-1-nongenital-touch",
        "occurred_at": NOW,
        "answers": {"duration_minutes": 30, "anxiety": 2, "pain": 0, "refocused": True},
        "reflection": "Slow and kind.",
        "visibility": "therapist",
        "flags": {"pain": False},
    },
    "PUT /api/v1/me/reminder-settings": {
        "timezone": "Europe/London",
        "times": ["19:30"],
        "days": ["mon", "thu"],
        "quiet_hours": {"start": "23:00", "end": "07:00"},
        "paused": False,
        "discreet": True,
        "text": "Time for us",
    },
    "POST /api/v1/me/devices": {"token": "sweep-device-token", "platform": "android"},
    "PUT /api/v1/couples/{couple_id}/measures": {
        "schedule": [{"measure": "phq-9", "every_weeks": 1}, {"measure": "gad-7", "every_weeks": 2}]
    },
    "POST /api/v1/measure-responses": {
        "id": "00000000-0000-4000-8000-000000000001",
        "measure": "gad-7",
        "answers": {"q1": 1, "q2": 0, "q3": 1, "q4": 2, "q5": 0, "q6": 1, "q7": 0},
    },
    # A wrong current password counts as a failed sign-in: the partner's, never the demo
    # therapist's, who signs in to the portal later.
    "POST /api/v1/me/password": {
        "current_password": "not the password",
        "new_password": "a long new password",
    },
}
PARTNER_OPS = {
    "POST /api/v1/checkins",
    "GET /api/v1/me/checkins",
    "GET /api/v1/me/homework",
    "GET /api/v1/me/reminder-settings",
    "PUT /api/v1/me/reminder-settings",
    "GET /api/v1/me/reminders",
    "POST /api/v1/me/devices",
    "DELETE /api/v1/me/devices/{device_id}",
    "DELETE /api/v1/me",
    "POST /api/v1/me/password",
    "DELETE /api/v1/me/sessions",
    "DELETE /api/v1/me/sessions/{session_id}",
    "GET /api/v1/me/measures",
    "GET /api/v1/me/measure-responses",
    "POST /api/v1/measure-responses",
}
# Run last, in this order: they end what the others need (a program, a login).
LAST = (
    "/advance",
    "/complete",
    "DELETE /api/v1/me/devices",
    "DELETE /api/v1/me",
    "/auth/logout",
)

# Portal form fields with a value that works; each gets every hostile value in turn.
PORTAL_FORMS: dict[str, dict[str, str]] = {
    "POST /portal/login": {"email": "nobody@example.test", "password": "not it"},
    "POST /portal/couples": {"label": "Sweep couple"},
    "POST /portal/couples/<couple_id>/assignments": {
        "program": "communication-foundations",
        "start_date": "2026-01-05",
    },
    "POST /portal/assignments/<assignment_id>/targets": {"per_week-sf-1-nongenital-touch": "3"},
    "POST /portal/assignments/<assignment_id>/pause": {"reason": "Holiday."},
    "POST /portal/assignments/<assignment_id>/resume": {"reason": "Back."},
    "POST /portal/assignments/<assignment_id>/advance": {"reason": "Both ready."},
    "POST /portal/alerts/<alert_id>/ack": {"next": "/portal/alerts"},
    "POST /portal/assignments/<assignment_id>/complete": {"reason": "Done."},
    # The partner's spare login: another user's, so 404 (the therapist stays signed in).
    "POST /portal/sign-ins/<session_id>/end": {},
    "POST /portal/sign-ins/end-others": {},
    "POST /portal/password": {
        "current_password": "not it",
        "new_password": "a long new password",
        "new_password_again": "a long new password",
    },
    "POST /portal/logout": {},
    # The pages the links in emails open, and a partner's recovery code.
    "POST /portal/verify-email": {"token": "not-a-token"},
    "POST /portal/forgot-password": {"email": "nobody@example.test"},
    "POST /portal/reset-password": {
        "token": "not-a-token",
        "new_password": "a long new password",
        "repeat_password": "a long new password",
    },
    "POST /portal/couples/<couple_id>/partners/<partner_id>/recovery": {},
    # Issue 12: moving back, the therapist's note, a new invite code (a joined slot: 303).
    "POST /portal/assignments/<assignment_id>/back": {"reason": "Too early."},
    "POST /portal/assignments/<assignment_id>/note": {"note": "Go gently."},
    "POST /portal/couples/<couple_id>/invites/<int:slot>/reissue": {},
}
# Pages outside the API (the partner app's shell and the health checks too).
PORTAL_PAGES = [
    "/portal/",
    "/portal/couples/<couple_id>",
    "/portal/alerts",
    "/portal/assignments/<assignment_id>/advance",  # the confirmation before moving on
    "/portal/sign-ins",
    "/portal/login",
    "/app/",
    "/healthz",
    "/readyz",
]
# Form values, percent-encoded as sent. NUL and values over 10,000 characters are refused.
HOSTILE_FORM = [
    *(h for h in HOSTILE_QUERY if h.name != "too-long"),
    Hostile("long", "y" * 3000, False),
    Hostile("too-long", "y" * 12_000, True),
    Hostile("minus-one", "-1", False),
    Hostile("page-10^17", "1" + "0" * 17, False),
    Hostile("emoji-bidi", quote("\u202e\U0001f600"), False),
]


# --- the served process ---------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, str, Path]]:
    """`tandem serve --demo` on a database of its own: a SQLite file, or a PostgreSQL
    database created next to TANDEM_TEST_DATABASE_URL's and dropped afterwards."""
    instance = tmp_path_factory.mktemp(f"sweep-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{instance / 'sweep.sqlite3'}"
        with live_server(instance, workers=2, demo=True, env=_env(instance, url)) as server:
            yield server, url, instance
        return
    base = os.environ.get(TEST_DB_ENV, "")
    if not base.startswith("postgresql"):
        pytest.skip(f"needs PostgreSQL: set {TEST_DB_ENV}=postgresql+psycopg://...")
    import psycopg

    name = f"tandem_sweep_{uuid.uuid4().hex[:10]}"
    parts = urlsplit(base)
    admin = urlunsplit(("postgresql", parts.netloc, parts.path, "", ""))
    url = urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        with live_server(instance, workers=2, demo=True, env=_env(instance, url)) as server:
            yield server, url, instance
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _env(instance: Path, url: str) -> dict[str, str]:
    return serve_env(instance, TANDEM_DATABASE_URL=url)


class Caller:
    """The demo's callers and the ids the operations need, read over HTTP."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.tokens = {
            "therapist": self._login(*DEMO_THERAPIST[:2]),
            "partner": self._login(*DEMO_PARTNERS[0][:2]),
        }
        couples = self.get("therapist", "/api/v1/couples")
        couple = next(c for c in couples if c["label"] == DEMO_COUPLE_LABEL)
        cid = couple["id"]
        assignments = self.get("therapist", f"/api/v1/couples/{cid}/assignments")
        checkins = self.get("therapist", f"/api/v1/couples/{cid}/checkins")
        alerts = self.get("therapist", "/api/v1/alerts")
        status, fresh = server.json(
            "POST", "/api/v1/couples", {"label": "Sweep invites"}, token=self.tokens["therapist"]
        )
        assert status == 201, fresh
        status, device = server.json(
            "POST",
            "/api/v1/me/devices",
            {"token": "sweep-device", "platform": "ios"},
            token=self.tokens["partner"],
        )
        assert status in (200, 201), device  # 200: registered by an earlier test
        spare = self._login(*DEMO_PARTNERS[0][:2])  # a login of the partner's to end
        status, logins = server.json("GET", "/api/v1/me/sessions", token=spare)
        assert status == 200, logins
        self.ids = {
            "couple_id": cid,
            "assignment_id": assignments[0]["id"],
            "checkin_id": checkins[0]["id"],
            "alert_id": alerts[0]["id"],
            "device_id": device["id"],
            "session_id": next(login["id"] for login in logins if login["current"]),
            "partner_id": couple["partners"][0]["id"],
            "code": fresh["invites"][0]["code"],
            "slot": "1",
        }

    def _login(self, email: str, password: str) -> str:
        status, body = self.server.json(
            "POST", "/api/v1/auth/token", {"email": email, "password": password}
        )
        assert status == 200, body
        return str(body["access_token"])

    def get(self, role: str, path: str) -> Any:
        status, body = self.server.json("GET", path, token=self.tokens[role])
        assert status == 200, (path, body)
        return body

    def path(self, template: str) -> str:
        path = template
        for name, value in self.ids.items():
            path = path.replace("{" + name + "}", value).replace(f"<{name}>", value)
            path = path.replace(f"<int:{name}>", value)
        if "{slug}" in path:
            path = path.replace(
                "{slug}", "speaker-listener" if "/exercises/" in path else "sensate-focus-course"
            )
        assert "{" not in path and "<" not in path, path
        return path

    def headers(self, key: str) -> dict[str, str]:
        path = key.split(" ", 1)[1]
        if path.startswith(("/api/v1/auth/", "/api/v1/invites/")) and "logout" not in path:
            return {}
        role = "partner" if key in PARTNER_OPS else "therapist"
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def _all(calls: list[Callable[[], None]]) -> int:
    """Run one operation's requests four at a time (the server has two workers)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        for future in [pool.submit(call) for call in calls]:
            future.result()
    return len(calls)


def _order(key: str) -> tuple[int, str]:
    for rank, end in enumerate(LAST, start=1):
        if end in key:
            return rank, key
    return 0, key


def _body(caller: Caller, key: str) -> dict[str, Any] | None:
    body = BODIES.get(key)
    if body is None:
        return None
    text = json.dumps(body)
    for name, value in caller.ids.items():
        text = text.replace("{" + name + "}", value)
    return json.loads(text)


# --- stored text a page cannot encode ---------------------------------------------------


def test_a_stored_reflection_with_a_lone_surrogate_does_not_take_the_page_down(
    served: tuple[LiveServer, str, Path],
) -> None:
    """(Runs before the sweep, which may pause or complete the demo's program.)"""
    server, url, instance = served
    caller = Caller(server)
    newest = _store_flagged_checkin_with_unencodable_reflection(instance, url)
    browser = Browser(server)
    browser.sign_in(*DEMO_THERAPIST[:2])
    status, _, raw = browser.get(f"/portal/couples/{caller.ids['couple_id']}")
    assert status == 200
    page = raw.decode()
    assert "It hurt \ufffd and \ufffd then" in page
    # The newest flagged check-in is listed first.
    first = page.index("It hurt")
    assert all(page.index(other) > first for other in ("Slow and kind",) if other in page)
    assert newest


def _store_flagged_checkin_with_unencodable_reflection(instance: Path, url: str) -> str:
    """A copy of the newest demo check-in, flagged, whose encrypted reflection holds a
    lone surrogate and a NUL: written straight into the database, past the API."""
    from server import create_app
    from server.crypto import cipher
    from server.extensions import db
    from server.models import CheckIn

    app = create_app({"TANDEM_INSTANCE_PATH": str(instance), "TANDEM_DATABASE_URL": url})
    try:
        with app.app_context():
            latest = db.session.scalars(
                select(CheckIn).order_by(CheckIn.occurred_at.desc()).limit(1)
            ).one()
            row = {c.key: getattr(latest, c.key) for c in CheckIn.__table__.columns}
            secret = {"answers": {}, "reflection": "It hurt \ud800 and \x00 then"}
            row.update(
                id=str(uuid.uuid4()),
                occurred_at=datetime.now(UTC),
                recorded_at=datetime.now(UTC),
                flags=["pain"],
                visibility="therapist",
                text_encrypted=cipher().encrypt(json.dumps(secret)),
            )
            db.session.add(CheckIn(**row))
            db.session.commit()
            return str(row["id"])
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


# --- the sweep ------------------------------------------------------------------------


def test_no_hostile_value_makes_the_running_server_fail(
    served: tuple[LiveServer, str, Path],
) -> None:
    server, url, _ = served
    started = time.monotonic()
    caller = Caller(server)
    status, _, raw = server.request("GET", "/api/v1/openapi.json")
    assert status == 200
    operations = openapi_operations(json.loads(raw))
    assert set(BODIES) <= set(operations), set(BODIES) - set(operations)
    sent = 0

    for key in sorted(operations, key=_order):
        method, template = key.split(" ", 1)
        path = caller.path(template)
        calls: list[Callable[[], None]] = []
        if method != "GET":  # (the test-client sweep sends bodies to GETs too)
            headers = {**caller.headers(key), "Content-Type": "application/json"}
            for label, text in variants(_body(caller, key), refused_everywhere=False):
                calls.append(
                    _call(
                        server,
                        method,
                        path,
                        text.encode(),
                        headers,
                        hostile_of(label).refused,
                        f"{key} {label}",
                    )
                )
        else:
            names = [
                p["name"]
                for p in operations[key].get("parameters", [])
                if p.get("in") == "query" and p["name"] not in SKIPPED_QUERY
            ]
            for name in [*names, "unknown"]:
                for hostile in HOSTILE_QUERY:
                    calls.append(
                        _call(
                            server,
                            "GET",
                            f"{path}?{name}={hostile.raw}",
                            None,
                            caller.headers(key),
                            hostile.refused,
                            f"{key} ?{name}={hostile.name}",
                        )
                    )
        sent += _all(calls)

    sent += _sweep_portal(server, caller)
    elapsed = time.monotonic() - started
    assert sent > 1000
    print(f"hostile sweep on {url.split(':')[0]}: {sent} requests in {elapsed:.1f} s")
    assert "Traceback" not in server.output


def _call(
    server: LiveServer,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
    refused: bool,
    what: str,
) -> Callable[[], None]:
    def call() -> None:
        status, got, raw = server.request(method, path, body=body, headers=headers)
        check_answer(status, got.get("Content-Type", ""), raw.decode(), refused, what)

    return call


# --- the portal -----------------------------------------------------------------------


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    """A portal session over plain HTTP: the cookie and the CSRF token from the page."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.cookie = ""
        status, headers, page = server.request("GET", "/portal/login")
        assert status == 200
        self._keep(headers)
        self.csrf = self._token(page)

    def _keep(self, headers: dict[str, str]) -> None:
        cookie = headers.get("Set-Cookie", "")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]

    @staticmethod
    def _token(page: bytes) -> str:
        match = _CSRF.search(page.decode())
        assert match, "no CSRF token on the page"
        return match.group(1)

    def sign_in(self, email: str, password: str) -> None:
        status, headers, _ = self.post(
            "/portal/login", f"email={quote(email)}&password={quote(password)}"
        )
        assert status == 303, status
        self._keep(headers)
        status, _, page = self.get("/portal/")
        assert status == 200
        self.csrf = self._token(page)

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        return self.server.request("GET", path, headers={"Cookie": self.cookie})

    def form_body(self, form: str) -> bytes:
        return f"{form}&csrf_token={quote(self.csrf)}".lstrip("&").encode()

    def form_headers(self) -> dict[str, str]:
        # The cookie is not updated from answers: flashed messages would pile up in it.
        return {"Cookie": self.cookie, "Content-Type": "application/x-www-form-urlencoded"}

    def post(self, path: str, form: str) -> tuple[int, dict[str, str], bytes]:
        return self.server.request(
            "POST", path, body=self.form_body(form), headers=self.form_headers()
        )


def _sweep_portal(server: LiveServer, caller: Caller) -> int:
    forms = {k for k in PORTAL_MATRIX if k.startswith("POST ")}
    assert forms == set(PORTAL_FORMS), forms ^ set(PORTAL_FORMS)
    browser = Browser(server)
    browser.sign_in(*DEMO_THERAPIST[:2])
    sent = 0
    for page in PORTAL_PAGES:
        path = caller.path(page)
        sent += _all(
            [
                _call(
                    server,
                    "GET",
                    f"{path}?{name}={hostile.raw}",
                    None,
                    {"Cookie": browser.cookie},
                    hostile.refused,
                    f"GET {page}?{name}={hostile.name}",
                )
                for name in ("page", "next", "unknown")
                for hostile in HOSTILE_QUERY
            ]
        )
    for key, fields in PORTAL_FORMS.items():
        path = caller.path(key.split(" ", 1)[1])
        calls = []
        for field in fields or {"unknown": ""}:
            for hostile in HOSTILE_FORM:
                form = "&".join(
                    f"{quote(n)}={hostile.raw if n == field else quote(v)}"
                    for n, v in {**fields, field: ""}.items()
                )
                calls.append(
                    _call(
                        server,
                        "POST",
                        path,
                        browser.form_body(form),
                        browser.form_headers(),
                        hostile.refused,
                        f"{key} {field}={hostile.name}",
                    )
                )
        sent += _all(calls)
    return sent
