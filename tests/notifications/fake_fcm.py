"""A fake FCM HTTP v1 server on loopback, for the real firebase-admin SDK to talk to.

    with FakeFCM() as fcm:
        monkeypatch.setenv(...) for each of fcm.client_env().items()  # trust its CA
        app = firebase_admin.initialize_app(AnonymousCredentials(),
                                            {"projectId": fcm.project_id}, name="t")
        fcm_endpoint_override(app, fcm.url)
        fcm.script("token-a", UNREGISTERED)          # next push to token-a: 404
        fcm.fail_always("token-b", INVALID_TOKEN)    # every push to token-b: 400
        fcm.script("token-c", UNAVAILABLE, UNAVAILABLE)  # fails twice, then accepted
        ...
        fcm.delivered_to("token-c")  # the accepted message JSON objects

Like FCM it speaks HTTPS with ALPN: HTTP/2 to a client that offers "h2" (the SDK's
httpx client for `send_each_async`: every message a stream of one connection, at most
100 at once), HTTP/1.1 to one that does not (`send_each`'s requests/urllib3). The
server is hypercorn (ASGI) on its own event loop thread; the certificate is signed
by a throwaway CA made with `cryptography` once per process (`tls_files()`), which
clients trust through `client_env()` (SSL_CERT_FILE for httpx, REQUESTS_CA_BUNDLE for
requests) — set it in the test process before the SDK makes its clients, or in a
child process's environment.

It serves `POST /v1/projects/{project}/messages:send` and checks each request the way
FCM does (a JSON object with a `message`; exactly one target; `notification`
title/body strings; `data` values strings and no reserved keys; the known
`android`/`apns` fields with their types, `ttl` as "<seconds>s", APNs headers as
strings). A malformed request gets INVALID_ARGUMENT with a `google.rpc.BadRequest`
field violation naming the field, as FCM answers. Error bodies are FCM's own shape:

    {"error": {"code": 404, "message": "...", "status": "NOT_FOUND", "details": [
        {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
         "errorCode": "UNREGISTERED"}]}}

Remember the SDK retries HTTP 500 and 503 itself (up to 4 times, 0 + 1 + 2 + 4 s with
its default policy), so one `send_each` can make up to 5 requests per message.

Every request (accepted or not) is recorded with the HTTP version it came in;
everything is thread-safe. Connections stay open (FCM's do) and `stop()` closes them.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import ipaddress
import itertools
import json
import logging
import re
import shutil
import socket
import tempfile
import threading
import weakref
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config, Sockets
from hypercorn.utils import wrap_app

log = logging.getLogger(__name__)

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"


@dataclass(frozen=True, slots=True)
class FcmError:
    """One scripted FCM error answer."""

    http_status: int
    status: str  # google.rpc status, e.g. NOT_FOUND
    message: str
    error_code: str | None = None  # FcmError.errorCode, e.g. UNREGISTERED
    field: str | None = None  # BadRequest field violation, e.g. message.token
    retry_after: int | None = None  # Retry-After header, seconds

    def body(self) -> dict[str, Any]:
        details: list[dict[str, Any]] = []
        if self.error_code:
            details.append({"@type": FCM_ERROR_TYPE, "errorCode": self.error_code})
        if self.field:
            details.append(
                {
                    "@type": BAD_REQUEST_TYPE,
                    "fieldViolations": [{"field": self.field, "description": self.message}],
                }
            )
        error: dict[str, Any] = {
            "code": self.http_status,
            "message": self.message,
            "status": self.status,
        }
        if details:
            error["details"] = details
        return {"error": error}


UNREGISTERED = FcmError(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")
INVALID_TOKEN = FcmError(
    400,
    "INVALID_ARGUMENT",
    "The registration token is not a valid FCM registration token",
    "INVALID_ARGUMENT",
    field="message.token",
)
SENDER_ID_MISMATCH = FcmError(403, "PERMISSION_DENIED", "SenderId mismatch", "SENDER_ID_MISMATCH")
THIRD_PARTY_AUTH_ERROR = FcmError(
    401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service", "THIRD_PARTY_AUTH_ERROR"
)
UNAVAILABLE = FcmError(503, "UNAVAILABLE", "The service is currently unavailable.", "UNAVAILABLE")
INTERNAL = FcmError(500, "INTERNAL", "Internal error encountered.", "INTERNAL")


def quota_exceeded(retry_after: int | None = 60) -> FcmError:
    """429 QUOTA_EXCEEDED, with a Retry-After header unless `retry_after` is None."""
    return FcmError(
        429,
        "RESOURCE_EXHAUSTED",
        "Quota exceeded for quota metric 'Messages' of service 'fcm.googleapis.com'.",
        "QUOTA_EXCEEDED",
        retry_after=retry_after,
    )


def invalid_argument(field: str, description: str) -> FcmError:
    """400 INVALID_ARGUMENT about a payload field (what FCM says about a bad request)."""
    return FcmError(
        400,
        "INVALID_ARGUMENT",
        f"Invalid value at '{field}': {description}",
        "INVALID_ARGUMENT",
        field=field,
    )


QUOTA_EXCEEDED = quota_exceeded()


@dataclass(frozen=True, slots=True)
class Received:
    """One request the fake answered."""

    target: str | None  # the message's token (or fid/topic/condition)
    message: dict[str, Any] | None
    status: int  # HTTP status answered
    headers: dict[str, str] = field(default_factory=dict)
    http_version: str = "2"  # "2" or "1.1", as the client negotiated (ALPN)


# --------------------------------------------------------------------------- checks

_TARGETS = ("token", "fid", "topic", "condition")
_MESSAGE_KEYS = {"name", "data", "notification", "android", "webpush", "apns", "fcm_options"}
_NOTIFICATION_KEYS = {"title", "body", "image"}
_ANDROID_KEYS = {
    "collapse_key",
    "priority",
    "ttl",
    "restricted_package_name",
    "data",
    "notification",
    "fcm_options",
    "direct_boot_ok",
    "bandwidth_constrained_ok",
    "restricted_satellite_ok",
}
_ANDROID_NOTIFICATION_STRINGS = {
    "title",
    "body",
    "icon",
    "color",
    "sound",
    "tag",
    "click_action",
    "body_loc_key",
    "title_loc_key",
    "channel_id",
    "ticker",
    "event_time",
    "image",
}
_ANDROID_NOTIFICATION_OTHER = {
    "body_loc_args",
    "title_loc_args",
    "sticky",
    "local_only",
    "notification_priority",
    "default_sound",
    "default_vibrate_timings",
    "default_light_settings",
    "vibrate_timings",
    "visibility",
    "notification_count",
    "light_settings",
    "proxy",
}
_VISIBILITIES = {"VISIBILITY_UNSPECIFIED", "PRIVATE", "PUBLIC", "SECRET"}
_APNS_KEYS = {"headers", "payload", "fcm_options", "live_activity_token"}
_APS_KEYS = {
    "alert",
    "badge",
    "sound",
    "content-available",
    "mutable-content",
    "category",
    "thread-id",
    "interruption-level",
    "relevance-score",
    "target-content-id",
    "timestamp",
    "event",
    "content-state",
    "dismissal-date",
}
_APNS_PUSH_TYPES = {
    "alert",
    "background",
    "location",
    "voip",
    "complication",
    "fileprovider",
    "mdm",
    "liveactivity",
    "pushtotalk",
}
_TTL = re.compile(r"\d+(\.\d{1,9})?s")
_RESERVED_DATA_KEYS = {"from", "notification", "message_type"}


class _Invalid(Exception):
    def __init__(self, field: str, description: str) -> None:
        super().__init__(description)
        self.field = field
        self.description = description


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid(where, "Starting an object on a scalar field")
    return value


def _known(value: dict[str, Any], keys: Iterable[str], where: str) -> None:
    for key in value:
        if key not in keys:
            raise _Invalid(where, f'Invalid JSON payload received. Unknown name "{key}"')


def _string(value: Any, where: str) -> None:
    if not isinstance(value, str):
        raise _Invalid(where, f"Invalid value (TYPE_STRING), {json.dumps(value)}")


def _string_map(value: Any, where: str) -> dict[str, Any]:
    mapping = _object(value, where)
    for i, item in enumerate(mapping.values()):
        _string(item, f"{where}[{i}].value")
    return mapping


def validate_message(body: Any) -> dict[str, Any]:
    """The `message` of a send request, or raise `_Invalid` as FCM would refuse it."""
    request = _object(body, "")
    _known(request, {"message", "validate_only"}, "")
    if "validate_only" in request and not isinstance(request["validate_only"], bool):
        raise _Invalid("validate_only", "Invalid value (TYPE_BOOL)")
    message = _object(request.get("message"), "message")
    _known(message, _MESSAGE_KEYS | set(_TARGETS), "message")
    targets = [t for t in _TARGETS if t in message]
    if len(targets) != 1:
        raise _Invalid("message", "Exactly one of token, fid, topic or condition is required")
    target = targets[0]
    _string(message[target], f"message.{target}")
    if not message[target]:
        raise _Invalid(
            f"message.{target}", "The registration token is not a valid FCM registration token"
        )
    if "notification" in message:
        notification = _object(message["notification"], "message.notification")
        _known(notification, _NOTIFICATION_KEYS, "message.notification")
        for key, value in notification.items():
            _string(value, f"message.notification.{key}")
    if "data" in message:
        data = _string_map(message["data"], "message.data")
        for key in data:
            folded = key.lower()
            if folded in _RESERVED_DATA_KEYS or folded.startswith(("google", "gcm")):
                raise _Invalid("message.data", f"Invalid data key: {key} is a reserved word")
    if "android" in message:
        _check_android(_object(message["android"], "message.android"))
    if "apns" in message:
        _check_apns(_object(message["apns"], "message.apns"))
    if "webpush" in message:
        _object(message["webpush"], "message.webpush")
    return message


def _check_android(android: dict[str, Any]) -> None:
    where = "message.android"
    _known(android, _ANDROID_KEYS, where)
    priority = android.get("priority")
    if priority is not None and (
        not isinstance(priority, str) or priority.upper() not in {"NORMAL", "HIGH"}
    ):
        raise _Invalid(f"{where}.priority", f"Invalid value (TYPE_ENUM), {json.dumps(priority)}")
    ttl = android.get("ttl")
    if ttl is not None and (not isinstance(ttl, str) or not _TTL.fullmatch(ttl)):
        raise _Invalid(f"{where}.ttl", "Illegal duration format; duration must end with 's'")
    for key in ("collapse_key", "restricted_package_name"):
        if key in android:
            _string(android[key], f"{where}.{key}")
    if "data" in android:
        _string_map(android["data"], f"{where}.data")
    if "notification" in android:
        notification = _object(android["notification"], f"{where}.notification")
        _known(
            notification,
            _ANDROID_NOTIFICATION_STRINGS | _ANDROID_NOTIFICATION_OTHER,
            f"{where}.notification",
        )
        for key in _ANDROID_NOTIFICATION_STRINGS & notification.keys():
            _string(notification[key], f"{where}.notification.{key}")
        visibility = notification.get("visibility")
        if visibility is not None and visibility not in _VISIBILITIES:
            raise _Invalid(f"{where}.notification.visibility", "Invalid value (TYPE_ENUM)")


def _check_apns(apns: dict[str, Any]) -> None:
    where = "message.apns"
    _known(apns, _APNS_KEYS, where)
    if "headers" in apns:
        headers = _string_map(apns["headers"], f"{where}.headers")
        priority = headers.get("apns-priority")
        if priority is not None and priority not in {"1", "5", "10"}:
            raise _Invalid(f"{where}.headers", "Invalid apns-priority")
        push_type = headers.get("apns-push-type")
        if push_type is not None and push_type not in _APNS_PUSH_TYPES:
            raise _Invalid(f"{where}.headers", "Invalid apns-push-type")
        expiration = headers.get("apns-expiration")
        if expiration is not None and not expiration.isdigit():
            raise _Invalid(f"{where}.headers", "Invalid apns-expiration")
    if "payload" in apns:
        payload = _object(apns["payload"], f"{where}.payload")
        aps = _object(payload.get("aps"), f"{where}.payload.aps")
        _known(aps, _APS_KEYS, f"{where}.payload.aps")
        alert = aps.get("alert")
        if alert is not None and not isinstance(alert, str | dict):
            raise _Invalid(f"{where}.payload.aps.alert", "alert must be a string or an object")
        sound = aps.get("sound")
        if sound is not None and not isinstance(sound, str | dict):
            raise _Invalid(f"{where}.payload.aps.sound", "sound must be a string or an object")
        for key in ("category", "thread-id"):
            if key in aps:
                _string(aps[key], f"{where}.payload.aps.{key}")
        for key in ("badge", "content-available", "mutable-content"):
            if key in aps and (not isinstance(aps[key], int) or isinstance(aps[key], bool)):
                raise _Invalid(f"{where}.payload.aps.{key}", "Invalid value (TYPE_INT32)")


# --------------------------------------------------------------------------- TLS


@functools.cache
def tls_files() -> tuple[str, str, str]:
    """(CA certificate, server certificate, server key) PEM files for 127.0.0.1 and
    localhost, made once per process with a throwaway CA (never trusted outside the
    clients given `FakeFCM.client_env()`), removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="fake-fcm-tls-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    now = datetime.now(UTC)
    valid = (now - timedelta(days=1), now + timedelta(days=30))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tandem fake FCM test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(ca_file), str(cert_file), str(key_file)


