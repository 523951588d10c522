"""Senders: where pushes go. Firebase Cloud Messaging, the log, or memory (tests).

Each implements `notifications.delivery.Sender`: `send(messages)` answers one
`SendResult` per message, in order, and raises only when the whole call failed.

* `FCMSender` — production, through `firebase-admin`, at most 500 messages per SDK
  call: `messaging.send_each` (default: a thread and an HTTP/1.1 request per message,
  over a pool of 500 kept connections), or `messaging.send_each_async` (`http2=True`:
  one event loop per app kept for the process's life, every message a stream of one
  HTTP/2 connection that outlives the call). Measured against an HTTPS + HTTP/2 fake
  FCM (bench/REMINDERS.md, issue 13) the SDK's async path costs a dispatcher about 25%
  more CPU per message (httpx/httpcore/h2 in Python), so it is not the default. It
  maps FCM's answers to `SendResult`:

  ============================== ================== ==============================
  FCM answer                     `error`            meaning for the dispatcher
  ============================== ================== ==============================
  UNREGISTERED (404)             UNREGISTERED       token_invalid: forget the device
  SENDER_ID_MISMATCH (403)       SENDER_ID_MISMATCH token_invalid (another project's)
  INVALID_ARGUMENT, token named  INVALID_ARGUMENT   token_invalid
  INVALID_ARGUMENT, otherwise    INVALID_ARGUMENT   permanent: our payload is wrong
  QUOTA_EXCEEDED (429)           QUOTA_EXCEEDED     transient, Retry-After read
  UNAVAILABLE (503), INTERNAL    UNAVAILABLE, ...   transient (after the SDK's retries)
  connection refused / timeout   UNAVAILABLE, ...   transient (no HTTP response)
  ============================== ================== ==============================

  "Token named" means FCM's `google.rpc.BadRequest` detail points at `message.token`,
  or its message says "registration token" ("The registration token is not a valid
  FCM registration token"). A payload error names another field
  (`message.data[0].value`) and must never cost a partner their device.
* `LogSender` — the default notifier: one line per push on standard error with the
  title and body (API.md), the token only as a short hash.
* `MemorySender` — records messages; answers can be scripted per token (tests).

This module imports neither Flask nor the server.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import logging
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import firebase_admin  # type: ignore[import-untyped]
import requests.adapters
from firebase_admin import _retry, credentials, exceptions, messaging
from urllib3.util.retry import Retry

from notifications.delivery import Message, SendResult

log = logging.getLogger(__name__)

# FCM's limit for one `send_each` call.
MAX_MESSAGES_PER_CALL = 500

# How long FCM keeps a push for a phone that is off or offline. A reminder that
# reaches a phone switched on at 7 a.m. for last night's 20:00 slot is noise at best
# (and the dispatcher already refuses to *send* anything over 2 hours late), so it
# expires after the same 2 hours instead of FCM's default of 4 weeks.
DEFAULT_TTL = timedelta(hours=2)
# Android `tag` / iOS `thread-id`: a newer Tandem push replaces (Android) or groups
# with (iOS) an older one instead of stacking several on a lock screen. Never shown.
NOTIFICATION_GROUP = "tandem"

# The HTTP retry policy we give the SDK's FCM session (see `_tune_sdk_retries`).
# Same as firebase-admin's default (1 retry on connection/read errors, 4 on HTTP 500
# and 503 with backoff 0.5 s: 0 + 1 + 2 + 4 s) except `respect_retry_after_header`:
# the default urllib3 policy *also* retries a 429 (and a 503) that carries a
# Retry-After header, sleeping that long inside `send_each` each time — a
# QUOTA_EXCEEDED with "Retry-After: 60" would block a dispatch pass for 4 minutes,
# long enough for its claim lease to run out and another worker to send the same
# reminders again. We return QUOTA_EXCEEDED at once instead and let the dispatcher
# reschedule the row (at least 60 s later, never before Retry-After).
SDK_RETRY = Retry(
    total=10,
    connect=1,
    read=1,
    status=4,
    status_forcelist=(500, 503),
    backoff_factor=0.5,
    raise_on_status=False,
    allowed_methods=None,
    respect_retry_after_header=False,
)

_FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
# Longest `SendResult.detail` kept: enough to diagnose, never a whole HTTP body.
_MAX_DETAIL = 300
# A Retry-After beyond a day is treated as a day: the reminder is stale long before.
_MAX_RETRY_AFTER = 86_400.0


def token_ref(token: str) -> str:
    """A short, stable, non-reversible name for a device token, for logs.

    A token is a credential for pushing to someone's phone: never log it whole.
    """
    return hashlib.sha256(token.encode()).hexdigest()[:12]


# --------------------------------------------------------------------------- FCM


def make_firebase_app(credentials_path: Path, name: str = "tandem") -> firebase_admin.App:
    """The Firebase app for production, from a service-account JSON file.

    Idempotent per `name`: a second call returns the app the first one created.
    """
    try:
        return firebase_admin.get_app(name)
    except ValueError:
        cert = credentials.Certificate(str(credentials_path))
        return firebase_admin.initialize_app(cert, name=name)


class FCMSender:
    """Sends through Firebase Cloud Messaging with the real firebase-admin SDK.

    `FCMSender(app)` with an initialised `firebase_admin.App` (see
    `make_firebase_app`, or `FCMSender.from_credentials(path)`). Each message becomes
    a notification message with the discreet title/body it was given, the data
    payload the app uses to open the right screen, high priority on Android, a sound
    on iOS, and a time-to-live of `ttl`.

    By default each call of at most 500 messages is one `messaging.send_each` (a
    thread pool and one HTTP/1.1 request per message; the faster path measured). With
    `http2=True` it is one `messaging.send_each_async` run on the app's own event
    loop (`_AppLoop`: made on first use, kept for the process, one call at a time), so
    the SDK's httpx client keeps its one HTTP/2 connection between calls and
    multiplexes the messages on it.
    """

    def __init__(
        self,
        app: firebase_admin.App,
        *,
        ttl: timedelta = DEFAULT_TTL,
        android_channel_id: str | None = None,
        sdk_retry: Retry | None = SDK_RETRY,
        clock: Callable[[], float] = time.time,
        http2: bool = False,
    ) -> None:
        self._app = app
        self._ttl = ttl
        self._channel_id = android_channel_id
        self._clock = clock
        self._http2 = http2
        if sdk_retry is not None:
            _tune_sdk_retries(app, sdk_retry)

    @classmethod
    def from_credentials(cls, credentials_path: Path, *, name: str = "tandem") -> FCMSender:
        """An `FCMSender` for the service account in `credentials_path`."""
        return cls(make_firebase_app(credentials_path, name))

    def send(self, messages: Sequence[Message]) -> list[SendResult]:
        """Send each message; one result per message, in order.

        Sends in calls of at most 500. Raises if the first call fails as a whole; if
        a later one does, the messages already sent keep their results and the rest
        are answered as transient failures, so nothing is sent twice on a retry.
        """
        results: list[SendResult] = []
        for start in range(0, len(messages), MAX_MESSAGES_PER_CALL):
            chunk = messages[start : start + MAX_MESSAGES_PER_CALL]
            built = [self.build(message) for message in chunk]
            try:
                batch = self._send_each(built)
            except Exception as exc:
                if not results:
                    raise
                log.warning(
                    "fcm: call %d failed after %d messages were sent: %s",
                    start // MAX_MESSAGES_PER_CALL + 1,
                    len(results),
                    type(exc).__name__,
                )
                code = getattr(exc, "code", None) or "UNKNOWN"
                failed = SendResult(ok=False, error=str(code), detail=type(exc).__name__)
                results.extend(failed for _ in messages[start:])
                break
            results.extend(self._result(response) for response in batch.responses)
        if messages:
            failures = sum(not r.ok for r in results)
            log.debug("fcm: sent %d messages, %d failed", len(messages), failures)
        return results

    def _send_each(self, built: list[messaging.Message]) -> messaging.BatchResponse:
        if not self._http2:
            return messaging.send_each(built, app=self._app)
        return _app_loop(self._app).run(lambda: messaging.send_each_async(built, app=self._app))

    def close(self) -> None:
        """Close the app's connections: the HTTP/2 one on the loop that opened it (call
        before `firebase_admin.delete_app`, whose own close runs on a new loop) and
        `send_each`'s pooled ones. Idempotent."""
        _close_app_loop(self._app)

    @staticmethod
    def close_app(app: firebase_admin.App) -> None:
        """`close()` for every sender of `app` (they share its loop and connection)."""
        _close_app_loop(app)

    def build(self, message: Message) -> messaging.Message:
        """The firebase-admin message for one `Message` (public for tests and tools)."""
        expires_at = int(self._clock() + self._ttl.total_seconds())
        built = messaging.Message(
            notification=messaging.Notification(title=message.title, body=message.body),
            data=dict(message.data),
            android=messaging.AndroidConfig(
                priority="high",
                ttl=self._ttl,
                notification=messaging.AndroidNotification(
                    tag=NOTIFICATION_GROUP,
                    channel_id=self._channel_id,
                    # Content hidden on a secure lock screen (Android's default,
                    # stated so nobody "fixes" it to public).
                    visibility="private",
                ),
            ),
            apns=messaging.APNSConfig(
                headers={
                    "apns-priority": "10",
                    "apns-push-type": "alert",
                    "apns-expiration": str(expires_at),
                },
                payload=messaging.APNSPayload(
                    aps=messaging.Aps(sound="default", thread_id=NOTIFICATION_GROUP)
                ),
            ),
            # Browsers (the partner app's service worker, platform "web"): the push
            # service keeps it no longer than the others, a newer one replaces an unshown
            # older one (Topic), and the worker shows it under the same tag.
            webpush=messaging.WebpushConfig(
                headers={
                    "TTL": str(int(self._ttl.total_seconds())),
                    "Urgency": "high",
                    "Topic": NOTIFICATION_GROUP,
                },
                notification=messaging.WebpushNotification(tag=NOTIFICATION_GROUP),
            ),
        )
        # firebase-admin >= 7.5 warns that `Message(token=...)` is deprecated in
        # favour of Firebase installation IDs (`fid`). Our devices register FCM
        # registration tokens, which FCM v1 still takes in `message.token`; setting
        # the attribute after construction skips the warning without touching the
        # process-wide warning filters (not thread-safe) and encodes the same JSON.
        built.token = message.token
        return built

    def _result(self, response: messaging.SendResponse) -> SendResult:
        if response.success:
            return SendResult(ok=True)
        return result_from_error(response.exception, clock=self._clock)


