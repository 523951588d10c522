"""Fixtures for the notification tests: a fake FCM server and firebase apps aimed at it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import firebase_admin
import pytest
from google.auth.credentials import AnonymousCredentials

from notifications.senders import SDK_RETRY, FCMSender, fcm_endpoint_override
from tests.notifications.fake_fcm import FakeFCM

PROJECT_ID = "tandem-test"
# The SDK's retry policy without the waits (0.5/1/2/4 s): same retries, instant.
# Only the test that shows the SDK's own retries keeps the production policy.
FAST_SDK_RETRY = SDK_RETRY.new(backoff_factor=0)


@pytest.fixture
def fake_fcm(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFCM]:
    """A fresh fake FCM server on loopback (HTTPS, HTTP/2 by ALPN), stopped after the
    test; the test's HTTP clients trust its throwaway CA."""
    with FakeFCM(PROJECT_ID) as fake:
        for name, value in fake.client_env().items():
            monkeypatch.setenv(name, value)
        yield fake


@pytest.fixture
def firebase_app(fake_fcm: FakeFCM) -> Iterator[firebase_admin.App]:
    """A firebase-admin app (no Google sign-in) whose FCM endpoint is `fake_fcm`."""
    app = firebase_admin.initialize_app(
        AnonymousCredentials(), {"projectId": PROJECT_ID}, name=f"test-{uuid.uuid4().hex}"
    )
    fcm_endpoint_override(app, fake_fcm.url, sdk_retry=FAST_SDK_RETRY)
    yield app
    FCMSender.close_app(app)
    firebase_admin.delete_app(app)


@pytest.fixture(params=[True, False], ids=["http2", "http1"])
def fcm_sender(
    firebase_app: firebase_admin.App, request: pytest.FixtureRequest
) -> Iterator[FCMSender]:
    """An `FCMSender` through the real SDK to `fake_fcm`, with instant SDK retries:
    each test runs with `send_each_async` (HTTP/2, the default) and `send_each`."""
    sender = FCMSender(firebase_app, sdk_retry=FAST_SDK_RETRY, http2=request.param)
    yield sender
    sender.close()
