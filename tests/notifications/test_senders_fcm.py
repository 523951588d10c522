"""FCMSender through the real firebase-admin SDK to the fake FCM server on loopback."""

from __future__ import annotations

import json
import socket
import ssl
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import firebase_admin
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from firebase_admin import exceptions, messaging
from google.auth.credentials import AnonymousCredentials

from notifications import senders
from notifications.delivery import Message
from notifications.senders import FCMSender, fcm_endpoint_override, make_firebase_app
from notifications.texts import DISCREET_BODY, DISCREET_TITLE, forbidden_terms
from tests.notifications.conftest import PROJECT_ID
from tests.notifications.fake_fcm import (
    INTERNAL,
    INVALID_TOKEN,
    SENDER_ID_MISMATCH,
    UNAVAILABLE,
    UNREGISTERED,
    FakeFCM,
    invalid_argument,
    quota_exceeded,
)


def message(token: str, **changes: Any) -> Message:
    fields: dict[str, Any] = {
        "token": token,
        "title": DISCREET_TITLE,
        "body": DISCREET_BODY,
        "data": {"screen": "homework"},
        "platform": "android",
    }
    fields.update(changes)
    return Message(**fields)


@pytest.fixture
def call_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes of the SDK's `send_each` / `send_each_async` calls (the real ones run)."""
    sizes: list[int] = []
    real, real_async = messaging.send_each, messaging.send_each_async

    def spy(messages: list[messaging.Message], **kwargs: Any) -> messaging.BatchResponse:
        sizes.append(len(messages))
        return real(messages, **kwargs)

    async def async_spy(messages: list[messaging.Message], **kwargs: Any) -> Any:
        sizes.append(len(messages))
        return await real_async(messages, **kwargs)

    monkeypatch.setattr(senders.messaging, "send_each", spy)
    monkeypatch.setattr(senders.messaging, "send_each_async", async_spy)
    return sizes


def test_payload_is_discreet_and_shaped_for_android_and_ios(
    firebase_app: firebase_admin.App, fake_fcm: FakeFCM
) -> None:
    sender = FCMSender(firebase_app, clock=lambda: 1_800_000_000.0)

    results = sender.send([message("tok-ios", platform="ios")])

    assert [r.ok for r in results] == [True]
    [sent] = fake_fcm.delivered_to("tok-ios")
    assert sent["notification"] == {"title": DISCREET_TITLE, "body": DISCREET_BODY}
    assert sent["data"] == {"screen": "homework"}
    assert sent["android"] == {
        "priority": "high",
        "ttl": "7200s",
        "notification": {"tag": "tandem", "visibility": "PRIVATE"},
    }
    assert sent["apns"] == {
        "headers": {
            "apns-priority": "10",
            "apns-push-type": "alert",
            "apns-expiration": str(1_800_000_000 + 7200),
        },
        "payload": {"aps": {"sound": "default", "thread-id": "tandem"}},
    }
    assert sent["webpush"] == {
        "headers": {"TTL": "7200", "Urgency": "high", "Topic": "tandem"},
        "notification": {"tag": "tandem"},
    }
    # Nothing on the wire names the app's subject, in any field.
    assert forbidden_terms(json.dumps(sent)) == []
    # Anonymous test credentials: the SDK sent no Authorization header.
    assert "authorization" not in fake_fcm.received[0].headers


def test_a_browser_gets_the_same_discreet_push_as_a_phone(
    firebase_app: firebase_admin.App, fake_fcm: FakeFCM
) -> None:
    """The partner app registers `web` devices: FCM relays the message to the browser's
    push service, whose service worker shows `notification` under the tag."""
    sender = FCMSender(firebase_app, clock=lambda: 1_800_000_000.0)

    assert [r.ok for r in sender.send([message("tok-web", platform="web")])] == [True]

    [sent] = fake_fcm.delivered_to("tok-web")
    assert sent["notification"] == {"title": DISCREET_TITLE, "body": DISCREET_BODY}
    assert sent["data"] == {"screen": "homework"}
    assert sent["webpush"]["notification"] == {"tag": "tandem"}
    assert int(sent["webpush"]["headers"]["TTL"]) <= 7200
    assert forbidden_terms(json.dumps(sent)) == []