def result_from_error(
    error: BaseException | None, *, clock: Callable[[], float] = time.time
) -> SendResult:
    """Map one firebase-admin exception to a `SendResult` (see the module's table)."""
    detail = _short(str(error)) if error is not None else None
    if isinstance(error, messaging.UnregisteredError):
        return SendResult(ok=False, error="UNREGISTERED", detail=detail, token_invalid=True)
    if isinstance(error, messaging.SenderIdMismatchError):
        return SendResult(ok=False, error="SENDER_ID_MISMATCH", detail=detail, token_invalid=True)
    if isinstance(error, exceptions.InvalidArgumentError):
        return SendResult(
            ok=False,
            error="INVALID_ARGUMENT",
            detail=detail,
            token_invalid=_names_the_token(error),
        )
    retry_after = _retry_after(error, clock)
    if isinstance(error, messaging.QuotaExceededError):
        return SendResult(ok=False, error="QUOTA_EXCEEDED", detail=detail, retry_after=retry_after)
    if isinstance(error, messaging.ThirdPartyAuthError):
        return SendResult(ok=False, error="THIRD_PARTY_AUTH_ERROR", detail=detail)
    if isinstance(error, exceptions.FirebaseError):
        # UNAVAILABLE, INTERNAL, DEADLINE_EXCEEDED, UNAUTHENTICATED, ...
        return SendResult(ok=False, error=str(error.code), detail=detail, retry_after=retry_after)
    return SendResult(ok=False, error="UNKNOWN", detail=detail)


