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
def fake_fcm() -> Iterator[FakeFCM]:
    """A fresh fake FCM server on loopback, stopped after the test."""
    with FakeFCM(PROJECT_ID) as fake:
        yield fake


@pytest.fixture
def firebase_app(fake_fcm: FakeFCM) -> Iterator[firebase_admin.App]:
    """A firebase-admin app (no Google sign-in) whose FCM endpoint is `fake_fcm`."""
    app = firebase_admin.initialize_app(
        AnonymousCredentials(), {"projectId": PROJECT_ID}, name=f"test-{uuid.uuid4().hex}"
    )
    fcm_endpoint_override(app, fake_fcm.url, sdk_retry=FAST_SDK_RETRY)
    yield app
    firebase_admin.delete_app(app)


@pytest.fixture
def fcm_sender(firebase_app: firebase_admin.App) -> FCMSender:
    """An `FCMSender` through the real SDK to `fake_fcm`, with instant SDK retries."""
    return FCMSender(firebase_app, sdk_retry=FAST_SDK_RETRY)
