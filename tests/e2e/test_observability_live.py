"""The real `tandem serve --workers 2` with TANDEM_METRICS_TOKEN and TANDEM_LOG_FORMAT=json
(issue 13): one scrape counts the requests of both workers (prometheus-client's
multiprocess mode, in a private folder removed at exit), and every line the server
logs is one JSON object with the request fields, holding no code, token or email."""

from __future__ import annotations

import json
import re
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from server.seeding import DEMO_THERAPIST
from tests.live import live_server, serve_env

TOKEN = f"live-metrics-{uuid.uuid4().hex}"
REQUESTS = 60
RUNNING = "Tandem is running at"


def _count(text: str, route: str, status: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "tandem_http_requests_total"
                and labels.get("route") == route
                and labels.get("status") == status
            ):
                return float(sample.value)
    return 0.0


def test_two_workers_one_scrape_and_json_logs(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    temp = tmp_path / "tmp"  # where `tandem serve` makes its metrics folder
    temp.mkdir()
    env = serve_env(
        instance,
        TANDEM_METRICS_TOKEN=TOKEN,
        TANDEM_LOG_FORMAT="json",
        TANDEM_RATELIMIT_ENABLED="0",
    )
    env["TMPDIR"] = str(temp)
    victim = f"victim-{uuid.uuid4().hex[:8]}@example.test"
    with live_server(instance, workers=2, demo=True, env=env) as server:
        folders = list(temp.glob("tandem-metrics-*"))
        assert len(folders) == 1, folders

        status, _, _ = server.request("GET", "/metrics")
        assert status == 401
        # Make sure both workers serve: a request held half-sent keeps the (sync) worker
        # that accepted it busy, so the others all go to the second worker; then it ends.
        held = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        try:
            held.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
            time.sleep(0.5)  # another process must accept it: nothing to pass a `now` to
            statuses = [server.request("GET", "/healthz")[0] for _ in range(REQUESTS - 1)]
            held.sendall(b"Connection: close\r\n\r\n")
            reply = b""
            while chunk := held.recv(65536):
                reply += chunk
        finally:
            held.close()
        assert statuses == [200] * (REQUESTS - 1)
        assert reply.startswith(b"HTTP/1.1 200")

        status, tokens = server.json(
            "POST",
            "/api/v1/auth/token",
            {"email": DEMO_THERAPIST[0], "password": DEMO_THERAPIST[1]},
        )
        assert status == 200
        status, couple = server.json(
            "POST", "/api/v1/couples", {"label": "Obs"}, token=tokens["access_token"]
        )
        assert status == 201
        code = couple["invites"][0]["code"]
        status, _ = server.json(
            "POST",
            f"/api/v1/invites/{code}/accept",
            {"email": victim, "password": "a long password", "name": "V", "timezone": "UTC"},
        )
        assert status == 201
        server.request("GET", f"/portal/login?token=s3cret-{code}")
        status, headers, _ = server.request("GET", "/healthz", headers={"X-Request-ID": "trace-42"})
        assert headers["X-Request-ID"] == "trace-42"

        status, headers, body = server.request(
            "GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert status == 200, body[:300]
        scraped = body.decode()
    assert not list(temp.glob("tandem-metrics-*")), "the metrics folder outlived the server"

    # Every /healthz of both workers, in one scrape of one of them.
    assert _count(scraped, "/healthz", "200") == REQUESTS + 1
    assert _count(scraped, "/api/v1/invites/<code>/accept", "201") == 1
    for leaked in (code, victim, tokens["access_token"], TOKEN):
        assert leaked not in scraped

    output = server.output
    after_start = output.split(RUNNING, 1)[1].split("\n", 1)[1]
    entries: list[dict[str, Any]] = []
    for line in after_start.splitlines():
        entry = json.loads(line)  # every line the running server writes is one object
        assert isinstance(entry, dict), line
        assert {"time", "level", "logger", "message", "pid"} <= set(entry), line
        entries.append(entry)
    health = [e for e in entries if e["logger"] == "tandem.request" and e["route"] == "/healthz"]
    assert len(health) == REQUESTS + 1
    assert len({e["pid"] for e in health}) == 2, "both workers served /healthz"
    for entry in health:
        assert {"request_id", "method", "status", "duration_ms", "role"} <= set(entry)
        assert re.fullmatch(r"[0-9a-f]{32}|trace-42", entry["request_id"])
    assert any(e["request_id"] == "trace-42" for e in health)
    assert any(e["logger"].startswith("gunicorn") for e in entries)  # gunicorn's own, as JSON
    for leaked in (code, victim, tokens["access_token"], TOKEN, "s3cret"):
        assert leaked not in output, leaked
