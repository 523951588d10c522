"""The dispatch FLOOR for bench/reminders_bench.py: one process doing the same work as a
Tandem dispatcher with the least machinery — raw psycopg and a plain multiplexed
HTTP/2 client (httpx, async), no ORM, no SDK, no dispatcher rules.

    python bench/reminders_floor.py FCM_URL [--batch-size 500] [--max-seconds S]

Environment: TANDEM_DATABASE_URL (PostgreSQL), SSL_CERT_FILE (the fake's CA). Same
protocol as bench/reminders_worker.py: prints `ready`, waits for a line on standard
input ("go"), works until three claims in a row come back empty, prints one JSON line.

Per batch, the same statements as `SqlOutbox` (server/services/outbox.py):

1. the re-plan check (`apply_due_replans`'s one query), then the claims: `UPDATE
   reminders … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING …` for expired
   leases, then for pending rows due;
2. one read of what the messages need: the users' time zone, reminder settings and
   device tokens; one commit for 1 and 2;
3. one POST per device to the fake, every one a stream of the same HTTP/2 connection
   (kept for the process, like the SDK's), the same JSON as `FCMSender.build` encodes;
4. the record: one `UPDATE … WHERE id = ANY(…) AND status = 'sending'` for the sent rows
   (and one for the failed, if any), committed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from notifications.texts import DISCREET_BODY, DISCREET_TITLE

LEASE = timedelta(minutes=5)
TTL = 7200

# Before a claim, as `apply_due_replans`: partners with a pending re-plan request and
# a reminder due (none in this bench, so one query that finds nothing).
REPLAN_CHECK = """
SELECT replan_requests.user_id FROM replan_requests
WHERE EXISTS (SELECT reminders.id FROM reminders
              WHERE reminders.user_id = replan_requests.user_id
                AND reminders.status = 'pending' AND reminders.kind = 'reminder'
                AND reminders.next_attempt_at <= %(now)s)
"""
# Two claims, as `SqlOutbox.claim`: expired leases first, then pending rows due, each
# one index range in index order.
CLAIM = """
UPDATE reminders SET status = 'sending', lease_until = %(lease)s, claimed_by = %(worker)s,
       attempts = reminders.attempts + 1, updated_at = %(now)s
WHERE reminders.id IN (
    SELECT reminders.id FROM reminders
    WHERE {condition}
    ORDER BY reminders.next_attempt_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED)
RETURNING reminders.id, reminders.user_id, reminders.kind, reminders.send_at,
          reminders.attempts, reminders.payload
"""
CLAIM_EXPIRED = CLAIM.format(
    condition="reminders.status = 'sending' AND reminders.lease_until < %(now)s"
)
CLAIM_PENDING = CLAIM.format(
    condition="reminders.status = 'pending' AND reminders.next_attempt_at <= %(now)s"
)
READ = """
SELECT users.id, users.timezone, reminder_settings.user_id, reminder_settings.times,
       reminder_settings.days, reminder_settings.quiet_start, reminder_settings.quiet_end,
       reminder_settings.paused, reminder_settings.discreet, reminder_settings.text_encrypted,
       devices.id, devices.token, devices.platform
FROM users
LEFT OUTER JOIN reminder_settings ON reminder_settings.user_id = users.id
LEFT OUTER JOIN (devices LEFT OUTER JOIN login_sessions
                 ON login_sessions.id = devices.session_id)
  ON devices.user_id = users.id
 AND (devices.session_id IS NULL
      OR (login_sessions.revoked_at IS NULL AND login_sessions.expires_at > %(now)s))
WHERE users.id = ANY(%(users)s)
ORDER BY devices.created_at, devices.id
"""
RECORD = """
UPDATE reminders SET status = %(status)s, error = %(error)s, updated_at = %(now)s,
       lease_until = NULL, sent_at = %(sent_at)s
