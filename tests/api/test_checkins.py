"""Recording check-ins: validation, offline-safe idempotency, homework counts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import func, select

from server.extensions import db
from server.models import CheckIn
from tests.conftest import make_app
from tests.factories import SF_CALM, Actor, Api, assign, check_in, checkin_body


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@pytest.fixture
def setup(api: Api):  # type: ignore[no-untyped-def]
    t = api.therapist()
    couple, a, b = api.couple_with_partners(t)
    assignment = assign(
        api, t, couple["id"], start_date=(datetime.now(UTC) - timedelta(days=30)).date().isoformat()
    )
    return t, couple, a, b, assignment["id"]


def count(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(CheckIn)) or 0)


def test_a_check_in_is_recorded_and_shown_to_its_author(api: Api, setup) -> None:  # type: ignore[no-untyped-def]
    _, _, a, _, aid = setup
    body = checkin_body(aid, reflection="Slower than last time, nicer.", visibility="private")
    r = api.call("POST", "/api/v1/checkins", a, json=body)
    assert r.status_code == 201
    stored = r.get_json()
    assert stored["id"] == body["id"]
    assert stored["author_id"] == a.id
    assert stored["answers"]["anxiety"] == 2
    assert stored["reflection"] == "Slower than last time, nicer."
    assert stored["visibility"] == "private"
    assert stored["flags"] == dict.fromkeys(
        ["pain", "distress", "stop", "pressured", "unsafe"], False
    )
    assert "safety" not in stored
    mine = api.call("GET", "/api/v1/me/checkins", a).get_json()
    assert [c["id"] for c in mine] == [body["id"]]
    assert api.call("GET", f"/api/v1/checkins/{body['id']}", a).get_json() == {
        k: v for k, v in stored.items()
    }


def test_visibility_defaults_to_therapist(api: Api, setup) -> None:  # type: ignore[no-untyped-def]
    _, _, a, _, aid = setup
    assert check_in(api, a, aid)["visibility"] == "therapist"


def test_same_id_same_body_is_an_offline_retry(api: Api, app: Flask, setup) -> None:  # type: ignore[no-untyped-def]
    _, _, a, _, aid = setup
    body = checkin_body(aid, reflection="once")
    first = api.call("POST", "/api/v1/checkins", a, json=body)
    again = api.call("POST", "/api/v1/checkins", a, json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    assert count(app) == 1


def test_same_id_different_body_is_409(api: Api, app: Flask, setup) -> None:  # type: ignore[no-untyped-def]
    _, _, a, b, aid = setup
    body = checkin_body(aid)
    api.call("POST", "/api/v1/checkins", a, json=body)
    changed = {**body, "answers": {**body["answers"], "anxiety": 5}}
    r = api.call("POST", "/api/v1/checkins", a, json=changed)
    assert r.status_code == 409
    # the partner re-using the id is a conflict too, and learns nothing else
    assert api.call("POST", "/api/v1/checkins", b, json=body).status_code == 409
    assert count(app) == 1


# A retry is recognised by a keyed fingerprint of what the check-in says (never a plain
# digest of the request: see tests/api/test_privacy.py rule 7); these pin its meaning.
RETRY = {
    "answers": {**SF_CALM, "pain": 5, "reflection": "It was gentle."},
    "reflection": "We laughed a lot.",
}


def _posted(api: Api, who, aid: str, **extra):  # type: ignore[no-untyped-def]
    body = checkin_body(aid, **{**RETRY, **extra})
    assert api.call("POST", "/api/v1/checkins", who, json=body).status_code == 201
    return body


@pytest.mark.parametrize(
    "same",
    [
        pytest.param(lambda b: b, id="identical"),
        pytest.param(
            lambda b: {
                **b,
                "occurred_at": datetime.fromisoformat(b["occurred_at"].replace("Z", "+00:00"))
                .astimezone(timezone(timedelta(hours=2)))
                .isoformat(),
            },
            id="same-instant-other-offset",
        ),
        pytest.param(lambda b: {**b, "flags": {"pain": True}}, id="flag-its-answers-raise"),
        pytest.param(lambda b: {**b, "flags": {"stop": False}}, id="flag-sent-as-false"),
        pytest.param(lambda b: {**b, "visibility": "therapist"}, id="default-visibility-sent"),
    ],
)
def test_a_retry_saying_the_same_thing_differently_is_a_retry(  # type: ignore[no-untyped-def]
    api: Api, app: Flask, setup, same
) -> None:
    _, _, a, _, aid = setup
    body = _posted(api, a, aid)
    again = api.call("POST", "/api/v1/checkins", a, json=same(dict(body)))
    assert again.status_code == 200, again.get_json()
    assert again.get_json()["reflection"] == RETRY["reflection"]
    assert count(app) == 1


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda b: b.update(reflection="We laughed a little."), id="reflection"),
        pytest.param(lambda b: b.pop("reflection"), id="reflection-left-out"),
        pytest.param(
            lambda b: b.update(answers={**b["answers"], "reflection": "It was rough."}),
            id="text-answer",
        ),
        pytest.param(lambda b: b.update(answers={**b["answers"], "anxiety": 3}), id="rating"),
        pytest.param(lambda b: b.update(flags={"unsafe": True}), id="flag"),
        pytest.param(lambda b: b.update(visibility="private"), id="visibility"),
        pytest.param(
            lambda b: b.update(occurred_at=iso(datetime.now(UTC) - timedelta(hours=1))),
            id="occurred_at",
        ),
    ],
)
def test_a_retry_that_changes_anything_is_409(api: Api, app: Flask, setup, change) -> None:  # type: ignore[no-untyped-def]
    _, _, a, _, aid = setup
    body = _posted(api, a, aid)
    changed = {**body, "answers": dict(body["answers"])}
    change(changed)
    r = api.call("POST", "/api/v1/checkins", a, json=changed)
    assert r.status_code == 409, r.get_json()
    assert r.get_json()["code"] == "checkin_id_conflict"
    assert count(app) == 1


def test_retries_match_after_a_new_data_key_and_after_rotation(  # type: ignore[no-untyped-def]
    api: Api, app: Flask, setup, tmp_path, database_url: str
) -> None:
    """Fingerprints are keyed like the encryption: a fingerprint made with an older key
    still matches once a new key is put in front, `keys rotate` re-makes them all with
    the newest key, and then the old key can go."""
    _, _, a, _, aid = setup
    old_keys = ",".join(app.config["TANDEM_SETTINGS"].data_keys)
    new_key = Fernet.generate_key().decode()
    secret = app.config["SECRET_KEY"]

    def fingerprints() -> dict[str, str]:
        with app.app_context():
            return dict(db.session.execute(select(CheckIn.id, CheckIn.body_hash)).all())

    def retried(api: Api, body) -> tuple[int, int]:  # type: ignore[no-untyped-def]
        same = api.call("POST", "/api/v1/checkins", a, json=body).status_code
        changed = {**body, "reflection": "Something else."}
        return same, api.call("POST", "/api/v1/checkins", a, json=changed).status_code

    before = _posted(api, a, aid)
    both = make_app(
        tmp_path, database_url, TANDEM_DATA_KEYS=f"{new_key},{old_keys}", TANDEM_SECRET_KEY=secret
    )
    both_api = Api(both.test_client())
    assert retried(both_api, before) == (200, 409)
    after = _posted(both_api, a, aid)  # fingerprinted with the new key
    assert retried(both_api, after) == (200, 409)
    assert retried(api, after) == (409, 409)  # the old key alone cannot check it
    made = fingerprints()

    result = both.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "checkins.body_hash" in result.output
    rotated = fingerprints()
    assert rotated[before["id"]] != made[before["id"]]  # re-made with the new key
    assert rotated[after["id"]] == made[after["id"]]  # already the newest key's

    only_new = make_app(tmp_path, database_url, TANDEM_DATA_KEYS=new_key, TANDEM_SECRET_KEY=secret)
    only_new_api = Api(only_new.test_client())
    assert retried(only_new_api, before) == (200, 409)
    assert retried(only_new_api, after) == (200, 409)
    assert count(app) == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b["answers"].update(anxiety=11), "answers.anxiety"),
        (lambda b: b["answers"].update(anxiety="2"), "answers.anxiety"),
        (lambda b: b["answers"].update(anxiety=True), "answers.anxiety"),
        (lambda b: b["answers"].pop("pain"), "answers.pain"),
        (lambda b: b["answers"].update(mood=3), "answers.mood"),
        (lambda b: b["answers"].update(initiated_by="The cat"), "answers.initiated_by"),
        (lambda b: b.update(exercise="sf-3-mutual-touch"), "exercise"),
        (lambda b: b.update(exercise="no-such-exercise"), "exercise"),
        (
            lambda b: b.update(occurred_at=iso(datetime.now(UTC) + timedelta(minutes=10))),
            "occurred_at",
        ),
        (
            lambda b: b.update(occurred_at=iso(datetime.now(UTC) - timedelta(days=60))),
            "occurred_at",
        ),
        (lambda b: b.update(occurred_at="2026-01-01T10:00:00"), "occurred_at"),
        (lambda b: b.update(occurred_at="yesterday"), "occurred_at"),
        (lambda b: b.update(visibility="everyone"), "visibility"),
        (lambda b: b.update(flags={"bored": True}), "flags.bored"),
        (lambda b: b.update(flags={"pain": "yes"}), "flags.pain"),
        (lambda b: b.update(id="not-a-uuid"), "id"),
        (lambda b: b.update(assignment_id=str(uuid.uuid4())), "assignment_id"),
        (lambda b: b.update(reflection="x" * 10_001), "reflection"),
        (lambda b: b.update(extra=1), "extra"),
    ],
)
def test_invalid_check_ins_are_422_naming_the_field(  # type: ignore[no-untyped-def]
    api: Api, app: Flask, setup, change, field: str
) -> None:
    _, _, a, _, aid = setup
    body = checkin_body(aid)
    change(body)
    r = api.call("POST", "/api/v1/checkins", a, json=body)
    assert r.status_code == 422, r.get_json()
    assert field in r.get_json()["errors"], r.get_json()
    assert count(app) == 0


def test_a_few_minutes_of_clock_skew_is_fine(api: Api, setup) -> None:  # type: ignore[no-untyped-def]
    _, _, a, _, aid = setup
    check_in(api, a, aid, occurred_at=iso(datetime.now(UTC) + timedelta(minutes=4)))


def test_therapists_do_not_write_check_ins(api: Api, setup) -> None:  # type: ignore[no-untyped-def]
    t, _, _, _, aid = setup
    assert api.call("POST", "/api/v1/checkins", t, json=checkin_body(aid)).status_code == 403


def assign_own_program(
    api: Api, therapist: Actor, couple_id: str, slug: str, exercises: list[str]
) -> str:
    """Create a program of one stage per exercise (in that order), assign it, return the
    assignment's id."""
    program = {
        "slug": slug,
        "title": slug.title(),
        "stages": [
            {"title": f"Stage {n}", "exercises": [{"exercise": exercise, "per_week": 1}]}
            for n, exercise in enumerate(exercises, 1)
        ],
    }
    assert api.call("POST", "/api/v1/programs", therapist, json=program).status_code == 201
    return str(assign(api, therapist, couple_id, slug)["id"])


