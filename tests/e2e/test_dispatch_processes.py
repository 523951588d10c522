"""Several dispatcher processes over one PostgreSQL outbox, sending through the real
firebase-admin SDK to a fake FCM server on loopback: each reminder exactly once; a
worker killed mid-run loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, insert, select

from server.db import new_id, utcnow
from server.extensions import db
from server.models import Device, Reminder, ReminderPreferences, User
from tests.notifications.fake_fcm import FakeFCM

WORKER = Path(__file__).with_name("dispatch_worker.py")
USERS = 1000
PER_USER = 10  # 10,000 reminders


def _fill_outbox(app: Flask) -> set[str]:
    now = utcnow()
    users, devices, reminders, prefs = [], [], [], []
    for n in range(USERS):
        user_id = new_id()
        users.append(
            {
                "id": user_id,
                "email": f"load{n}@example.test",
                "password_hash": "x",
                "name": f"P{n}",
                "role": "client",
                "timezone": "UTC",
                "created_at": now,
                "updated_at": now,
            }
        )
        # No quiet hours: the test must not depend on the hour it runs at.
        prefs.append(
            {
                "user_id": user_id,
                "times": ["20:00"],
                "days": list(range(7)),
                "quiet_start": None,
                "quiet_end": None,
                "paused": False,
                "discreet": True,
                "updated_at": now,
            }
        )
        devices.append(
            {
                "id": new_id(),
                "user_id": user_id,
                "token": f"token-{n}",
                "platform": "android",
                "created_at": now,
                "last_seen_at": now,
            }
        )
        for k in range(PER_USER):
            reminders.append(
                {
                    "id": new_id(),
                    "user_id": user_id,
                    "key": f"{user_id}:{k}",
                    "kind": "reminder",
                    "send_at": now - timedelta(minutes=1),
                    "next_attempt_at": now - timedelta(minutes=1),
                    "status": "pending",
                    "attempts": 0,
                    "created_at": now,
                    "updated_at": now,
                }
            )
    with app.app_context():
        db.session.execute(insert(User), users)
        db.session.execute(insert(Device), devices)
        db.session.execute(insert(ReminderPreferences), prefs)
        db.session.execute(insert(Reminder), reminders)
        db.session.commit()
    return {r["id"] for r in reminders}


def _worker(fake: FakeFCM, database_url: str, instance: Path, offset: float = 0):  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    env.update(
        TANDEM_DATABASE_URL=database_url,
        TANDEM_INSTANCE_PATH=str(instance),
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
        **fake.client_env(),  # trust the fake's TLS certificate
    )
    return subprocess.Popen(
        [sys.executable, str(WORKER), fake.url, str(offset)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _delivered(fake: FakeFCM) -> Counter[str]:
    return Counter(m["data"]["reminder_id"] for m in fake.messages)


@pytest.fixture
def instance(app: Flask, tmp_path: Path) -> Path:
    """An instance folder with the test app's keys, so the workers share them."""
    folder = tmp_path / "instance"
    folder.mkdir()
    settings = app.config["TANDEM_SETTINGS"]
    (folder / "secret_key").write_text(settings.secret_key)
    (folder / "data_keys").write_text(",".join(settings.data_keys))
    return folder


def test_two_workers_deliver_each_of_10000_reminders_exactly_once(
    pg_url: str, app: Flask, clean_db: None, instance: Path
) -> None:
    wanted = _fill_outbox(app)
    with FakeFCM(keep_alive=True) as fake:
        workers = [_worker(fake, pg_url, instance) for _ in range(2)]
        outputs = [w.communicate(timeout=600)[0] for w in workers]
        assert [w.returncode for w in workers] == [0, 0], "\n".join(
            outputs
        )  # whole: a repr is cut short
        delivered = _delivered(fake)
        versions = {r.http_version for r in fake.received}
    assert set(delivered) == wanted, outputs[0][-3000:]
    assert max(delivered.values()) == 1
    # FCMSender's default: send_each, an HTTP/1.1 request per message on kept
    # connections (the fake offers h2 and http/1.1, as FCM does)
    assert versions == {"1.1"}
    # both workers took part
    assert all("sent=" in out and "claimed=0" in out for out in outputs)
    assert sum(1 for out in outputs if "sent=0" not in out.splitlines()[0]) == 2
    with app.app_context():
        statuses = dict(
            db.session.execute(
                select(Reminder.status, func.count()).group_by(Reminder.status)
            ).all()
        )
    assert statuses == {"sent": len(wanted)}


def test_a_worker_killed_mid_run_loses_nothing(
    pg_url: str, app: Flask, clean_db: None, instance: Path
) -> None:
    wanted = _fill_outbox(app)
    with FakeFCM(keep_alive=True) as fake:
        first = _worker(fake, pg_url, instance)
        deadline = time.monotonic() + 120
        while len(fake.messages) < 1500:
            assert first.poll() is None, "the worker finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
        # the lease (5 minutes) has not run out yet: a second worker leaves those rows...
        # ...so it runs as if 6 minutes later, when the dead worker's lease has expired.
        second = _worker(fake, pg_url, instance, offset=6 * 60)
        output = second.communicate(timeout=600)[0]
        assert second.returncode == 0, output
        delivered = _delivered(fake)
    assert set(delivered) == wanted  # none lost
    duplicates = sum(count - 1 for count in delivered.values())
    assert duplicates <= 500  # at most the batch in flight when it died
    with app.app_context():
        statuses = dict(
            db.session.execute(
                select(Reminder.status, func.count()).group_by(Reminder.status)
            ).all()
        )
    assert statuses == {"sent": len(wanted)}
