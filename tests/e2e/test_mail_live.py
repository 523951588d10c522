"""A newcomer's first minute with the real `tandem serve` (two gunicorn workers) and the
default log mailer: sign up by HTTP, the confirmation link shows on the server's output
within a second, following it verifies the account, then sign-in works; the access log
never shows the token; a forgotten password is reset the same way."""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from server.cli import redact
from tests.live import LiveServer, live_server

PASSWORD = "correct horse battery"
# Without TANDEM_PUBLIC_URL, links point at the served port (live_server picks a free one).
LINK = re.compile(r"http://localhost:(\d+)(/portal/[a-z-]+)\?token=([A-Za-z0-9_-]+)")


def wait_for_link(server: LiveServer, after: int, within: float) -> tuple[str, str, float]:
    """The first email link printed after output line `after`, and how long it took."""
    start = time.monotonic()
    while True:
        found = LINK.search("".join(server.lines[after:]))
        if found:
            assert int(found.group(1)) == server.port, found.group(0)
            return found.group(2), found.group(3), time.monotonic() - start
        if time.monotonic() - start > within:
            raise AssertionError(f"no link within {within} s:\n{server.output[-3000:]}")
        time.sleep(0.01)  # another process writes it: nothing to pass a `now` to


def test_sign_up_link_on_stderr_within_a_second_then_verify_and_sign_in(tmp_path: Path) -> None:
    with live_server(tmp_path / "instance", workers=2) as server:
        before = len(server.lines)
        status, body = server.json(
            "POST",
            "/api/v1/auth/therapists",
            {"email": "newcomer@example.test", "password": PASSWORD, "name": "Dr. New"},
        )
        assert status == 202 and set(body) == {"detail"}
        page, token, took = wait_for_link(server, before, within=1.0)
        assert page == "/portal/verify-email"
        assert took < 1.0
        assert "Subject: Confirm your email address" in server.output

        assert (
            server.json(
                "POST",
                "/api/v1/auth/token",
                {"email": "newcomer@example.test", "password": PASSWORD},
            )[0]
            == 401
        )
        # The browser opens the link: the page, and no token in the access log.
        status, headers, html = server.request("GET", f"{page}?token={token}")
        assert status == 200 and b"Confirm my address" in html
        assert headers["Referrer-Policy"] == "no-referrer"
        assert server.json("POST", "/api/v1/auth/verify-email", {"token": token})[0] == 204
        status, tokens = server.json(
            "POST", "/api/v1/auth/token", {"email": "newcomer@example.test", "password": PASSWORD}
        )
        assert status == 200 and tokens["token_type"] == "Bearer"

        # Forgot the password: the reset link arrives the same way.
        before = len(server.lines)
        assert (
            server.json("POST", "/api/v1/auth/password-reset", {"email": "newcomer@example.test"})[
                0
            ]
            == 202
        )
        page, reset, _ = wait_for_link(server, before, within=1.0)
        assert page == "/portal/reset-password"
        server.request("GET", f"{page}?token={reset}")
        assert (
            server.json(
                "POST",
                "/api/v1/auth/password-reset/confirm",
                {"token": reset, "new_password": "a brand new passphrase"},
            )[0]
            == 204
        )
        assert server.json("GET", "/api/v1/me", token=tokens["access_token"])[0] == 401
    output = server.output
    access_lines = [line for line in output.splitlines() if '"GET /portal/' in line]
    assert len(access_lines) == 2
    assert all("token=***" in line for line in access_lines), access_lines
    # Each token shows exactly once: in its email, never in a log line.
    assert output.count(token) == 1 and output.count(reset) == 1


def test_the_access_log_redacts_every_email_link_and_code_path() -> None:
    for line in (
        'GET /portal/verify-email?token=SECRET HTTP/1.1" 200',
        "GET /portal/reset-password?token=SECRET&x=1 HTTP/1.1",
        "GET /account/reset-password?token=SECRET HTTP/1.1",
        "https://tandem.example/account/reset-password?token=SECRET",  # a Referer
    ):
        assert "SECRET" not in redact(line)
        assert "token=***" in redact(line)
    # Recovery codes and reset tokens travel in POST bodies, which are never logged.
    assert parse_qs(urlsplit(redact("/x?token=abc")).query) == {"token": ["***"]}
