"""Sign-up without enumeration, email verification, password reset and recovery codes
(issue 10, parts 1-3), through the API with the real outbox and background sender; the
mailer is a `MemoryMailer` so the tests can read the links."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from sqlalchemy import event, func, select, update

from notifications.mail import Email, MailError, MemoryMailer
from server.db import utcnow
from server.extensions import db, limiter
from server.models import AccountToken, AuditEvent, OutboundEmail, User
from server.services.mail import background_sender, send_outbox
from server.worker import mail_pass
from tests.conftest import sent_emails
from tests.factories import PASSWORD, Api, unique_email

NEW_PASSWORD = "an entirely new password"


def link_of(email: Email) -> tuple[str, str]:
    """(page path, token) of the one link in an email."""
    match = re.search(r"https?://\S+", email.text)
    assert match, email.text
    parts = urlsplit(match.group(0))
    return parts.path, parse_qs(parts.query)["token"][0]


def sign_up(api: Api, email: str, password: str = PASSWORD, name: str = "Dr. New") -> Any:
    return api.call(
        "POST", "/api/v1/auth/therapists", json={"email": email, "password": password, "name": name}
    )


def sign_in(api: Api, email: str, password: str = PASSWORD) -> Any:
    return api.call("POST", "/api/v1/auth/token", json={"email": email, "password": password})


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


# --- sign-up and verification ---------------------------------------------------------


def test_sign_up_answers_alike_for_new_existing_partner_and_unverified_addresses(
    api: Api, app: Flask, outbox: MemoryMailer
) -> None:
    therapist = api.therapist()
    _, partner, _ = api.couple_with_partners(therapist)
    assert sign_up(api, "pending@example.test").status_code == 202
    answers = [
        sign_up(api, address, name="Someone")
        for address in (
            unique_email("brand-new"),
            therapist.user["email"].upper(),
            partner.user["email"],
            "pending@example.test",
        )
    ]
    assert {r.status_code for r in answers} == {202}
    assert len({r.get_data() for r in answers}) == 1
    assert len({tuple(sorted(r.headers.keys())) for r in answers}) == 1
    # Only the brand-new address got an account; nothing was changed on the others.
    assert count(app, User) == 3 + 1 + 1  # the couple, pending@, brand-new
    assert sign_in(api, partner.user["email"]).status_code == 200


def test_sign_up_does_the_same_work_for_a_new_and_an_existing_address(
    api: Api, app: Flask, outbox: MemoryMailer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same argon2 hashing and the same rows (one token, one outbox email, one audit
    event) whether or not the address has an account; only a new address adds its user."""
    existing = api.therapist()
    service = app.extensions["tandem.passwords"]
    real = service.hasher
    hashed: list[str] = []

    class CountingHasher:
        def hash(self, password: str) -> str:
            hashed.append(password)
            return real.hash(password)

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    monkeypatch.setattr(service, "hasher", CountingHasher())
    inserts: list[str] = []

    def count_inserts(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            inserts.append(statement.split()[2].strip('"'))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count_inserts)
    try:
        work = {}
        for label, address in (("new", unique_email()), ("existing", existing.user["email"])):
            hashed.clear()
            inserts.clear()
            assert sign_up(api, address, password="the same password").status_code == 202
            work[label] = (list(hashed), sorted(inserts))
    finally:
        event.remove(engine, "before_cursor_execute", count_inserts)
    assert work["new"][0] == work["existing"][0] == ["the same password"]
    assert work["existing"][1] == ["account_tokens", "audit_events", "outbound_emails"]
    assert work["new"][1] == ["account_tokens", "audit_events", "outbound_emails", "users"]


def test_a_new_account_signs_in_only_after_verifying_its_address(
    api: Api, app: Flask, outbox: MemoryMailer
) -> None:
    address = unique_email("new")
    assert sign_up(api, address, name="Dr. Lee").status_code == 202
    (email,) = sent_emails(app, outbox, 1)
    assert email.to == address
    assert email.subject == "Confirm your email address"
    assert "Dr. Lee" in email.text
    page, token = link_of(email)
    assert page == "/portal/verify-email"
    assert email.text.count("http://localhost:8000/portal/verify-email?token=") == 1

    # Before: the same 401 as a wrong password (no hint that the account exists).
    before = sign_in(api, address)
    wrong = sign_in(api, "nobody@example.test")
    assert before.status_code == wrong.status_code == 401
    assert before.get_json() == wrong.get_json()

    assert api.call("POST", "/api/v1/auth/verify-email", json={"token": token}).status_code == 204
    assert sign_in(api, address).status_code == 200
    again = api.call("POST", "/api/v1/auth/verify-email", json={"token": token})
    assert again.status_code == 410
    assert again.get_json()["code"] == "token_used"