def test_a_completed_program_takes_no_check_ins(api: Api) -> None:
    t = api.therapist()
    couple, a, _ = api.couple_with_partners(t)
    aid = assign_own_program(api, t, couple["id"], "one", ["daily-appreciations"])
    api.call("POST", f"/api/v1/assignments/{aid}/complete", t)
    r = api.call(
        "POST", "/api/v1/checkins", a, json=checkin_body(aid, exercise="daily-appreciations")
    )
    assert r.status_code == 409
    homework = api.call("GET", "/api/v1/me/homework", a).get_json()
    assert homework["status"] == "completed"
    assert homework["items"] == []


def test_a_retry_is_answered_after_the_stage_moved_on_and_the_program_completed(
    api: Api, app: Flask
) -> None:
    """A phone offline for days retries a check-in the server already has: the answer
    is the stored check-in (200), even though the same body would now be refused."""
    t = api.therapist()
    couple, a, _ = api.couple_with_partners(t)
    aid = assign_own_program(
        api, t, couple["id"], "two", ["daily-appreciations", "sf-1-nongenital-touch"]
    )
    body = checkin_body(aid, exercise="daily-appreciations")
    first = api.call("POST", "/api/v1/checkins", a, json=body)
    assert first.status_code == 201, first.get_json()
    for step in ("advance", "complete"):
        r = api.call("POST", f"/api/v1/assignments/{aid}/{step}", t)
        assert r.status_code == 200, r.get_json()
        again = api.call("POST", "/api/v1/checkins", a, json=body)
        assert again.status_code == 200, (step, again.get_json())
        assert again.get_json() == first.get_json()
    # A new check-in is refused now; the same id with another body is a conflict.
    fresh = api.call("POST", "/api/v1/checkins", a, json={**body, "id": str(uuid.uuid4())})
    assert (fresh.status_code, fresh.get_json()["code"]) == (409, "assignment_completed")
    changed = api.call("POST", "/api/v1/checkins", a, json={**body, "reflection": "other"})
    assert (changed.status_code, changed.get_json()["code"]) == (409, "checkin_id_conflict")
    assert count(app) == 1


