"""A real `tandem serve` process for tests that must see what the test client cannot:
per-process state, forks, contexts, commits, access logs.

    with live_server(tmp_path, workers=2, demo=True) as server:
        status, headers, body = server.request("GET", "/readyz")
    server.output  # everything the process wrote (stdout and stderr), after it stopped
"""

from __future__ import annotations

import http.client
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    port: int
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | str | Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request on a fresh connection; `body` that is not bytes/str is sent as JSON."""
        sent_headers = dict(headers or {})
        if body is not None and not isinstance(body, bytes | str):
            body = json.dumps(body)
            sent_headers.setdefault("Content-Type", "application/json")
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=sent_headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def json(
        self, method: str, path: str, body: Any = None, *, token: str | None = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        status, _, raw = self.request(method, path, body=body, headers=headers)
        return status, (json.loads(raw) if raw else None)


def serve_env(instance: Path, **settings: str) -> dict[str, str]:
    """The environment of a served process: the caller's, without its TANDEM_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    env["TANDEM_INSTANCE_PATH"] = str(instance)
    env.update(settings)
    return env


@contextmanager
def live_server(
    instance: Path,
    *,
    workers: int = 2,
    demo: bool = False,
    env: Mapping[str, str] | None = None,
    args: tuple[str, ...] = (),
    ready_timeout: float = 60,
) -> Iterator[LiveServer]:
    """Run `tandem serve` exactly as an operator does, wait until `/readyz` answers 200,
    and stop it with SIGTERM afterwards."""
    port = free_port()
    command = [
        sys.executable,
        "-c",
        "from server.cli import main; main()",
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
        *(["--demo"] if demo else []),
        *args,
    ]
    process = subprocess.Popen(
        command,
        env=dict(env) if env is not None else serve_env(instance),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    server = LiveServer(port=port, process=process)
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: server.lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            try:
                status, _, _ = server.request("GET", "/readyz", timeout=2)
                if status == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None:
                reader.join(5)
                raise AssertionError(f"tandem serve exited early:\n{server.output}")
            if time.monotonic() > deadline:
                raise AssertionError(f"tandem serve did not come up:\n{server.output}")
            time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        reader.join(10)
        if process.stdout is not None:
            process.stdout.close()


def read_until(child: subprocess.Popen[str], text: str, timeout: float = 15) -> str:
    """Read the child's stderr until it contains `text` (bounded by `timeout`).

    Reads the pipe's file descriptor directly: a buffered `readline` could hold the
    awaited line in its buffer while `select` waits for more.
    """
    assert child.stderr is not None
    fd = child.stderr.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while text.encode() not in seen and time.monotonic() < deadline:
            if selector.select(timeout=deadline - time.monotonic()):
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                seen += chunk
    assert text.encode() in seen, seen.decode(errors="replace")
    return seen.decode(errors="replace")