def test_an_existing_address_gets_a_note_and_an_unverified_one_a_new_link(
    api: Api, app: Flask, outbox: MemoryMailer
) -> None:
    therapist = api.therapist()
    _, partner, _ = api.couple_with_partners(therapist)
    sign_up(api, therapist.user["email"], password="a stranger's password")
    sign_up(api, partner.user["email"], password="a stranger's password")
    sign_up(api, "later@example.test")
    sign_up(api, "later@example.test", password="another password!")
    note_t, note_p, first, second = sent_emails(app, outbox, 4)
    for note in (note_t, note_p):
        assert note.subject == "About your Tandem account"
        assert "already have one" in note.text
    assert link_of(note_t)[0] == "/portal/reset-password"
    assert link_of(note_p)[0] == "/account/reset-password"
    assert first.subject == second.subject == "Confirm your email address"
    # The stranger's password changed nothing; the first sign-up's password stands.
    assert sign_in(api, therapist.user["email"]).status_code == 200
    assert sign_in(api, therapist.user["email"], "a stranger's password").status_code == 401
    api.call("POST", "/api/v1/auth/verify-email", json={"token": link_of(second)[1]})
    assert sign_in(api, "later@example.test").status_code == 200
    assert sign_in(api, "later@example.test", "another password!").status_code == 401


def test_an_expired_verification_link_is_410_token_expired(
    api: Api, app: Flask, outbox: MemoryMailer
) -> None:
    sign_up(api, "slow@example.test")
    (email,) = sent_emails(app, outbox, 1)
    with app.app_context():
        row = db.session.scalars(select(AccountToken)).one()
        assert row.expires_at - row.created_at == timedelta(hours=24)
        db.session.execute(update(AccountToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    r = api.call("POST", "/api/v1/auth/verify-email", json={"token": link_of(email)[1]})
    assert r.status_code == 410
    assert r.content_type == "application/problem+json"
    assert r.get_json()["code"] == "token_expired"
    assert sign_in(api, "slow@example.test").status_code == 401


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"token": "x" * 43}, 404, "token_invalid"),
        ({"token": "not a token at all"}, 404, "token_invalid"),
        ({"token": "7KQ2-M9XD-HT4R-B8WN"}, 404, "token_invalid"),  # a code, not for this
        ({"token": ""}, 422, None),
        ({"token": "x" * 201}, 422, None),
        ({"token": 5}, 422, None),
        ({}, 422, None),
    ],
)
def test_unknown_or_malformed_tokens_are_clear_4xx(
    api: Api, body: dict[str, Any], status: int, code: str | None
) -> None:
    for path in ("/api/v1/auth/verify-email", "/api/v1/auth/password-reset/confirm"):
        payload = {**body, "new_password": NEW_PASSWORD} if "reset" in path else body
        r = api.call("POST", path, json=payload)
        assert r.status_code == status, (path, r.get_json())
        assert r.content_type == "application/problem+json"
        if code:
            assert r.get_json()["code"] == code


# --- password reset ---------------------------------------------------------------------


def test_password_reset_by_email_works_once_and_ends_every_login(
    api: Api, app: Flask, outbox: MemoryMailer
) -> None:
    therapist = api.therapist()
    other_login = api.login(therapist.user["email"])
    r = api.call("POST", "/api/v1/auth/password-reset", json={"email": therapist.user["email"]})
    unknown = api.call("POST", "/api/v1/auth/password-reset", json={"email": "no@example.test"})
    assert r.status_code == unknown.status_code == 202
    assert r.get_data() == unknown.get_data()
    (email,) = sent_emails(app, outbox, 1)  # nothing for the unknown address
    assert email.to == therapist.user["email"]
    assert email.subject == "Reset your password"
    page, token = link_of(email)
    assert page == "/portal/reset-password"
    with app.app_context():
        row = db.session.scalars(select(AccountToken)).one()
        assert row.expires_at - row.created_at == timedelta(hours=1)
        assert token not in (row.token_hash, row.id)

    confirm = {"token": token, "new_password": NEW_PASSWORD}
    assert api.call("POST", "/api/v1/auth/password-reset/confirm", json=confirm).status_code == 204
    for actor in (therapist, other_login):
        assert api.call("GET", "/api/v1/me", actor).status_code == 401
        refreshed = api.call(
            "POST", "/api/v1/auth/refresh", json={"refresh_token": actor.refresh_token}
        )
        assert refreshed.status_code == 401
    assert sign_in(api, therapist.user["email"]).status_code == 401
    assert sign_in(api, therapist.user["email"], NEW_PASSWORD).status_code == 200
    again = api.call("POST", "/api/v1/auth/password-reset/confirm", json=confirm)
    assert again.status_code == 410
    assert again.get_json()["code"] == "token_used"


