"""Small holes (issue 10, part 6): a push token moves to another account only once the
login that registered it has ended; a partner slot freed by account deletion can be
invited again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from notifications.senders import MemorySender
from server.extensions import db
from server.models import Device, LoginSession
from server.worker import dispatch_pass
from tests.factories import PASSWORD, SF_CALM, Actor, Api, assign, check_in


@pytest.fixture
def sender(app: Flask) -> Iterator[MemorySender]:
    memory = MemorySender()
    app.extensions["tandem.sender"] = memory
    yield memory
    app.extensions.pop("tandem.sender", None)


def register(api: Api, actor: Actor, token: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    r = api.call("POST", "/api/v1/me/devices", actor, json={"token": token, "platform": "ios"})
    return r.status_code, r.get_json()


def owner_of(app: Flask, token: str) -> str | None:
    with app.app_context():
        return db.session.scalar(select(Device.user_id).where(Device.token == token))


# --- device tokens -------------------------------------------------------------------


def test_a_partner_cannot_take_a_therapists_alert_pushes(
    api: Api, app: Flask, sender: MemorySender
) -> None:
    therapist = api.therapist()
    _, a, b = api.couple_with_partners(therapist)
    assert register(api, therapist, "therapist-phone")[0] == 201

    status, problem = register(api, b, "therapist-phone")
    assert status == 409
    assert problem["code"] == "device_taken"
    assert owner_of(app, "therapist-phone") == therapist.id

    # The therapist's alerts still reach the therapist's phone, and no one else.
    aid = assign(api, therapist, a.user["couple_id"])["id"]
    check_in(api, a, aid, answers={**SF_CALM, "pain": 9})
    with app.app_context():
        dispatch_pass(datetime.now(UTC))
    delivered = sender.delivered_to("therapist-phone")
    assert len(delivered) == 1
    assert delivered[0].data["screen"] == "alerts"


def test_a_token_moves_once_its_login_has_signed_out(api: Api, app: Flask) -> None:
    """A phone changing hands: the first user signs out there, the next one signs in."""
    therapist = api.therapist()
    _, a, b = api.couple_with_partners(therapist)
    assert register(api, a, "shared-phone")[0] == 201
    assert api.call("POST", "/api/v1/auth/logout", a).status_code == 204
    assert register(api, b, "shared-phone")[0] == 201
    assert owner_of(app, "shared-phone") == b.id


def test_a_token_moves_once_its_login_has_expired(api: Api, app: Flask) -> None:
    therapist = api.therapist()
    _, a, b = api.couple_with_partners(therapist)
    assert register(api, a, "old-phone")[0] == 201
    with app.app_context():
        sid = db.session.scalar(select(Device.session_id).where(Device.token == "old-phone"))
        login = db.session.get(LoginSession, sid)
        assert login is not None
        login.expires_at = datetime.now(UTC) - timedelta(minutes=1)
        db.session.commit()
    assert register(api, b, "old-phone")[0] == 201
    assert owner_of(app, "old-phone") == b.id


def test_the_same_account_re_registering_from_a_new_login_keeps_it(api: Api, app: Flask) -> None:
    therapist = api.therapist()
    _, a, _ = api.couple_with_partners(therapist)
    assert register(api, a, "my-phone")[0] == 201
    again = api.login(a.user["email"])
    assert register(api, again, "my-phone")[0] == 200
    assert owner_of(app, "my-phone") == a.id
    # Now tied to the new login: ending the old one leaves it.
    assert api.call("POST", "/api/v1/auth/logout", a).status_code == 204
    assert owner_of(app, "my-phone") == a.id


def test_two_partners_cannot_swap_a_token_back_and_forth(api: Api, app: Flask) -> None:
    therapist = api.therapist()
    _, a, b = api.couple_with_partners(therapist)
    assert register(api, a, "phone-a")[0] == 201
    assert register(api, b, "phone-a")[0] == 409
    assert register(api, therapist, "phone-a")[0] == 409
    assert owner_of(app, "phone-a") == a.id


# --- re-inviting a slot freed by account deletion --------------------------------------


def test_a_slot_freed_by_account_deletion_can_be_invited_again(api: Api) -> None:
    therapist = api.therapist()
    couple, a, b = api.couple_with_partners(therapist)
    cid = couple["id"]
    slot_of_a = 1  # `couple_with_partners` joins a with invite 1

    taken = api.call("POST", f"/api/v1/couples/{cid}/invites/{slot_of_a}/reissue", therapist)
    assert taken.status_code == 409
    assert taken.get_json()["code"] == "invite_used"

    gone = api.call("DELETE", "/api/v1/me", a, json={"password": PASSWORD})
    assert gone.status_code == 204
    view = api.call("GET", f"/api/v1/couples/{cid}", therapist).get_json()
    assert view["status"] == "invited"
    assert [p["id"] for p in view["partners"]] == [b.id]

    r = api.call("POST", f"/api/v1/couples/{cid}/invites/{slot_of_a}/reissue", therapist)
    assert r.status_code == 201, r.get_json()
    fresh = r.get_json()
    assert fresh["status"] == "pending" and fresh["code"] and fresh["accepted_at"] is None

    # The other partner's slot is still taken.
    other = api.call("POST", f"/api/v1/couples/{cid}/invites/2/reissue", therapist)
    assert other.status_code == 409

    newcomer = api.join(fresh["code"], name="Robin")
    view = api.call("GET", f"/api/v1/couples/{cid}", therapist).get_json()
    assert view["status"] == "active"
    assert {p["id"] for p in view["partners"]} == {b.id, newcomer.id}
    assert {i["slot"]: i["status"] for i in view["invites"]} == {1: "accepted", 2: "accepted"}
    listed = api.call("GET", "/api/v1/couples", therapist).get_json()
    assert [c["id"] for c in listed] == [cid]
    assert listed[0]["summary"] == view["summary"]
    # The new partner sees the couple's program like anyone who joined.
    assert api.call("GET", "/api/v1/me/homework", newcomer).status_code == 200


def test_a_slot_of_a_deleted_partner_with_a_running_program(api: Api) -> None:
    therapist = api.therapist()
    couple, a, b = api.couple_with_partners(therapist)
    aid = assign(api, therapist, couple["id"])["id"]
    check_in(api, b, aid)
    assert api.call("DELETE", "/api/v1/me", a, json={"password": PASSWORD}).status_code == 204
    summary = api.call("GET", f"/api/v1/couples/{couple['id']}", therapist).get_json()["summary"]
    assert summary is not None
    r = api.call("POST", f"/api/v1/couples/{couple['id']}/invites/1/reissue", therapist)
    assert r.status_code == 201
    newcomer = api.join(r.get_json()["code"])
    homework = api.call("GET", "/api/v1/me/homework", newcomer).get_json()
    assert homework["assignment_id"] == aid
    progress = api.call("GET", f"/api/v1/couples/{couple['id']}/progress", therapist)
    assert progress.status_code == 200
    assert {p["id"] for p in progress.get_json()["partners"]} == {b.id, newcomer.id}


def test_a_device_registered_while_its_login_is_being_ended_is_not_kept(
    pg_url: str, app: Flask, api: Api
) -> None:
    """PostgreSQL: the registration waits for the login's row, then finds it ended."""
    import threading

    from server.auth import revoke_session

    therapist = api.therapist()
    phone = api.login(therapist.user["email"])
    sid = app.extensions["tandem.token_serializer"].loads(phone.access_token)["sid"]
    statuses: list[int] = []

    def register_from_phone() -> None:
        statuses.append(register(api.__class__(app.test_client()), phone, "racing-phone")[0])

    with app.app_context():
        revoke_session(session_id=sid, reason="test")  # not committed yet
        db.session.flush()
        racer = threading.Thread(target=register_from_phone)
        racer.start()
        racer.join(timeout=1)
        waiting = racer.is_alive()
        db.session.commit()
    racer.join(timeout=30)
    assert waiting, "the registration did not wait for the login being ended"
    assert statuses == [401]
    assert owner_of(app, "racing-phone") is None
