"""The privacy rules of PRODUCT.md, one test (or more) per rule."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import select, text

from server.extensions import db
from server.models import AuditEvent
from server.services.keys import (
    ENCRYPTED_COLUMNS,
    FINGERPRINT_COLUMNS,
    PASSWORD_HASHES,
    RANDOM_SECRET_DIGESTS,
)
from tests.conftest import make_app
from tests.factories import PASSWORD, SF_CALM, Api, assign, check_in, checkin_body

SECRET = "my private words about our evening"


@pytest.fixture
def couple(api: Api):  # type: ignore[no-untyped-def]
    t = api.therapist()
    c, a, b = api.couple_with_partners(t)
    aid = assign(
        api, t, c["id"], start_date=(datetime.now(UTC) - timedelta(days=14)).date().isoformat()
    )["id"]
    return t, c, a, b, aid


def get(api: Api, who, checkin_id: str):  # type: ignore[no-untyped-def]
    return api.call("GET", f"/api/v1/checkins/{checkin_id}", who)


# Rule 1 --------------------------------------------------------------------------------
@pytest.mark.parametrize("visibility", ["private", "therapist", "couple"])
def test_rule1_the_author_always_sees_their_check_in(api: Api, couple, visibility: str) -> None:  # type: ignore[no-untyped-def]
    _, _, a, _, aid = couple
    c = check_in(api, a, aid, visibility=visibility, reflection=SECRET)
    seen = get(api, a, c["id"]).get_json()
    assert seen["reflection"] == SECRET
    assert seen["answers"]["anxiety"] == SF_CALM["anxiety"]


# Rule 2 --------------------------------------------------------------------------------
def test_rule2_private_shows_the_therapist_only_that_it_happened_and_its_flags(
    api: Api, couple
) -> None:  # type: ignore[no-untyped-def]
    t, c, a, _, aid = couple
    checkin = check_in(
        api, a, aid, visibility="private", reflection=SECRET, answers={**SF_CALM, "pain": 6}
    )
    for response in (
        get(api, t, checkin["id"]),
        api.call("GET", f"/api/v1/couples/{c['id']}/checkins", t),
    ):
        body = response.get_json()
        seen = body[0] if isinstance(body, list) else body
        assert seen["exercise"] == "sf-1-nongenital-touch"
        assert seen["occurred_at"] == checkin["occurred_at"]
        assert seen["answers"] is None
        assert seen["reflection"] is None
        assert seen["flags"]["pain"] is True
        assert SECRET not in response.get_data(as_text=True)


def test_rule2_therapist_visibility_shows_the_therapist_everything(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    t, _, a, _, aid = couple
    checkin = check_in(api, a, aid, reflection=SECRET)
    seen = get(api, t, checkin["id"]).get_json()
    assert seen["reflection"] == SECRET
    assert seen["answers"]["anxiety"] == SF_CALM["anxiety"]


def test_rule2_couple_visibility_shows_therapist_and_partner(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    t, _, a, b, aid = couple
    checkin = check_in(api, a, aid, visibility="couple", reflection=SECRET)
    assert get(api, t, checkin["id"]).get_json()["reflection"] == SECRET
    seen = get(api, b, checkin["id"]).get_json()
    assert seen["reflection"] == SECRET
    assert seen["answers"]["anxiety"] == SF_CALM["anxiety"]


# Rule 3 --------------------------------------------------------------------------------
@pytest.mark.parametrize("visibility", ["private", "therapist"])
def test_rule3_the_partner_gets_404_exactly_like_a_missing_check_in(
    api: Api, couple, visibility: str
) -> None:  # type: ignore[no-untyped-def]
    _, _, a, b, aid = couple
    checkin = check_in(api, a, aid, visibility=visibility)
    hidden = get(api, b, checkin["id"])
    missing = get(api, b, str(uuid.uuid4()))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.get_json() == missing.get_json()


def test_rule3_the_partner_learns_no_counts(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    _, _, a, b, aid = couple
    before = api.call("GET", "/api/v1/me/homework", b).get_data(as_text=True)
    for visibility in ("private", "therapist", "couple"):
        check_in(api, a, aid, visibility=visibility, answers={**SF_CALM, "pain": 9})
    after = api.call("GET", "/api/v1/me/homework", b).get_json()
    assert api.call("GET", "/api/v1/me/checkins", b).get_json() == []
    # the partner's homework is unchanged but for the (unexplained) pause of rule 4
    before_items = {i["exercise"]: i["done_this_week"] for i in json.loads(before)["items"]}
    assert {i["exercise"]: i["done_this_week"] for i in after["items"]} == before_items
    export = api.call("GET", "/api/v1/me/export", b).get_json()
    assert export["checkins"] == []
    assert a.id not in json.dumps(export["checkins"])


# Rule 4 --------------------------------------------------------------------------------
@pytest.mark.parametrize("visibility", ["private", "therapist", "couple"])
def test_rule4_flags_always_reach_the_therapist(api: Api, couple, visibility: str) -> None:  # type: ignore[no-untyped-def]
    t, c, a, _, aid = couple
    checkin = check_in(api, a, aid, visibility=visibility, flags={"unsafe": True})
    alerts = api.call("GET", "/api/v1/alerts", t).get_json()
    assert [(x["couple_id"], x["partner_id"], x["kind"], x["checkin_id"]) for x in alerts] == [
        (c["id"], a.id, "safety", checkin["id"])
    ]
    assert "unsafe" in alerts[0]["flags"]
    assert get(api, t, checkin["id"]).get_json()["flags"]["unsafe"] is True


def test_rule4_flags_never_reach_the_partner(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    t, _, a, b, aid = couple
    before = api.call("GET", f"/api/v1/assignments/{aid}", b).get_json()
    checkin = check_in(
        api,
        a,
        aid,
        visibility="couple",
        reflection="shared",
        answers={**SF_CALM, "pain": 8, "pressured": True},
    )
    seen = get(api, b, checkin["id"]).get_json()
    assert seen["reflection"] == "shared"
    assert not any(seen["flags"].values())
    assert "pain" not in seen["answers"] and "pressured" not in seen["answers"]
    # the program shows the partner only a plain pause by the therapist
    homework = api.call("GET", "/api/v1/me/homework", b).get_json()
    assert homework["status"] == "paused"
    assert homework["message"] == "Paused by your therapist."
    after = api.call("GET", f"/api/v1/assignments/{aid}", b).get_json()
    assert after["status"] == "paused"
    assert after["history"][:-1] == before["history"]
    assert {k: v for k, v in after["history"][-1].items() if k != "at"} == {
        "action": "paused",
        "actor_id": t.id,
        "from_stage": 1,
        "to_stage": 1,
    }
    assert {k: v for k, v in after.items() if k not in ("status", "history")} == {
        k: v for k, v in before.items() if k not in ("status", "history")
    }
    export = json.dumps(api.call("GET", "/api/v1/me/export", b).get_json()["checkins"])
    assert export == "[]"


# Rule 5 is the permission matrix (tests/api/test_permissions.py): another therapist's
# couple answers 404 and a client never reaches a therapist route (403).


# Rule 6 --------------------------------------------------------------------------------
def test_rule6_therapist_reads_of_content_are_audited(api: Api, app: Flask, couple) -> None:  # type: ignore[no-untyped-def]
    t, c, a, _, aid = couple
    shown = check_in(api, a, aid)
    private = check_in(api, a, aid, visibility="private")
    get(api, t, shown["id"])
    api.call("GET", f"/api/v1/couples/{c['id']}/checkins", t)
    with app.app_context():
        reads = db.session.execute(
            select(AuditEvent.actor_id, AuditEvent.object_id).where(
                AuditEvent.action == "checkin.read"
            )
        ).all()
    assert reads.count((t.id, shown["id"])) == 2
    # a private check-in shows no content, so there is no content read to audit
    assert (t.id, private["id"]) not in reads


# Rule 7 --------------------------------------------------------------------------------
def _dump(app: Flask) -> str:
    """Every value of every table, as a copy of the database would show it."""
    parts: list[str] = []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(text(f"SELECT * FROM {table.name}")):  # noqa: S608
                parts.extend(str(v) for v in row)
    return "\n".join(parts)


def test_rule7_free_text_is_encrypted_at_rest(api: Api, app: Flask) -> None:
    t = api.therapist()
    c, a, _ = api.couple_with_partners(t)
    aid = assign(api, t, c["id"])["id"]
    api.call("PATCH", f"/api/v1/assignments/{aid}", t, json={"note": "THERAPIST-NOTE-TEXT"})
    api.call("POST", f"/api/v1/assignments/{aid}/pause", t, json={"reason": "REASON-TEXT"})
    api.call("POST", f"/api/v1/assignments/{aid}/resume", t)
    check_in(
        api,
        a,
        aid,
        reflection="REFLECTION-TEXT",
        answers={**SF_CALM, "reflection": "FORM-REFLECTION-TEXT"},
    )
    check_in(
        api,
        a,
        aid,
        exercise="journal-touch-reflection",
        answers={"sensation_detail": "JOURNAL-ANSWER-TEXT", "distress": 1},
    )
    dump = _dump(app)
    for secret in (
        "THERAPIST-NOTE-TEXT",
        "REASON-TEXT",
        "REFLECTION-TEXT",
        "FORM-REFLECTION-TEXT",
        "JOURNAL-ANSWER-TEXT",
    ):
        assert secret not in dump, secret
    mine = api.call("GET", "/api/v1/me/checkins", a).get_data(as_text=True)
    assert "JOURNAL-ANSWER-TEXT" in mine and "REFLECTION-TEXT" in mine


GUESS = "I wanted to stop but did not say so"
JOURNAL_GUESS = "It felt rushed and I went along with it"
WORDING_GUESS = "Time for our walk"


def _plain_digests(text: str) -> set[str]:
    """What an attacker with the file would try: plain digests of a guessed text, in the
    usual encodings."""
    found: set[str] = set()
    for name in ("md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sha3_256", "blake2b"):
        digest = hashlib.new(name, text.encode()).digest()
        for encoded in (
            digest.hex(),
            base64.b64encode(digest).decode(),
            base64.urlsafe_b64encode(digest).decode().rstrip("="),
        ):
            found |= {encoded, encoded.upper()}
    return found


def _canonical_forms(sent: dict[str, object]) -> set[str]:
    """The request as sent and as the server reads it (defaults filled in, the instant
    parsed), serialized the ways code usually does before hashing."""
    occurred = datetime.fromisoformat(str(sent["occurred_at"]).replace("Z", "+00:00"))
    loaded = {"visibility": "therapist", "flags": {}, **sent, "occurred_at": occurred}
    forms: set[str] = set()
    for body in (sent, loaded):
        for options in (
            {"sort_keys": True, "separators": (",", ":")},
            {"sort_keys": True},
            {},
            {"separators": (",", ":")},
        ):
            forms.add(json.dumps(body, default=str, **options))  # type: ignore[arg-type]
    return forms


def test_rule7_a_copy_of_the_database_confirms_no_guess(api: Api, app: Flask) -> None:
    """Someone with a copy of the database (no keys) guesses what a partner wrote and
    hashes the guess, or the whole request, as the server might have: nothing matches."""
    t = api.therapist()
    c, a, _ = api.couple_with_partners(t)
    aid = assign(api, t, c["id"])["id"]
    sent = [
        checkin_body(aid, reflection=GUESS),
        checkin_body(aid, reflection=GUESS, visibility="private", flags={"stop": True}),
        checkin_body(
            aid,
            exercise="journal-touch-reflection",
            answers={"sensation_detail": JOURNAL_GUESS, "distress": 1},
        ),
    ]
    for body in sent:
        assert api.call("POST", "/api/v1/checkins", a, json=body).status_code == 201
    settings = api.call("GET", "/api/v1/me/reminder-settings", a).get_json()
    assert (
        api.call(
            "PUT", "/api/v1/me/reminder-settings", a, json={**settings, "text": WORDING_GUESS}
        ).status_code
        == 200
    )
    dump = _dump(app)
    guesses = [GUESS, JOURNAL_GUESS, WORDING_GUESS]
    for guess in guesses:
        assert guess not in dump, guess
    candidates: set[str] = set()
    for text_ in [*guesses, *(form for body in sent for form in _canonical_forms(body))]:
        candidates |= _plain_digests(text_)
    confirmed = sorted(candidate for candidate in candidates if candidate in dump)
    assert confirmed == []
    # and the check-ins are all there, for their author
    mine = api.call("GET", "/api/v1/me/checkins", a).get_data(as_text=True)
    assert GUESS in mine and JOURNAL_GUESS in mine


def test_rule7_every_hash_column_is_keyed_or_of_a_random_secret(app: Flask) -> None:
    """A new `*_hash` column must say what it hashes: a plain digest only of a random
    secret; of anything a person wrote, a keyed fingerprint rotated with the data keys."""
    listed = {*FINGERPRINT_COLUMNS, *RANDOM_SECRET_DIGESTS, *PASSWORD_HASHES}
    found = {
        f"{table.name}.{column.name}"
        for table in db.metadata.sorted_tables
        for column in table.columns
        if column.name.endswith(("_hash", "_digest", "_fingerprint", "_mac"))
    }
    assert found == listed


def test_rule7_keys_rotate(api: Api, app: Flask, tmp_path, database_url: str) -> None:  # type: ignore[no-untyped-def]
    t = api.therapist()
    c, a, _ = api.couple_with_partners(t)
    aid = assign(api, t, c["id"])["id"]
    checkin = check_in(api, a, aid, reflection="ROTATE-ME")
    old_keys = ",".join(app.config["TANDEM_SETTINGS"].data_keys)
    new_key = Fernet.generate_key().decode()
    rotated = make_app(
        tmp_path,
        database_url,
        TANDEM_DATA_KEYS=f"{new_key},{old_keys}",
        TANDEM_SECRET_KEY=app.config["SECRET_KEY"],
    )
    result = rotated.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "checkins.text_encrypted: 1 re-encrypted" in result.output
    only_new = make_app(
        tmp_path, database_url, TANDEM_DATA_KEYS=new_key, TANDEM_SECRET_KEY=app.config["SECRET_KEY"]
    )
    client = only_new.test_client()
    seen = client.get(f"/api/v1/checkins/{checkin['id']}", headers=a.headers).get_json()
    assert seen["reflection"] == "ROTATE-ME"


def test_rule7_every_encrypted_column_is_rotated(app: Flask) -> None:
    """A new `*_encrypted` column must be added to the rotation list."""
    listed = {f"{model.__tablename__}.{column}" for model, column in ENCRYPTED_COLUMNS}
    found = {
        f"{table.name}.{column.name}"
        for table in db.metadata.sorted_tables
        for column in table.columns
        if column.name.endswith("_encrypted")
    }
    assert found == listed


# Rule 9 --------------------------------------------------------------------------------
def test_rule9_export_holds_all_of_mine_and_nothing_of_my_partner(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    _, _, a, b, aid = couple
    check_in(api, a, aid, reflection="A-TEXT", visibility="private")
    check_in(api, b, aid, reflection="B-TEXT", visibility="couple")
    export = api.call("GET", "/api/v1/me/export", a)
    assert export.status_code == 200
    body = export.get_json()
    assert body["user"]["id"] == a.id
    assert [c["reflection"] for c in body["checkins"]] == ["A-TEXT"]
    page = export.get_data(as_text=True)
    assert "B-TEXT" not in page
    assert b.id not in page
    assert b.user["email"] not in page


def test_rule9_deleting_a_partner_keeps_the_other_partners_data(
    api: Api, app: Flask, couple
) -> None:  # type: ignore[no-untyped-def]
    t, c, a, b, aid = couple
    check_in(api, a, aid, reflection="A-TEXT", flags={"distress": True})
    kept = check_in(api, b, aid, reflection="B-TEXT")
    wrong = api.call("DELETE", "/api/v1/me", a, json={"password": "not my password"})
    assert wrong.status_code == 422
    assert api.call("DELETE", "/api/v1/me", a, json={"password": PASSWORD}).status_code == 204
    assert api.call("GET", "/api/v1/me", a).status_code == 401
    assert (
        api.call(
            "POST", "/api/v1/auth/token", json={"email": a.user["email"], "password": PASSWORD}
        ).status_code
        == 401
    )
    assert "A-TEXT" not in _dump(app)
    assert get(api, b, kept["id"]).get_json()["reflection"] == "B-TEXT"
    assert api.call("GET", f"/api/v1/assignments/{aid}", b).status_code == 200
    # kept as it was: on the safety hold that the flag put it on (shown as paused)
    assert api.call("GET", f"/api/v1/assignments/{aid}", t).get_json()["status"] == "paused"
    partners = api.call("GET", f"/api/v1/couples/{c['id']}", t).get_json()["partners"]
    assert [p["id"] for p in partners] == [b.id]
    # the therapist keeps the alert, without the erased check-in
    alerts = api.call("GET", "/api/v1/alerts", t).get_json()
    assert alerts[0]["checkin_id"] is None and alerts[0]["partner_id"] is None
