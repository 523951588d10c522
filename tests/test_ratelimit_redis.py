"""Rate-limit counters shared through Redis by several processes
(TANDEM_RATELIMIT_STORAGE=redis://...), as when gunicorn runs several workers."""

from __future__ import annotations

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