def _short(text: str) -> str:
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def _error_body(error: exceptions.FirebaseError) -> dict[str, Any]:
    response = getattr(error, "http_response", None)
    if response is None:
        return {}
    try:
        body = json.loads(response.content)
    except (ValueError, TypeError):
        return {}
    inner = body.get("error") if isinstance(body, dict) else None
    return inner if isinstance(inner, dict) else {}


def _names_the_token(error: exceptions.FirebaseError) -> bool:
    """True when an INVALID_ARGUMENT is about the registration token, not the payload."""
    body = _error_body(error)
    details = body.get("details")
    for detail in details if isinstance(details, list) else ():
        if not isinstance(detail, dict) or detail.get("@type") != _BAD_REQUEST_TYPE:
            continue
        violations = detail.get("fieldViolations")
        for violation in violations if isinstance(violations, list) else ():
            if isinstance(violation, dict) and violation.get("field") == "message.token":
                return True
    message = body.get("message")
    text = (message if isinstance(message, str) else str(error)).casefold()
    return "registration token" in text


def _retry_after(error: BaseException | None, clock: Callable[[], float]) -> float | None:
    """Retry-After of the HTTP answer, in seconds (delta-seconds or an HTTP date)."""
    response = getattr(error, "http_response", None)
    headers = getattr(response, "headers", None)
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - clock()
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)