def test_homework_counts_own_sessions_and_what_is_due(api: Api, setup) -> None:  # type: ignore[no-untyped-def]
    _, _, a, b, aid = setup
    before = api.call("GET", "/api/v1/me/homework", a).get_json()
    assert before["assignment_id"] == aid
    assert before["status"] == "active"
    assert before["stage"]["index"] == 1 and before["stage"]["guidance"]
    assert before["week"]["start"] <= before["today"] <= before["week"]["end"]
    items = {i["exercise"]: i for i in before["items"]}
    sf = items["sf-1-nongenital-touch"]
    assert (sf["per_week"], sf["done_this_week"], sf["joint"], sf["kind"]) == (
        3,
        0,
        True,
        "sensate_focus",
    )
    assert sf["due_today"] is True
    check_in(api, a, aid)
    after = {
        i["exercise"]: i for i in api.call("GET", "/api/v1/me/homework", a).get_json()["items"]
    }
    assert after["sf-1-nongenital-touch"]["done_this_week"] == 1
    # a joint exercise: the partner's homework counts only their own check-ins
    partner = {
        i["exercise"]: i for i in api.call("GET", "/api/v1/me/homework", b).get_json()["items"]
    }
    assert partner["sf-1-nongenital-touch"]["done_this_week"] == 0