def test_a_partner_reset_link_opens_the_account_page(
    api: Api, app: Flask, outbox: MemoryMailer
) -> None:
    _, partner, _ = api.couple_with_partners(api.therapist())
    api.call("POST", "/api/v1/auth/password-reset", json={"email": partner.user["email"]})
    (email,) = sent_emails(app, outbox, 1)
    assert link_of(email)[0] == "/account/reset-password"
    assert "therapy" not in email.subject.lower() and "therap" not in email.text.lower()


def test_an_expired_reset_token_is_410_and_a_reset_verifies_the_address(
    api: Api, app: Flask, outbox: MemoryMailer
) -> None:
    sign_up(api, "forgetful@example.test")
    api.call("POST", "/api/v1/auth/password-reset", json={"email": "forgetful@example.test"})
    _, reset = sent_emails(app, outbox, 2)
    token = link_of(reset)[1]
    confirm = {"token": token, "new_password": NEW_PASSWORD}
    with app.app_context():
        live = db.session.execute(
            update(AccountToken)
            .where(AccountToken.purpose == "password_reset")
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        assert live.rowcount == 1
        db.session.commit()
    expired = api.call("POST", "/api/v1/auth/password-reset/confirm", json=confirm)
    assert expired.status_code == 410
    assert expired.get_json()["code"] == "token_expired"
    with app.app_context():
        db.session.execute(update(AccountToken).values(expires_at=utcnow() + timedelta(minutes=5)))
        db.session.commit()
    assert api.call("POST", "/api/v1/auth/password-reset/confirm", json=confirm).status_code == 204
    # The link reached the address: the account is verified by it.
    assert sign_in(api, "forgetful@example.test", NEW_PASSWORD).status_code == 200


# --- recovery codes ---------------------------------------------------------------------


def test_a_partner_recovers_with_the_therapists_code_once(
    api: Api, app: Flask, outbox: MemoryMailer
) -> None:
    therapist = api.therapist()
    couple, partner, other = api.couple_with_partners(therapist)
    path = f"/api/v1/couples/{couple['id']}/partners/{partner.id}/recovery"
    r = api.call("POST", path, therapist)
    assert r.status_code == 201
    body = r.get_json()
    assert set(body) == {"code", "expires_at"}
    assert re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){3}", body["code"])
    assert body["expires_at"].endswith("Z")

    typed = body["code"].lower().replace("-", " ")  # as read aloud and typed on a phone
    confirm = {"token": typed, "new_password": NEW_PASSWORD}
    assert api.call("POST", "/api/v1/auth/password-reset/confirm", json=confirm).status_code == 204
    assert api.call("GET", "/api/v1/me", partner).status_code == 401
    assert sign_in(api, partner.user["email"], NEW_PASSWORD).status_code == 200
    assert sign_in(api, other.user["email"]).status_code == 200  # the other partner untouched
    again = api.call("POST", "/api/v1/auth/password-reset/confirm", json=confirm)
    assert again.status_code == 410 and again.get_json()["code"] == "token_used"
    # A recovery code never verifies an email: it is not a verification token.
    code2 = api.call("POST", path, therapist).get_json()["code"]
    wrong_step = api.call("POST", "/api/v1/auth/verify-email", json={"token": code2})
    assert wrong_step.status_code == 404
    assert outbox.sent == []  # codes are handed over, never emailed
    with app.app_context():
        actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"user.recovery_code_issued", "user.password_reset"} <= actions


