"""A fake FCM HTTP v1 server on loopback, for the real firebase-admin SDK to talk to.

    with FakeFCM() as fcm:
        app = firebase_admin.initialize_app(AnonymousCredentials(),
                                            {"projectId": fcm.project_id}, name="t")
        fcm_endpoint_override(app, fcm.url)
        fcm.script("token-a", UNREGISTERED)          # next push to token-a: 404
        fcm.fail_always("token-b", INVALID_TOKEN)    # every push to token-b: 400
        fcm.script("token-c", UNAVAILABLE, UNAVAILABLE)  # fails twice, then accepted
        ...
        fcm.delivered_to("token-c")  # the accepted message JSON objects

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

Every request (accepted or not) is recorded; everything is thread-safe. By default
each connection serves one request (HTTP/1.0), so no client socket outlives a test;
`keep_alive=True` serves HTTP/1.1 persistent connections (benchmarks) and `stop()`
closes them.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import re
import socket
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

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


# --------------------------------------------------------------------------- server


class FakeFCM:
    """The fake FCM server; `start()`/`stop()` or use it as a context manager."""

    def __init__(self, project_id: str = "tandem-test", *, keep_alive: bool = False) -> None:
        self.project_id = project_id
        self._keep_alive = keep_alive
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[FcmError | None]] = {}
        self._always: dict[str, FcmError] = {}
        self._received: list[Received] = []
        self._ids = itertools.count(1)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> FakeFCM:
        handler = type(
            "Handler",
            (_Handler,),
            {"fake": self, "protocol_version": "HTTP/1.1" if self._keep_alive else "HTTP/1.0"},
        )
        self._server = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-fcm",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        thread.join()
        server.close_connections()
        server.server_close()  # joins the handler threads
        self._server = self._thread = None

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
        assert self._server is not None, "FakeFCM is not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The send URL with `{0}` for the project, for `fcm_endpoint_override`."""
        return f"http://127.0.0.1:{self.port}/v1/projects/{{0}}/messages:send"

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

    # -- called by the handler

    def _answer(self, target: str) -> FcmError | None:
        with self._lock:
            if target in self._always:
                return self._always[target]
            queue = self._scripts.get(target)
            return queue.popleft() if queue else None

    def _record(self, received: Received) -> None:
        with self._lock:
            self._received.append(received)

    def _next_name(self) -> str:
        with self._lock:
            return f"projects/{self.project_id}/messages/{next(self._ids)}"


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # so server_close() joins every handler thread
    block_on_close = True
    request_queue_size = 1024  # send_each opens up to 500 connections at once
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End idle keep-alive connections, so their handler threads finish."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):  # already closed by the client
                sock.shutdown(socket.SHUT_RDWR)


def _target_of(body: Any) -> str | None:
    """The token of a request that failed validation, when one can be read."""
    message = body.get("message") if isinstance(body, dict) else None
    token = message.get("token") if isinstance(message, dict) else None
    return token if isinstance(token, str) else None


_SEND_PATH = re.compile(r"/v1/projects/([^/]+)/messages:send")


class _Handler(BaseHTTPRequestHandler):
    fake: FakeFCM

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("fake fcm: " + format, *args)

    def do_POST(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        match = _SEND_PATH.fullmatch(self.path)
        if match is None or match.group(1) != self.fake.project_id:
            error = FcmError(404, "NOT_FOUND", "Requested entity was not found.")
            self.fake._record(Received(None, None, error.http_status, headers))
            self._error(error)
            return
        if not (headers.get("content-type") or "").startswith("application/json"):
            self._invalid(None, headers, "", "Invalid JSON payload: content type")
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._invalid(None, headers, "", "Invalid JSON payload received.")
            return
        try:
            message = validate_message(body)
        except _Invalid as bad:
            self._invalid(_target_of(body), headers, bad.field, bad.description)
            return
        target = next(message[t] for t in _TARGETS if t in message)
        error = self.fake._answer(target)
        self.fake._record(Received(target, message, error.http_status if error else 200, headers))
        if error is not None:
            self._error(error)
            return
        self._json(200, {"name": self.fake._next_name()})

    def do_GET(self) -> None:
        self._error(FcmError(404, "NOT_FOUND", "Requested entity was not found."))

    def _invalid(
        self, target: str | None, headers: Mapping[str, str], field: str, description: str
    ) -> None:
        error = invalid_argument(field or "message", description)
        self.fake._record(Received(target, None, error.http_status, dict(headers)))
        self._error(error)

    def _error(self, error: FcmError) -> None:
        extra = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else {}
        self._json(error.http_status, error.body(), extra)

    def _json(
        self, status: int, body: dict[str, Any], extra: Mapping[str, str] | None = None
    ) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