# The one place that reaches into firebase-admin's private messaging service.
# PIN-SENSITIVE: `firebase_admin.messaging._get_messaging_service`,
# `_MessagingService._fcm_url` (built from `_MessagingService.FCM_URL` when the app's
# messaging service is first created), `_MessagingService._client.session`,
# `_MessagingService._async_client` (`HttpxAsyncClient`, its `_mounts` of
# `HttpxRetryTransport` with `_retry`) and `firebase_admin._retry.HttpxRetry` are
# private names of firebase-admin 7.x (checked on 7.7.0). Pin the minor version and
# re-run tests/notifications/test_senders_fcm.py when upgrading.


def _messaging_service(app: firebase_admin.App) -> Any:
    return messaging._get_messaging_service(app)


def _tune_sdk_retries(app: firebase_admin.App, retry: Retry) -> None:
    """Give the SDK's FCM clients our retry policy (see `SDK_RETRY`): its requests
    session (`send_each`) and its httpx transports (`send_each_async`, whose policy
    has no connect/read retries: a connection error is answered at once)."""
    service = _messaging_service(app)
    parts = urlsplit(service._fcm_url)
    adapter = requests.adapters.HTTPAdapter(
        pool_connections=MAX_MESSAGES_PER_CALL,
        pool_maxsize=MAX_MESSAGES_PER_CALL,
        max_retries=retry,
    )
    service._client.session.mount(f"{parts.scheme}://{parts.netloc}", adapter)
    httpx_retry = _retry.HttpxRetry(
        max_retries=retry.status if isinstance(retry.status, int) else 4,
        status_forcelist=sorted(retry.status_forcelist or ()),
        backoff_factor=retry.backoff_factor,
        respect_retry_after_header=retry.respect_retry_after_header,
    )
    for transport in service._async_client._mounts.values():
        transport._retry = httpx_retry