def test_partners_own_wording_and_channel_are_sent(
    firebase_app: firebase_admin.App, fake_fcm: FakeFCM
) -> None:
    sender = FCMSender(firebase_app, android_channel_id="reminders")

    sender.send([message("tok", title="Tandem", body="Our evening walk?")])

    [sent] = fake_fcm.delivered_to("tok")
    assert sent["notification"] == {"title": "Tandem", "body": "Our evening walk?"}
    assert sent["android"]["notification"]["channel_id"] == "reminders"


def test_sends_in_calls_of_at_most_500(
    fcm_sender: FCMSender, fake_fcm: FakeFCM, call_sizes: list[int]
) -> None:
    messages = [message(f"tok-{i}") for i in range(1001)]

    results = fcm_sender.send(messages)

    assert call_sizes == [500, 500, 1]
    assert len(results) == 1001 and all(r.ok for r in results)
    assert sorted(m["token"] for m in fake_fcm.messages) == sorted(m.token for m in messages)


@pytest.mark.parametrize(
    ("error", "code"),
    [(UNREGISTERED, "UNREGISTERED"), (SENDER_ID_MISMATCH, "SENDER_ID_MISMATCH")],
)
def test_unregistered_and_foreign_tokens_are_invalid(
    fcm_sender: FCMSender, fake_fcm: FakeFCM, error: Any, code: str
) -> None:
    fake_fcm.script("gone", error)

    ok, gone = fcm_sender.send([message("fine"), message("gone")])

    assert ok.ok and not ok.token_invalid
    assert (gone.ok, gone.error, gone.token_invalid) == (False, code, True)


def test_invalid_argument_names_the_token_only_when_fcm_says_so(
    fcm_sender: FCMSender, fake_fcm: FakeFCM
) -> None:
    fake_fcm.script("bad-token", INVALID_TOKEN)
    fake_fcm.script("bad-payload", invalid_argument("message.data[0].value", "TYPE_STRING"))

    bad_token, bad_payload = fcm_sender.send([message("bad-token"), message("bad-payload")])

    assert (bad_token.error, bad_token.token_invalid) == ("INVALID_ARGUMENT", True)
    assert (bad_payload.error, bad_payload.token_invalid) == ("INVALID_ARGUMENT", False)
    assert "message.data[0].value" in (bad_payload.detail or "")


def test_a_payload_fcm_refuses_is_not_the_tokens_fault(
    fcm_sender: FCMSender, fake_fcm: FakeFCM
) -> None:
    # "from" is a reserved data key: the SDK lets it through, FCM (and the fake) refuse.
    [result] = fcm_sender.send([message("tok", data={"from": "tandem"})])

    assert (result.ok, result.error, result.token_invalid) == (False, "INVALID_ARGUMENT", False)
    assert fake_fcm.messages == []


def test_quota_exceeded_is_returned_at_once_with_retry_after(
    fcm_sender: FCMSender, fake_fcm: FakeFCM
) -> None:
    fake_fcm.fail_always("busy", quota_exceeded(retry_after=120))
    fake_fcm.fail_always("busy-no-header", quota_exceeded(retry_after=None))
    started = time.monotonic()

    busy, no_header = fcm_sender.send([message("busy"), message("busy-no-header")])

    # The SDK's default urllib3 policy would sleep Retry-After (120 s) up to 4 times
    # inside send_each; ours answers at once and leaves the wait to the dispatcher.
    assert time.monotonic() - started < 10
    assert fake_fcm.requests_for("busy") == 1
    assert (busy.ok, busy.error, busy.retry_after, busy.token_invalid) == (
        False,
        "QUOTA_EXCEEDED",
        120.0,
        False,
    )
    assert (no_header.error, no_header.retry_after) == ("QUOTA_EXCEEDED", None)


