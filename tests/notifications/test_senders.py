"""The log and memory senders, and how FCM errors map to results (no network)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from firebase_admin import exceptions, messaging

from notifications.delivery import Message, SendResult
from notifications.senders import LogSender, MemorySender, result_from_error, token_ref

TOKEN = "fcm-token-0123456789abcdef-very-secret"


def message(token: str = TOKEN, **changes: Any) -> Message:
    fields: dict[str, Any] = {
        "token": token,
        "title": "Reminder",
        "body": "Time for your check-in with yourself.",
        "data": {"screen": "homework"},
    }
    fields.update(changes)
    return Message(**fields)


def http_response(status: int, body: dict[str, Any], **headers: str) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    response.headers.update({k.replace("_", "-"): v for k, v in headers.items()})
    return response


# --------------------------------------------------------------------------- log


def test_log_sender_writes_title_and_body_to_stderr_never_the_token(
    capsys: pytest.CaptureFixture[str],
) -> None:
    results = LogSender().send([message(), message(token="other", body="Our walk?")])

    err = capsys.readouterr().err.splitlines()
    assert results == [SendResult(ok=True)] * 2
    assert len(err) == 2
    assert '"Reminder"' in err[0] and '"Time for your check-in with yourself."' in err[0]
    assert '"Our walk?"' in err[1]
    assert TOKEN not in "".join(err) and TOKEN[:8] not in "".join(err)
    assert f"to={token_ref(TOKEN)}" in err[0]


def test_log_sender_can_write_to_a_given_stream() -> None:
    stream = io.StringIO()
    LogSender(stream).send([message()])
    assert "title=" in stream.getvalue()


def test_token_ref_is_short_stable_and_not_the_token() -> None:
    assert token_ref(TOKEN) == token_ref(TOKEN) != token_ref("other")
    assert len(token_ref(TOKEN)) == 12 and token_ref(TOKEN) not in TOKEN


# --------------------------------------------------------------------------- memory


def test_memory_sender_answers_from_its_script_then_ok() -> None:
    gone = SendResult(ok=False, error="UNREGISTERED", token_invalid=True)
    sender = MemorySender({"a": [gone]})

    assert sender.send([message("a"), message("b")]) == [gone, SendResult(ok=True)]
    assert sender.send([message("a")]) == [SendResult(ok=True)]
    assert sender.call_sizes == [2, 1]
    assert [m.token for m in sender.delivered] == ["b", "a"]
    assert len(sender.delivered_to("a")) == 1


def test_memory_sender_can_fail_whole_calls() -> None:
    sender = MemorySender()
    sender.fail_calls(ConnectionError("down"), times=1)

    with pytest.raises(ConnectionError):
        sender.send([message()])
    assert sender.send([message()]) == [SendResult(ok=True)]
    assert sender.delivered == [message()]


# --------------------------------------------------------------------------- error mapping


def fcm_error_body(status: str, code: int, text: str, *details: dict[str, Any]) -> dict[str, Any]:
    return {"error": {"code": code, "message": text, "status": status, "details": list(details)}}


def test_invalid_argument_is_about_the_token_when_the_field_violation_says_so() -> None:
    body = fcm_error_body(
        "INVALID_ARGUMENT",
        400,
        "Request contains an invalid argument.",
        {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": "message.token", "description": "Invalid token"}],
        },
    )
    error = exceptions.InvalidArgumentError("x", http_response=http_response(400, body))
    assert result_from_error(error).token_invalid is True


def test_invalid_argument_about_the_payload_keeps_the_token() -> None:
    body = fcm_error_body(
        "INVALID_ARGUMENT", 400, "Invalid value at 'message.android.ttl' (TYPE_STRING)"
    )
    error = exceptions.InvalidArgumentError("x", http_response=http_response(400, body))
    result = result_from_error(error)
    assert (result.error, result.token_invalid) == ("INVALID_ARGUMENT", False)


def test_retry_after_may_be_an_http_date() -> None:
    now = datetime(2026, 10, 21, 7, 27, 0, tzinfo=UTC).timestamp()
    response = http_response(
        429,
        fcm_error_body("RESOURCE_EXHAUSTED", 429, "quota"),
        Retry_After="Wed, 21 Oct 2026 07:28:30 GMT",
    )
    error = messaging.QuotaExceededError("quota", cause=None, http_response=response)

    result = result_from_error(error, clock=lambda: now)

    assert (result.error, result.retry_after) == ("QUOTA_EXCEEDED", 90.0)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (exceptions.UnavailableError("down"), "UNAVAILABLE"),
        (exceptions.InternalError("oops"), "INTERNAL"),
        (exceptions.DeadlineExceededError("slow"), "DEADLINE_EXCEEDED"),
        (messaging.ThirdPartyAuthError("apns"), "THIRD_PARTY_AUTH_ERROR"),
        (RuntimeError("?"), "UNKNOWN"),
    ],
)
def test_other_errors_keep_their_code(error: BaseException, code: str) -> None:
    result = result_from_error(error)
    assert (result.ok, result.error, result.token_invalid) == (False, code, False)
