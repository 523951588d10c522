"""Rate-limit counters shared through Redis by several processes
(TANDEM_RATELIMIT_STORAGE=redis://...), as when gunicorn runs several workers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REDIS = ("127.0.0.1", 6379)

SCRIPT = """
import sys
from server import create_app
app = create_app({"TANDEM_PASSWORD_PROFILE": "cheapest"})
client = app.test_client()
email, tries = sys.argv[1], int(sys.argv[2])
for _ in range(tries):
    r = client.post("/api/v1/auth/token", json={"email": email, "password": "wrong password!"})
    print(r.status_code)
"""


def _redis_up() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="needs Redis on 127.0.0.1:6379")
def test_failed_sign_ins_are_counted_across_processes(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    env.update(
        TANDEM_INSTANCE_PATH=str(tmp_path),
        TANDEM_RATELIMIT_STORAGE=f"redis://{REDIS[0]}:{REDIS[1]}",
        PYTHONPATH=str(Path(__file__).resolve().parents[1]),
    )
    email = f"nobody-{uuid.uuid4().hex}@example.test"

    def run(tries: int) -> list[int]:
        result = subprocess.run(
            [sys.executable, "-c", SCRIPT, email, str(tries)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return [int(line) for line in result.stdout.split()]

    subprocess.run(
        [sys.executable, "-c", "from server.cli import main; main()", "db", "upgrade"],
        env=env,
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert run(6) == [401] * 6
    # a second process sees the first one's failures: 4 more, then 429
    assert run(5) == [401] * 4 + [429]


def _nothing_listens() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


DOWN_SCRIPT = """
import json
from server import create_app
app = create_app({"TANDEM_PASSWORD_PROFILE": "cheapest"})
client = app.test_client()
out = []
for body in ({"email": "a@example.test", "password": "wrong password!"}, {}):
    r = client.post("/api/v1/auth/token", json=body)
    out.append([r.status_code, r.content_type, r.get_json(), r.headers.get("Retry-After")])
r = client.get("/readyz")
out.append([r.status_code, r.content_type, r.get_json(), r.headers.get("Retry-After")])
out.append(client.get("/healthz").status_code)
print(json.dumps(out))
"""


def test_sign_in_fails_closed_with_503_when_redis_does_not_answer(tmp_path: Path) -> None:
    """The documented choice (README): limited routes answer 503 problem+json with
    Retry-After while the rate-limit storage is down, never a 500 and never unlimited.
    (A process of its own: the limiter is one object per process.)"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    env.update(
        TANDEM_INSTANCE_PATH=str(tmp_path),
        TANDEM_RATELIMIT_STORAGE=f"redis://127.0.0.1:{_nothing_listens()}",
        PYTHONPATH=str(Path(__file__).resolve().parents[1]),
    )
    result = subprocess.run(
        [sys.executable, "-c", DOWN_SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    *sign_ins, ready, healthz = json.loads(result.stdout)
    for status, content_type, body, retry_after in sign_ins:
        assert status == 503, body
        assert content_type == "application/problem+json"
        assert body["code"] == "rate_limit_unavailable"
        assert retry_after
    status, content_type, body, retry_after = ready
    assert status == 503 and content_type == "application/problem+json"
    assert body["code"] == "redis_unavailable"
    assert body["checks"] == {"database": "ok", "instance": "ok", "redis": "failed"}
    assert retry_after
    assert healthz == 200
    assert "Traceback" not in result.stderr