def test_homework_without_an_assignment(api: Api) -> None:
    _, a, _ = api.couple_with_partners(api.therapist())
    body = api.call("GET", "/api/v1/me/homework", a).get_json()
    assert body["assignment_id"] is None
    assert body["items"] == []
    assert body["week"]["start"] and body["week"]["end"]


def test_a_scheduled_program_shows_its_start(api: Api) -> None:
    t = api.therapist()
    couple, a, _ = api.couple_with_partners(t)
    start = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    assign(api, t, couple["id"], start_date=start)
    body = api.call("GET", "/api/v1/me/homework", a).get_json()
    assert body["status"] == "scheduled"
    assert start in body["message"]


def test_the_homework_week_is_the_partners_local_week(api: Api) -> None:
    """Partners in different zones each get their own Monday-to-Sunday."""
    t = api.therapist()
    couple, a, b = api.couple_with_partners(t, timezones=("Pacific/Kiritimati", "Pacific/Niue"))
    assign(api, t, couple["id"])
    wa = api.call("GET", "/api/v1/me/homework", a).get_json()
    wb = api.call("GET", "/api/v1/me/homework", b).get_json()
    # UTC+14 and UTC-11: always a day apart
    assert wa["today"] != wb["today"]


def test_check_ins_for_a_joint_exercise_are_one_per_partner(api: Api, app: Flask, setup) -> None:  # type: ignore[no-untyped-def]
    _, _, a, b, aid = setup
    check_in(api, a, aid)
    check_in(api, b, aid)
    assert count(app) == 2
    for partner in (a, b):
        mine = api.call("GET", "/api/v1/me/checkins", partner).get_json()
        assert [c["author_id"] for c in mine] == [partner.id]


def test_unflagged_answers_raise_no_alert(api: Api, setup) -> None:  # type: ignore[no-untyped-def]
    t, _, a, _, aid = setup
    check_in(api, a, aid, answers={**SF_CALM, "pain": 3})
    assert api.call("GET", "/api/v1/alerts", t).get_json() == []