WHERE reminders.id = ANY(%(ids)s) AND reminders.status = 'sending'
"""


def fcm_json(token: str, reminder_id: str, expires_at: int) -> dict[str, Any]:
    """What `FCMSender.build` + the SDK's encoder put on the wire for one reminder."""
    return {
        "message": {
            "token": token,
            "notification": {"title": DISCREET_TITLE, "body": DISCREET_BODY},
            "data": {"screen": "homework", "reminder_id": reminder_id},
            "android": {
                "priority": "high",
                "ttl": f"{TTL}s",
                "notification": {"tag": "tandem", "visibility": "PRIVATE"},
            },
            "apns": {
                "headers": {
                    "apns-priority": "10",
                    "apns-push-type": "alert",
                    "apns-expiration": str(expires_at),
                },
                "payload": {"aps": {"sound": "default", "thread-id": "tandem"}},
            },
            "webpush": {
                "headers": {"TTL": str(TTL), "Urgency": "high", "Topic": "tandem"},
                "notification": {"tag": "tandem"},
            },
        }
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    url = make_url(os.environ["TANDEM_DATABASE_URL"])
    conn = psycopg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        dbname=url.database,
    )
    send_url = args.fcm_url.format("tandem-test")
    client = httpx.AsyncClient(http2=True, timeout=120)
    phases = {"claim": 0.0, "send": 0.0, "record": 0.0}
    worker = f"floor:{os.getpid()}"
    print("ready", flush=True)
    if not sys.stdin.readline():
        raise SystemExit(1)
    started = time.time()
    at_go = resource.getrusage(resource.RUSAGE_SELF)
    deadline = time.monotonic() + args.max_seconds
    last_work, sent, failed, empty, passes = started, 0, 0, 0, 0
    while empty < 3 and time.monotonic() < deadline:
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        conn.execute(REPLAN_CHECK, {"now": now}).fetchall()
        params = {"lease": now + LEASE, "worker": worker, "now": now, "limit": args.batch_size}
        claimed = conn.execute(CLAIM_EXPIRED, params).fetchall()
        if len(claimed) < args.batch_size:
            params["limit"] = args.batch_size - len(claimed)
            claimed += conn.execute(CLAIM_PENDING, params).fetchall()
        passes += 1
        if not claimed:
            conn.commit()
            phases["claim"] += time.perf_counter() - t0
            empty += 1
            await asyncio.sleep(0.02)
            continue
        empty = 0
        rows = conn.execute(READ, {"users": [row[1] for row in claimed], "now": now}).fetchall()
        conn.commit()
        tokens: dict[str, list[str]] = {}
        for row in rows:
            if row[10] is not None:
                tokens.setdefault(row[0], []).append(row[11])
        phases["claim"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        expires_at = int(time.time()) + TTL
        posts, owners = [], []
        for reminder_id, user_id, *_ in claimed:
            for token in tokens.get(user_id, ()):
                posts.append(client.post(send_url, json=fcm_json(token, reminder_id, expires_at)))
                owners.append(reminder_id)
        answers = await asyncio.gather(*posts, return_exceptions=True)
        versions = {a.http_version for a in answers if isinstance(a, httpx.Response)}
        assert versions <= {"HTTP/2"}, versions  # one multiplexed HTTP/2 connection
        ok = {
            owner
            for owner, answer in zip(owners, answers, strict=True)
            if isinstance(answer, httpx.Response) and answer.status_code == 200
        }
        phases["send"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        done = datetime.now(UTC)
        bad = [row[0] for row in claimed if row[0] not in ok]
        conn.execute(
            RECORD, {"status": "sent", "error": None, "now": done, "sent_at": done, "ids": list(ok)}
        )
        if bad:
            conn.execute(
                RECORD,
                {"status": "pending", "error": "floor", "now": done, "sent_at": None, "ids": bad},
            )
        conn.commit()
        phases["record"] += time.perf_counter() - t0
        sent += len(ok)
        failed += len(bad)
        last_work = time.time()
    await client.aclose()
    conn.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "started": started,
        "finished": last_work,
        "passes": passes,
        "report": {"sent": sent, "failed": failed},
        "phases": phases,
        # CPU from "go" on (start-up and imports left out)
        "cpu": usage.ru_utime + usage.ru_stime - at_go.ru_utime - at_go.ru_stime,
        "timed_out": time.monotonic() >= deadline,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("fcm_url")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--max-seconds", type=float, default=600.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