@pytest.mark.parametrize("http2", [True, False], ids=["http2", "http1"])
def test_unavailable_and_internal_are_transient_after_the_sdks_own_retries(
    fake_fcm: FakeFCM, http2: bool
) -> None:
    """With the production retry policy: 4 SDK retries (0 + 1 + 2 + 4 s) on 500/503."""
    app = firebase_admin.initialize_app(
        AnonymousCredentials(), {"projectId": PROJECT_ID}, name=f"test-{uuid.uuid4().hex}"
    )
    try:
        fcm_endpoint_override(app, fake_fcm.url)  # production SDK_RETRY
        sender = FCMSender(app, http2=http2)
        fake_fcm.fail_always("down", UNAVAILABLE)
        fake_fcm.fail_always("broken", INTERNAL)
        fake_fcm.fail_times("flaky", UNAVAILABLE, 2)

        down, broken, flaky = sender.send([message("down"), message("broken"), message("flaky")])
    finally:
        FCMSender.close_app(app)
        firebase_admin.delete_app(app)

    assert (down.ok, down.error, down.token_invalid) == (False, "UNAVAILABLE", False)
    assert (broken.ok, broken.error, broken.token_invalid) == (False, "INTERNAL", False)
    assert flaky.ok  # the SDK's retries absorbed two failures
    assert fake_fcm.requests_for("down") == fake_fcm.requests_for("broken") == 5
    assert fake_fcm.requests_for("flaky") == 3
    assert len(fake_fcm.delivered_to("flaky")) == 1


