"""End to end, through the real `tandem serve` (2 gunicorn workers) and the `tandem`
command line on the same instance: a phone's login is ended from another login, and
from then on its device gets no pushes while the partner's other device still does."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from notifications.senders import token_ref
from server.seeding import DEMO_THERAPIST
from tests.live import LiveServer, live_server, serve_env

PASSWORD = "a long password for tests"
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
SAFARI_IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)


def tandem(instance: Path, *args: str) -> str:
    """Run a `tandem` command on the served instance; its standard output and error."""
    result = subprocess.run(
        [sys.executable, "-c", "from server.cli import main; main()", *args],
        env=serve_env(instance),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def call(server: LiveServer, method: str, path: str, token: str, body: object = None) -> tuple:  # type: ignore[type-arg]
    return server.json(method, f"/api/v1{path}", body, token=token)


def sign_in(server: LiveServer, email: str, user_agent: str) -> dict:  # type: ignore[type-arg]
    status, _, raw = server.request(
        "POST",
        "/api/v1/auth/token",
        body={"email": email, "password": PASSWORD},
        headers={"User-Agent": user_agent},
    )
    assert status == 200, raw
    return json.loads(raw)  # type: ignore[no-any-return]


def test_a_phone_ended_from_another_login_gets_no_more_pushes(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    with live_server(instance, workers=2, demo=True) as server:
        status, therapist = server.json(
            "POST",
            "/api/v1/auth/token",
            {"email": DEMO_THERAPIST[0], "password": DEMO_THERAPIST[1]},
        )
        assert status == 200
        status, couple = call(server, "POST", "/couples", therapist["access_token"], {"label": "E"})
        assert status == 201
        email = f"p-{uuid.uuid4().hex[:8]}@example.test"
        status, _ = server.json(
            "POST",
            f"/api/v1/invites/{couple['invites'][0]['code']}/accept",
            {"email": email, "password": PASSWORD, "name": "P", "timezone": "Europe/Berlin"},
        )
        assert status == 201
        program = {"program": "communication-foundations"}
        status, _ = call(
            server,
            "POST",
            f"/couples/{couple['id']}/assignments",
            therapist["access_token"],
            program,
        )
        assert status == 201

        phone = sign_in(server, email, CHROME_ANDROID)
        tablet = sign_in(server, email, SAFARI_IPAD)
        phone_token, tablet_token = f"phone-{uuid.uuid4()}", f"tablet-{uuid.uuid4()}"
        for login, token in ((phone, phone_token), (tablet, tablet_token)):
            body = {"token": token, "platform": "android"}
            assert call(server, "POST", "/me/devices", login["access_token"], body)[0] == 201

        # From the tablet: find the phone's login by its label and end it.
        status, logins = call(server, "GET", "/me/sessions", tablet["access_token"])
        assert status == 200
        labels = {login["client"]: login for login in logins}
        assert labels["Safari on iPad"]["current"] is True
        target = labels["Chrome on Android"]
        assert target["current"] is False
        status, _ = call(server, "DELETE", f"/me/sessions/{target['id']}", tablet["access_token"])
        assert status == 204
        # The phone's tokens stop working at once, whichever worker answers.
        for _ in range(4):
            assert call(server, "GET", "/me", phone["access_token"])[0] == 401
        refresh = {"refresh_token": phone["refresh_token"]}
        assert server.json("POST", "/api/v1/auth/refresh", refresh)[0] == 401

        # Reminders are planned and dispatched by the command line on the same instance.
        now = datetime.now().astimezone()
        tandem(instance, "reminders", "plan", "--now", now.isoformat())
        status, reminders = call(server, "GET", "/me/reminders", tablet["access_token"])
        assert status == 200
        due = [r for r in reminders if r["status"] == "pending"]
        assert due, reminders
        send_at = datetime.fromisoformat(due[0]["send_at"].replace("Z", "+00:00"))
        pushed = tandem(
            instance, "reminders", "dispatch", "--now", (send_at + timedelta(minutes=1)).isoformat()
        )
    assert f"push to={token_ref(tablet_token)}" in pushed, pushed
    assert token_ref(phone_token) not in pushed, pushed
    assert phone_token not in server.output and tablet_token not in server.output