def test_a_new_recovery_code_replaces_the_old_one(api: Api, outbox: MemoryMailer) -> None:
    therapist = api.therapist()
    couple, partner, _ = api.couple_with_partners(therapist)
    path = f"/api/v1/couples/{couple['id']}/partners/{partner.id}/recovery"
    first = api.call("POST", path, therapist).get_json()["code"]
    second = api.call("POST", path, therapist).get_json()["code"]
    old = api.call(
        "POST",
        "/api/v1/auth/password-reset/confirm",
        json={"token": first, "new_password": NEW_PASSWORD},
    )
    assert old.status_code == 410
    new = api.call(
        "POST",
        "/api/v1/auth/password-reset/confirm",
        json={"token": second, "new_password": NEW_PASSWORD},
    )
    assert new.status_code == 204


def test_recovery_codes_only_for_the_couples_own_therapist(api: Api, outbox: MemoryMailer) -> None:
    therapist = api.therapist()
    stranger = api.therapist(name="Dr. Other")
    couple, partner, _ = api.couple_with_partners(therapist)
    _, other_partner, _ = api.couple_with_partners(stranger)
    own = f"/api/v1/couples/{couple['id']}/partners"
    assert api.call("POST", f"{own}/{partner.id}/recovery", stranger).status_code == 404
    assert api.call("POST", f"{own}/{other_partner.id}/recovery", therapist).status_code == 404
    assert api.call("POST", f"{own}/{therapist.id}/recovery", therapist).status_code == 404
    assert api.call("POST", f"{own}/not-an-id/recovery", therapist).status_code == 404
    assert api.call("POST", f"{own}/{partner.id}/recovery", partner).status_code == 403
    assert api.call("POST", f"{own}/{partner.id}/recovery").status_code == 401


# --- limits, audit, the outbox ----------------------------------------------------------


def test_guessing_tokens_is_rate_limited(api: Api, outbox: MemoryMailer) -> None:
    statuses = [
        api.call(
            "POST",
            "/api/v1/auth/password-reset/confirm",
            json={"token": f"GUESS-{i:04d}-AAAA-AAAA", "new_password": NEW_PASSWORD},
        ).status_code
        for i in range(11)
    ]
    assert statuses == [404] * 10 + [429]


def test_reset_requests_are_limited_per_address_without_the_address_in_any_key(
    api: Api, app: Flask, outbox: MemoryMailer
) -> None:
    address = "flooded@example.test"
    statuses = [
        api.call("POST", "/api/v1/auth/password-reset", json={"email": address}).status_code
        for _ in range(6)
    ]
    assert statuses == [202] * 5 + [429]
    other = api.call("POST", "/api/v1/auth/password-reset", json={"email": "x@example.test"})
    assert other.status_code == 202
    storage = limiter._storage  # memory:// in the tests
    keys = " ".join(map(str, getattr(storage, "storage", {}).keys()))
    assert "password-reset" in keys or "request_password_reset" in keys
    assert "flooded" not in keys and "example.test" not in keys


def test_reset_requests_are_audited_without_the_address(
    api: Api, app: Flask, outbox: MemoryMailer
) -> None:
    therapist = api.therapist()
    api.call("POST", "/api/v1/auth/password-reset", json={"email": therapist.user["email"]})
    api.call("POST", "/api/v1/auth/password-reset", json={"email": "ghost@example.test"})
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "user.password_reset_requested")
        ).all()
        assert sorted(e.object_id or "" for e in events) == sorted(["", therapist.id])
        assert all("ghost" not in repr(e.detail) for e in events)


def test_the_outbox_holds_no_readable_address_or_token_and_blanks_what_was_sent(
    api: Api, app: Flask, outbox: MemoryMailer
) -> None:
    sign_up(api, "private.person@example.test")
    sent_emails(app, outbox, 1)
    with app.app_context():
        row = db.session.scalars(select(OutboundEmail)).one()
        assert row.status == "sent" and row.sent_at is not None and row.attempts == 1
        assert row.message_encrypted is None  # the live token is gone from the table
        assert row.kind == "verify_email"


def test_a_failing_mail_server_never_fails_the_request_and_the_worker_retries(
    api: Api, app: Flask, outbox: MemoryMailer, caplog: pytest.LogCaptureFixture
) -> None:
    outbox.fail_with = MailError("connection_refused")
    r = sign_up(api, "patient@example.test")
    assert r.status_code == 202
    assert background_sender(app).wait_idle()
    with app.app_context():
        row = db.session.scalars(select(OutboundEmail)).one()
        assert (row.status, row.attempts, row.last_error) == ("pending", 1, "connection_refused")
        sealed = row.message_encrypted
        assert sealed and "patient@example.test" not in sealed
        retry_at = row.next_attempt_at
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "connection_refused" in logged and "patient" not in logged
    assert "token" not in logged.lower()

    with app.app_context():
        # Not yet due: the worker's pass leaves it alone.
        assert mail_pass(now=retry_at - timedelta(seconds=1))["sent"] == 0
        outbox.fail_with = None
        assert mail_pass(now=retry_at) == {"sent": 1, "retrying": 0, "failed": 0}
        db.session.remove()
    (email,) = outbox.sent
    assert email.to == "patient@example.test"