@pytest.mark.parametrize("http2", [True, False], ids=["http2", "http1"])
def test_connection_refused_is_a_transient_error_per_message(
    firebase_app: firebase_admin.App, http2: bool
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fcm_endpoint_override(firebase_app, f"https://127.0.0.1:{port}/v1/projects/{{0}}/messages:send")

    results = FCMSender(firebase_app, http2=http2).send([message("a"), message("b")])

    # The SDK answers each message with UnavailableError (no HTTP response): the
    # dispatcher retries them like an FCM outage.
    assert [(r.ok, r.error, r.token_invalid) for r in results] == [
        (False, "UNAVAILABLE", False)
    ] * 2


def test_a_whole_call_failure_raises_unless_part_was_sent(
    fcm_sender: FCMSender, fake_fcm: FakeFCM, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, real_async = messaging.send_each, messaging.send_each_async
    calls: list[int] = []
    failing_calls = {2}

    def flaky_send_each(messages: list[messaging.Message], **kwargs: Any) -> Any:
        calls.append(len(messages))
        if len(calls) in failing_calls:
            raise exceptions.UnknownError("thread pool gone")
        return real(messages, **kwargs)

    async def flaky_send_each_async(messages: list[messaging.Message], **kwargs: Any) -> Any:
        calls.append(len(messages))
        if len(calls) in failing_calls:
            raise exceptions.UnknownError("connection gone")
        return await real_async(messages, **kwargs)

    monkeypatch.setattr(senders.messaging, "send_each", flaky_send_each)
    monkeypatch.setattr(senders.messaging, "send_each_async", flaky_send_each_async)
    monkeypatch.setattr(senders, "MAX_MESSAGES_PER_CALL", 5)
    results = fcm_sender.send([message(f"t{i}") for i in range(8)])

    # The first 5 went out and keep their results; the other 3 fail transiently, so
    # a retry never sends the first 5 twice.
    assert calls == [5, 3]
    assert [r.ok for r in results] == [True] * 5 + [False] * 3
    assert {r.error for r in results[5:]} == {"UNKNOWN"}
    assert len(fake_fcm.messages) == 5

    failing_calls.add(3)  # the next send fails on its first call: nothing was sent
    with pytest.raises(exceptions.UnknownError):
        fcm_sender.send([message("x")])


# --------------------------------------------------------------------------- the fake


def post(fake: FakeFCM, body: Any, *, path: str | None = None) -> tuple[int, dict[str, Any]]:
    url = f"https://127.0.0.1:{fake.port}" + (
        path or f"/v1/projects/{fake.project_id}/messages:send"
    )
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        context = ssl.create_default_context(cafile=fake.ca_file)
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


GOOD = {"token": "t", "notification": {"title": "Reminder", "body": "Now"}, "data": {"a": "b"}}


@pytest.mark.parametrize(
    ("message_json", "field"),
    [
        ({"notification": {"title": "x"}}, "message"),  # no target
        ({**GOOD, "topic": "news"}, "message"),  # two targets
        ({**GOOD, "token": ""}, "message.token"),
        ({**GOOD, "data": {"count": 3}}, "message.data[0].value"),
        ({**GOOD, "data": {"from": "x"}}, "message.data"),
        ({**GOOD, "notification": {"title": 1}}, "message.notification.title"),
        ({**GOOD, "notification": {"subtitle": "x"}}, "message.notification"),
        ({**GOOD, "colour": "red"}, "message"),
        ({**GOOD, "android": {"priority": "urgent"}}, "message.android.priority"),
        ({**GOOD, "android": {"ttl": 7200}}, "message.android.ttl"),
        ({**GOOD, "android": {"notification": {"tag": 5}}}, "message.android.notification.tag"),
        ({**GOOD, "apns": {"headers": {"apns-priority": 10}}}, "message.apns.headers[0].value"),
        ({**GOOD, "apns": {"payload": {}}}, "message.apns.payload.aps"),
        ({**GOOD, "apns": {"payload": {"aps": {"badge": "1"}}}}, "message.apns.payload.aps.badge"),
    ],
)
def test_fake_refuses_malformed_requests_like_fcm(
    fake_fcm: FakeFCM, message_json: dict[str, Any], field: str
) -> None:
    status, body = post(fake_fcm, {"message": message_json})

    assert status == 400
    assert body["error"]["status"] == "INVALID_ARGUMENT"
    [violation] = next(
        d["fieldViolations"] for d in body["error"]["details"] if "fieldViolations" in d
    )
    assert violation["field"] == field
    assert fake_fcm.messages == []


def test_fake_accepts_a_well_formed_request_and_checks_the_project(fake_fcm: FakeFCM) -> None:
    assert post(fake_fcm, {"message": GOOD}) == (
        200,
        {"name": f"projects/{PROJECT_ID}/messages/1"},
    )
    status, body = post(fake_fcm, {"message": GOOD}, path="/v1/projects/other/messages:send")
    assert (status, body["error"]["status"]) == (404, "NOT_FOUND")
    assert fake_fcm.messages == [GOOD]


def test_messages_are_streams_of_one_http2_connection_kept_between_calls(
    firebase_app: firebase_admin.App, fake_fcm: FakeFCM
) -> None:
    sender = FCMSender(firebase_app, http2=True)  # send_each_async on the app's loop

    first = sender.send([message(f"a{i}") for i in range(300)])
    second = sender.send([message(f"b{i}") for i in range(300)])

    assert all(r.ok for r in first + second)
    assert {r.http_version for r in fake_fcm.received} == {"2"}
    assert fake_fcm.connections == 1  # 600 messages, two calls, one TLS connection
    assert len(fake_fcm.messages) == 600


def test_send_each_speaks_http1_to_the_same_fake_by_default(
    firebase_app: firebase_admin.App, fake_fcm: FakeFCM
) -> None:
    results = FCMSender(firebase_app).send([message(f"k{i}") for i in range(20)])

    assert all(r.ok for r in results)
    assert {r.http_version for r in fake_fcm.received} == {"1.1"}  # ALPN: no "h2" offered


@pytest.mark.parametrize("http2", [True, False], ids=["http2", "http1"])
def test_fake_closes_open_client_connections_on_stop(
    monkeypatch: pytest.MonkeyPatch, http2: bool
) -> None:
    fake = FakeFCM().start()
    for name, value in fake.client_env().items():
        monkeypatch.setenv(name, value)
    app = firebase_admin.initialize_app(
        AnonymousCredentials(), {"projectId": PROJECT_ID}, name=f"test-{uuid.uuid4().hex}"
    )
    try:
        fcm_endpoint_override(app, fake.url)
        results = FCMSender(app, http2=http2).send([message(f"k{i}") for i in range(20)])
        started = time.monotonic()
        fake.stop()  # the SDK's connections are still open: must not hang on them
        assert time.monotonic() - started < 5
    finally:
        fake.stop()
        FCMSender.close_app(app)
        firebase_admin.delete_app(app)
    assert all(r.ok for r in results)
    assert len(fake.messages) == 20


# --------------------------------------------------------------------------- production app


@pytest.fixture
def service_account(tmp_path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    path = tmp_path / "service-account.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "tandem-prod",
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": "push@tandem-prod.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    return path


def test_make_firebase_app_reads_a_service_account_once_per_name(service_account: Path) -> None:
    name = f"prod-{uuid.uuid4().hex}"
    app = make_firebase_app(service_account, name)
    try:
        assert app.project_id == "tandem-prod"
        assert make_firebase_app(service_account, name) is app
        sender = FCMSender.from_credentials(service_account, name=name)
        assert isinstance(sender, FCMSender)
    finally:
        firebase_admin.delete_app(app)