class _AppLoop:
    """The event loop of one app's `send_each_async` calls, kept for the process's
    life: httpx binds its connections to the loop that opened them, so reusing the
    loop is what keeps the HTTP/2 connection open between calls. It runs only inside
    `run` (no thread of its own); the lock lets one caller at a time use it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.lock = threading.Lock()

    def run(self, make: Callable[[], Any]) -> Any:
        with self.lock:
            if self.loop.is_closed():
                raise RuntimeError("the FCM sender was closed")
            return self.loop.run_until_complete(make())


_APP_LOOPS: weakref.WeakKeyDictionary[Any, _AppLoop] = weakref.WeakKeyDictionary()
_APP_LOOPS_LOCK = threading.Lock()


def _app_loop(app: firebase_admin.App) -> _AppLoop:
    service = _messaging_service(app)
    with _APP_LOOPS_LOCK:
        found = _APP_LOOPS.get(service)
        if found is None:
            found = _APP_LOOPS[service] = _AppLoop()
        return found


def _close_app_loop(app: firebase_admin.App) -> None:
    service = _messaging_service(app)
    service._client.session.close()  # send_each's pooled HTTP/1.1 connections
    with _APP_LOOPS_LOCK:
        found = _APP_LOOPS.pop(service, None)
    if found is None:
        return
    with found.lock:
        found.loop.run_until_complete(service._async_client.aclose())
        # one more turn of the loop: the transports' connection_lost callbacks run
        found.loop.run_until_complete(asyncio.sleep(0))
        found.loop.run_until_complete(found.loop.shutdown_asyncgens())
        found.loop.close()


def fcm_endpoint_override(
    app: firebase_admin.App, url: str, *, sdk_retry: Retry | None = SDK_RETRY
) -> None:
    """Send this app's FCM messages to `url` instead of Google (tests, benchmarks).

    `url` is an FCM v1 send URL with `{0}` for the project id, e.g.
    `http://127.0.0.1:8123/v1/projects/{0}/messages:send`. Call it before the first
    send; `sdk_retry` is the HTTP retry policy for that host (default `SDK_RETRY`).
    There is no supported way to do this (no FCM emulator, no environment variable).
    """
    service = _messaging_service(app)
    service._fcm_url = url.format(service._project_id)
    if sdk_retry is not None:
        _tune_sdk_retries(app, sdk_retry)


# --------------------------------------------------------------------------- log


class LogSender:
    """The default notifier: writes each push to standard error; always succeeds.

    One line per push with its title and body (API.md) and the token as a short
    hash. The stream is looked up at each write (default `sys.stderr`), so a
    redirected stderr is honoured.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, messages: Sequence[Message]) -> list[SendResult]:
        """Write each message; one ok result per message."""
        lines = [
            f"push to={token_ref(m.token)} platform={m.platform} "
            f"title={json.dumps(m.title, ensure_ascii=False)} "
            f"body={json.dumps(m.body, ensure_ascii=False)} "
            f"data={json.dumps(m.data, ensure_ascii=False, sort_keys=True)}\n"
            for m in messages
        ]
        stream = self._stream if self._stream is not None else sys.stderr
        with self._lock:
            stream.write("".join(lines))
            stream.flush()
        log.debug("log notifier: wrote %d pushes", len(messages))
        return [SendResult(ok=True) for _ in messages]


# --------------------------------------------------------------------------- memory


class MemorySender:
    """Records every message; answers can be scripted per token. For tests.

    `script(token, *results)` queues answers for a token, used one per message to it,
    then "ok" again. `fail_calls(exc, times)` makes the next calls raise as a whole.
    Thread-safe, so several dispatchers can share one.
    """

    def __init__(self, responses: Mapping[str, Iterable[SendResult]] | None = None) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[SendResult]] = {}
        self._call_failures: deque[BaseException] = deque()
        self.calls: list[list[Message]] = []  # every call, as sent (also failed ones)
        self.delivered: list[Message] = []  # messages answered ok, in order
        for token, results in (responses or {}).items():
            self.script(token, *results)

    def script(self, token: str, *results: SendResult) -> None:
        """Answer the next messages to `token` with `results`, in order."""
        with self._lock:
            self._scripts.setdefault(token, deque()).extend(results)

    def fail_calls(self, error: BaseException, times: int = 1) -> None:
        """Make the next `times` calls raise `error` (a whole-call failure)."""
        with self._lock:
            self._call_failures.extend([error] * times)

    def send(self, messages: Sequence[Message]) -> list[SendResult]:
        """Answer each message from the script (default ok) and record it."""
        with self._lock:
            self.calls.append(list(messages))
            if self._call_failures:
                raise self._call_failures.popleft()
            results = []
            for message in messages:
                queue = self._scripts.get(message.token)
                result = queue.popleft() if queue else SendResult(ok=True)
                if result.ok:
                    self.delivered.append(message)
                results.append(result)
            return results

    def delivered_to(self, token: str) -> list[Message]:
        """The messages that reached `token`."""
        with self._lock:
            return [m for m in self.delivered if m.token == token]

    @property
    def call_sizes(self) -> list[int]:
        """How many messages each call carried."""
        with self._lock:
            return [len(call) for call in self.calls]