def client_env() -> dict[str, str]:
    """Environment variables that make this process's (or a child's) HTTP clients trust
    the fake: httpx (the SDK's async client, read when it is made) honours
    SSL_CERT_FILE, requests (the SDK's `send_each`, read per request)
    REQUESTS_CA_BUNDLE."""
    ca_file = tls_files()[0]
    return {"SSL_CERT_FILE": ca_file, "REQUESTS_CA_BUNDLE": ca_file}


# --------------------------------------------------------------------------- server


class FakeFCM:
    """The fake FCM server; `start()`/`stop()` or use it as a context manager."""

    def __init__(self, project_id: str = "tandem-test", *, keep_alive: bool = True) -> None:
        # keep_alive is accepted for the callers written for the HTTP/1.x fake: the
        # server always keeps connections open (HTTP/2 streams share one), as FCM does;
        # stop() closes every one of them.
        del keep_alive
        self.project_id = project_id
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[FcmError | None]] = {}
        self._always: dict[str, FcmError] = {}
        self._received: list[Received] = []
        self._ids = itertools.count(1)
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._connections: set[tuple[str, int]] = set()
        self._listener: _Listener | None = None

    # -- lifecycle

    def start(self) -> FakeFCM:
        _ca, cert_file, key_file = tls_files()
        listener = _Listener(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1024)
        listener.setblocking(False)
        self._port = listener.getsockname()[1]
        self._listener = listener
        config = Config()
        config.certfile, config.keyfile = cert_file, key_file
        config.alpn_protocols = ["h2", "http/1.1"]  # what FCM offers
        config.h2_max_concurrent_streams = 100
        config.keep_alive_timeout = 300
        config.keep_alive_max_requests = 1 << 30  # FCM does not end a busy connection
        config.graceful_timeout = 0.5
        config.backlog = 1024
        config.accesslog = None
        config.errorlog = log
        ready = threading.Event()
        failed: list[BaseException] = []

        async def serve_until_stopped() -> None:
            self._loop = asyncio.get_running_loop()
            self._stopping = asyncio.Event()
            ready.set()
            await worker_serve(
                wrap_app(self._asgi, config.wsgi_max_body_size, "asgi"),
                config,
                sockets=Sockets([listener], [], []),
                shutdown_trigger=self._stopping.wait,
            )
            # Let the loop see every connection closed (stop() shuts them down) before
            # it ends, so no transport is left for the garbage collector.
            deadline = asyncio.get_running_loop().time() + 5
            while listener.open_connections() and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.01)

        def run() -> None:
            try:
                asyncio.run(serve_until_stopped())
            except BaseException as exc:  # reported by start() or logged
                failed.append(exc)
                ready.set()
                log.exception("fake fcm: the server stopped")

        self._thread = threading.Thread(target=run, name="fake-fcm", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failed:
            raise RuntimeError("the fake FCM server did not start") from failed[0]
        return self

    def stop(self) -> None:
        """Stop serving and close every connection (HTTP/2 GOAWAY, then the socket)."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None or loop is None or stopping is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop already ended
            loop.call_soon_threadsafe(stopping.set)
        thread.join(0.2)  # graceful: HTTP/2 GOAWAY, idle connections closed
        # A client that no longer reads (an idle pool, an event loop not running) never
        # finishes the TLS close: end its connections the hard way, as FCM would.
        if self._listener is not None:
            self._listener.shutdown_connections()
        thread.join(10)
        if self._listener is not None:  # the loop has ended: close what it left open
            self._listener.close_connections()
        self._thread = self._loop = self._stopping = None

    def __enter__(self) -> FakeFCM:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._port is not None, "FakeFCM is not started"
        return self._port

    @property
    def url(self) -> str:
        """The send URL with `{0}` for the project, for `fcm_endpoint_override`
        (HTTPS: trust `ca_file`, e.g. with `client_env()`)."""
        return f"https://127.0.0.1:{self.port}/v1/projects/{{0}}/messages:send"

    @property
    def ca_file(self) -> str:
        """The PEM file of the CA that signed the fake's certificate."""
        return tls_files()[0]

    def client_env(self) -> dict[str, str]:
        """See the module function `client_env`."""
        return client_env()

    @property
    def connections(self) -> int:
        """How many TCP connections clients have opened so far."""
        with self._lock:
            return len(self._connections)

    # -- scripting

    def script(self, token: str, *replies: FcmError | None) -> None:
        """Answer the next requests for `token` with `replies` (None = accept), then accept."""
        with self._lock:
            self._scripts.setdefault(token, deque()).extend(replies)

    def fail_times(self, token: str, error: FcmError, times: int) -> None:
        """Fail the next `times` requests for `token` with `error`, then accept."""
        self.script(token, *([error] * times))

    def fail_always(self, token: str, error: FcmError) -> None:
        """Fail every request for `token` with `error`."""
        with self._lock:
            self._always[token] = error

    def reset(self) -> None:
        """Forget scripts and everything received."""
        with self._lock:
            self._scripts.clear()
            self._always.clear()
            self._received.clear()
            self._connections.clear()

    # -- what happened

    @property
    def received(self) -> list[Received]:
        """Every request answered, in arrival order."""
        with self._lock:
            return list(self._received)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Every accepted message (the `message` object of the request)."""
        return [r.message for r in self.received if r.status == 200 and r.message is not None]

    def delivered_to(self, token: str) -> list[dict[str, Any]]:
        """The accepted messages for `token`."""
        return [m for m in self.messages if m.get("token") == token]

    def requests_for(self, token: str) -> int:
        """How many requests (accepted or not) targeted `token`."""
        return sum(r.target == token for r in self.received)

    # -- the server

    def _answer(self, target: str) -> FcmError | None:
        with self._lock:
            if target in self._always:
                return self._always[target]
            queue = self._scripts.get(target)
            return queue.popleft() if queue else None

    def _record(self, received: Received, client: tuple[str, int] | None) -> None:
        with self._lock:
            self._received.append(received)
            if client is not None:
                self._connections.add(client)

    def _next_name(self) -> str:
        with self._lock:
            return f"projects/{self.project_id}/messages/{next(self._ids)}"

    async def _asgi(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                event = await receive()
                reply = {"lifespan.startup": "startup", "lifespan.shutdown": "shutdown"}
                await send({"type": f"lifespan.{reply[event['type']]}.complete"})
                if event["type"] == "lifespan.shutdown":
                    return
        if scope["type"] != "http":
            return
        chunks = []
        more = True
        while more:
            event = await receive()
            if event["type"] == "http.disconnect":
                return
            chunks.append(event.get("body", b""))
            more = event.get("more_body", False)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        client = tuple(scope["client"]) if scope.get("client") else None
        status, body, extra = self._handle(
            scope["method"],
            scope["path"],
            headers,
            b"".join(chunks),
            scope["http_version"],
            client,  # type: ignore[arg-type]
        )
        payload = json.dumps(body).encode()
        response_headers = [
            (b"content-type", b"application/json; charset=UTF-8"),
            (b"content-length", str(len(payload)).encode()),
            *((name.lower().encode(), value.encode()) for name, value in extra.items()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": payload})

    def _handle(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        raw: bytes,
        http_version: str,
        client: tuple[str, int] | None,
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """(status, JSON body, extra headers) for one request, recorded."""

        def refuse(error: FcmError, target: str | None = None) -> tuple[int, Any, dict[str, str]]:
            self._record(Received(target, None, error.http_status, headers, http_version), client)
            extra = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else {}
            return error.http_status, error.body(), extra

        match = _SEND_PATH.fullmatch(path)
        if method != "POST" or match is None or match.group(1) != self.project_id:
            return refuse(FcmError(404, "NOT_FOUND", "Requested entity was not found."))
        if not (headers.get("content-type") or "").startswith("application/json"):
            return refuse(invalid_argument("message", "Invalid JSON payload: content type"))
        try:
            body = json.loads(raw)
        except ValueError:
            return refuse(invalid_argument("message", "Invalid JSON payload received."))
        try:
            message = validate_message(body)
        except _Invalid as bad:
            return refuse(
                invalid_argument(bad.field or "message", bad.description), _target_of(body)
            )
        target = next(message[t] for t in _TARGETS if t in message)
        error = self._answer(target)
        if error is not None:
            self._record(
                Received(target, message, error.http_status, headers, http_version), client
            )
            extra = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else {}
            return error.http_status, error.body(), extra
        self._record(Received(target, message, 200, headers, http_version), client)
        return 200, {"name": self._next_name()}, {}


class _Listener(socket.socket):
    """The listening socket, remembering the connections it accepted (asyncio's
    server accepts through `accept()`), so `stop()` can end those still open."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._accepted: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._accepted_lock = threading.Lock()

    def accept(self) -> tuple[socket.socket, Any]:
        connection, address = super().accept()
        with self._accepted_lock:
            self._accepted.add(connection)
        return connection, address

    def shutdown_connections(self) -> None:
        with self._accepted_lock:
            connections = list(self._accepted)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed
                connection.shutdown(socket.SHUT_RDWR)

    def open_connections(self) -> int:
        with self._accepted_lock:
            return sum(connection.fileno() != -1 for connection in self._accepted)

    def close_connections(self) -> None:
        with self._accepted_lock:
            connections = list(self._accepted)
            self._accepted.clear()
        for connection in connections:
            connection.close()  # idempotent


def _target_of(body: Any) -> str | None:
    """The token of a request that failed validation, when one can be read."""
    message = body.get("message") if isinstance(body, dict) else None
    token = message.get("token") if isinstance(message, dict) else None
    return token if isinstance(token, str) else None


_SEND_PATH = re.compile(r"/v1/projects/([^/]+)/messages:send")
