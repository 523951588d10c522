"""The real `tandem serve` (gunicorn, two workers): what the test client cannot see.

- every request gets its own app context and teardown (issue 9, defect 1): an anonymous
  visitor never sees a therapist's name, alert count or sign-out form, and each
  therapist sees only their own name;
- a fresh instance served without `--demo` has the catalog (defect 2);
- no secret or personal data in the process's log lines (defect 8).
"""

from __future__ import annotations

import http.cookiejar
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from exercises.catalog import default_catalog_path, load_catalog
from server.seeding import DEMO_THERAPIST
from tests.live import LiveServer, live_server, serve_env

PASSWORD = "a long password for tests"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
# What only a signed-in page shows (server/portal/templates/portal/base.html).
SIGNED_IN_MARKERS = ('class="sign-out"', 'class="who"', "Sign out", 'class="count"')


def tandem(instance: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run a `tandem` command on `instance`, as an operator would; its output."""
    result = subprocess.run(
        [sys.executable, "-c", "from server.cli import main; main()", *args],
        env=env or serve_env(instance),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def create_therapist(instance: Path, email: str, name: str) -> None:
    tandem(instance, "create-therapist", "--email", email, "--name", name, "--password", PASSWORD)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class Browser:
    """A browser of its own: cookie jar, CSRF token read from pages, no redirects
    followed (each hop is checked)."""

    server: LiveServer

    def __post_init__(self) -> None:
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )

    def open(self, path: str, form: dict[str, str] | None = None) -> tuple[int, str, str]:
        """(status, Location, body) of one request."""
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(self.server.base_url + path, data=data)
        try:
            with self.opener.open(request, timeout=30) as response:
                return (
                    response.status,
                    response.headers.get("Location", ""),
                    response.read().decode(),
                )
        except urllib.error.HTTPError as error:
            body = error.read().decode()
            return error.code, error.headers.get("Location", ""), body

    def csrf(self, page: str) -> str:
        match = _CSRF.search(page)
        assert match, page[:500]
        return match.group(1)

    def sign_in(self, email: str) -> str:
        status, _, page = self.open("/portal/login")
        assert status == 200, page[:500]
        status, location, page = self.open(
            "/portal/login", {"email": email, "password": PASSWORD, "csrf_token": self.csrf(page)}
        )
        assert status == 303, page[:500]
        status, _, page = self.open(urllib.parse.urlsplit(location).path)
        assert status == 200, page[:500]
        return page

    def sign_out(self, page: str) -> str:
        """Sign out with the page's form; the page it lands on ("You have signed out")."""
        status, location, body = self.open("/portal/logout", {"csrf_token": self.csrf(page)})
        assert status == 303, body[:500]
        status, _, landing = self.open(urllib.parse.urlsplit(location).path)
        assert status == 200, landing[:500]
        assert "You have signed out" in landing
        return landing


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    return tmp_path / "instance"


@pytest.fixture
def therapists(instance: Path) -> list[tuple[str, str]]:
    """Three therapists (email, name) in a migrated instance, created with the CLI."""
    tandem(instance, "db", "upgrade")
    made = []
    for n in range(3):
        tag = uuid.uuid4().hex[:8]
        made.append((f"t{n}-{tag}@example.test", f"Dr. Therapist{n} {tag}"))
    for email, name in made:
        create_therapist(instance, email, name)
    return made


@pytest.fixture
def served(instance: Path, therapists: list[tuple[str, str]]) -> Iterator[LiveServer]:
    with live_server(instance, workers=2) as server:
        yield server


def _anonymous_sees_nobody(page: str, names: list[str], where: str) -> None:
    for marker in SIGNED_IN_MARKERS:
        assert marker not in page, f"{where}: an anonymous page shows {marker!r}"
    for name in names:
        assert name not in page, f"{where}: an anonymous page shows {name!r}"


def test_each_request_has_its_own_context_under_tandem_serve(
    served: LiveServer, therapists: list[tuple[str, str]]
) -> None:
    names = [name for _, name in therapists]
    for round_ in range(8):
        for email, name in therapists:
            browser = Browser(served)
            page = browser.sign_in(email)
            assert name in page, f"round {round_}: {name} does not see their own name"
            for other in names:
                if other != name:
                    assert other not in page, f"round {round_}: {name} sees {other}"
            # Visitors with no session, between therapists' requests, on both workers.
            for _ in range(2):
                status, _, login = Browser(served).open("/portal/login")
                assert status == 200
                _anonymous_sees_nobody(login, names, f"round {round_}, /portal/login")
            landing = browser.sign_out(page)
            _anonymous_sees_nobody(landing, names, f"round {round_}, signed-out page")
            status, location, _ = browser.open("/portal/")
            assert status in (302, 303) and "/portal/login" in location


def test_a_fresh_instance_without_demo_serves_the_catalog(instance: Path) -> None:
    with live_server(instance, workers=2) as server:
        email = f"fresh-{uuid.uuid4().hex[:8]}@example.test"
        create_therapist(instance, email, "Dr. Fresh")
        status, tokens = server.json(
            "POST", "/api/v1/auth/token", {"email": email, "password": PASSWORD}
        )
        assert status == 200, tokens
        status, programs = server.json(
            "GET", "/api/v1/programs?page_size=100", token=tokens["access_token"]
        )
    assert status == 200, programs
    shipped = set(load_catalog(default_catalog_path()).programs)
    assert shipped
    assert shipped <= {program["slug"] for program in programs}


def test_no_invite_code_token_or_email_in_the_logs(instance: Path) -> None:
    victim = f"victim-{uuid.uuid4().hex[:8]}@example.test"
    secret = f"s3cret{uuid.uuid4().hex}"
    with live_server(instance, workers=2, demo=True) as server:
        status, tokens = server.json(
            "POST",
            "/api/v1/auth/token",
            {"email": DEMO_THERAPIST[0], "password": DEMO_THERAPIST[1]},
        )
        assert status == 200
        status, couple = server.json(
            "POST", "/api/v1/couples", {"label": "Log test"}, token=tokens["access_token"]
        )
        assert status == 201, couple
        codes = [invite["code"] for invite in couple["invites"]]
        status, joined = server.json(
            "POST",
            f"/api/v1/invites/{codes[0]}/accept",
            {
                "email": f"p-{uuid.uuid4().hex[:8]}@example.test",
                "password": PASSWORD,
                "name": "P",
                "timezone": "Europe/Berlin",
            },
        )
        assert status == 201, joined
        server.request("GET", f"/api/v1/invites/{codes[1]}")
        server.request("POST", f"/api/v1/invites/{codes[1]}-nope/accept", body={})
        # links in emails carry ?token=
        server.request("GET", f"/portal/login?token={secret}&email={victim}")
        server.request("GET", "/api/v1/programs", headers={"Referer": f"http://x/?token={secret}"})
        # failed sign-ins until the per-account limit answers 429 (each worker counts
        # on its own with memory://: at most 2 x 10 failures)
        wrong = {"email": victim, "password": "wrong pass!"}
        statuses = [server.json("POST", "/api/v1/auth/token", wrong)[0] for _ in range(21)]
        assert set(statuses) == {401, 429}
        browser = Browser(server)
        portal = []
        for _ in range(21):
            _, _, page = browser.open("/portal/login")
            portal.append(
                browser.open("/portal/login", {**wrong, "csrf_token": browser.csrf(page)})[0]
            )
        assert 429 in portal and set(portal) <= {401, 429}
    output = server.output
    assert "/invites/***/accept" in output  # the access log is there, redacted
    assert "token=***" in output
    for leaked in (*codes, secret, victim, victim.split("@")[0]):
        assert leaked not in output, f"{leaked!r} in the logs:\n{output[-3000:]}"


def test_serve_warns_when_several_workers_count_limits_in_memory(instance: Path) -> None:
    with live_server(instance, workers=2) as server:
        pass
    assert "TANDEM_RATELIMIT_STORAGE=memory://" in server.output