def test_an_email_is_given_up_after_its_last_attempt_and_says_so(
    app: Flask, api: Api, outbox: MemoryMailer, caplog: pytest.LogCaptureFixture
) -> None:
    outbox.fail_with = MailError("recipient_refused", permanent=True)
    sign_up(api, "bounce@example.test")
    assert background_sender(app).wait_idle()
    with app.app_context():
        row = db.session.scalars(select(OutboundEmail)).one()
        assert (row.status, row.last_error, row.message_encrypted) == (
            "failed",
            "recipient_refused",
            None,
        )
        # nothing left to retry
        assert send_outbox(now=utcnow() + timedelta(days=1)) == {
            "sent": 0,
            "retrying": 0,
            "failed": 0,
        }
        db.session.remove()
    assert any("given up" in r.getMessage() for r in caplog.records)
    assert not any("bounce" in r.getMessage() for r in caplog.records)


def test_a_copy_of_the_database_holds_no_live_token_or_code(
    api: Api, app: Flask, outbox: MemoryMailer
) -> None:
    """Tokens and codes only as digests; an unsent email's link only encrypted."""
    from server.crypto import cipher
    from tests.api.test_privacy import _dump

    therapist = api.therapist()
    couple, partner, _ = api.couple_with_partners(therapist)
    code = api.call(
        "POST", f"/api/v1/couples/{couple['id']}/partners/{partner.id}/recovery", therapist
    ).get_json()["code"]
    api.call("POST", "/api/v1/auth/password-reset", json={"email": therapist.user["email"]})
    (email,) = sent_emails(app, outbox, 1)
    outbox.fail_with = MailError("connection_refused")
    sign_up(api, "still.waiting@example.test")
    assert background_sender(app).wait_idle()
    with app.app_context():
        sealed = db.session.scalars(
            select(OutboundEmail.message_encrypted).where(OutboundEmail.status == "pending")
        ).one()
        assert sealed is not None
        waiting = link_of(Email.from_json(cipher().decrypt(sealed)))[1]
    dump = _dump(app)
    for secret in (link_of(email)[1], code, code.replace("-", ""), waiting):
        assert secret not in dump, secret


def test_tandem_worker_runs_the_mail_job(api: Api, app: Flask, outbox: MemoryMailer) -> None:
    """`tandem worker`'s scheduler (server.worker.run) has a `mail` job; its first run, at
    start-up, sends an email the web process could not."""
    import threading

    from server import worker

    assert worker.EVERY["mail"] == worker.MAIL_EVERY == 30
    outbox.fail_with = MailError("timeout")
    sign_up(api, "left.behind@example.test")
    assert background_sender(app).wait_idle()
    with app.app_context():
        db.session.execute(update(OutboundEmail).values(next_attempt_at=utcnow()))
        db.session.commit()
        db.session.remove()
    outbox.fail_with = None
    stop = threading.Event()
    runner = threading.Thread(
        target=worker.run, args=(app,), kwargs={"every": {"mail": 3600}, "stop_event": stop}
    )
    runner.start()
    try:
        assert [e.to for e in outbox.wait_for(1, timeout=10)] == ["left.behind@example.test"]
    finally:
        stop.set()
        runner.join(10)
    assert not runner.is_alive()


def test_erasing_an_account_erases_its_tokens_and_emails(
    api: Api, app: Flask, outbox: MemoryMailer
) -> None:
    therapist = api.therapist()
    api.call("POST", "/api/v1/auth/password-reset", json={"email": therapist.user["email"]})
    outbox.fail_with = MailError("timeout")
    sign_up(api, therapist.user["email"])  # a note that stays unsent
    assert background_sender(app).wait_idle()
    assert count(app, AccountToken) == 2 and count(app, OutboundEmail) == 2
    r = api.call("DELETE", "/api/v1/me", therapist, json={"password": PASSWORD})
    assert r.status_code == 204
    assert count(app, AccountToken) == count(app, OutboundEmail) == 0
