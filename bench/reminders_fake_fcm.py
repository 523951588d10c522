"""The loopback fake FCM server (tests/notifications/fake_fcm.py) in its own process, so
it does not take the dispatchers' GIL. Started by bench/reminders_bench.py.

    python bench/reminders_fake_fcm.py

Prints `url <send url> <CA file>` once it listens (HTTPS with ALPN h2 on 127.0.0.1, a free
port; clients trust the CA file through SSL_CERT_FILE / REQUESTS_CA_BUNDLE), then reads commands
on standard input, one a line, and answers each with one JSON line:

    count   {"requests", "accepted", "distinct", "max_per_id", "rejected"} — `distinct`
            and `max_per_id` are over the `data.reminder_id` (or `data.job`) of the
            accepted messages, so the caller can check "each exactly once"
    reset   forget everything received
    cpu     this process's CPU seconds so far
    quit    stop the server and exit (also on end of input, SIGTERM, or --max-seconds)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.notifications.fake_fcm import FakeFCM  # noqa: E402


def _count(fake: FakeFCM) -> dict[str, Any]:
    received = fake.received
    ids: Counter[str] = Counter()
    accepted = 0
    for r in received:
        if r.status == 200 and r.message is not None:
            accepted += 1
            data = r.message.get("data") or {}
            ids[data.get("reminder_id") or data.get("job") or ""] += 1
    return {
        "http_versions": dict(Counter(r.http_version for r in received)),
        "connections": fake.connections,
        "requests": len(received),
        "accepted": accepted,
        "rejected": len(received) - accepted,
        "distinct": len(ids),
        "max_per_id": max(ids.values(), default=0),
    }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-seconds", type=float, default=3600.0)
    args = parser.parse_args()

    fake = FakeFCM().start()
    stopping = threading.Event()

    def stop(*_: object) -> None:
        stopping.set()
        # unblock the stdin reader by exiting once the server is down
        fake.stop()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    timer = threading.Timer(args.max_seconds, stop)
    timer.daemon = True
    timer.start()
    print(f"url {fake.url} {fake.ca_file}", flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "count":
            answer: object = _count(fake)
        elif command == "reset":
            fake.reset()
            answer = {"ok": True}
        elif command == "cpu":
            answer = {"cpu": _cpu()}
        elif command == "quit":
            break
        else:
            answer = {"error": f"unknown command {command!r}"}
        print(json.dumps(answer), flush=True)
    stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
