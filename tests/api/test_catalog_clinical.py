"""Issue 14 over HTTP: therapist-only guidance never reaches a partner, "ready to move
on" never reaches the other partner, stopping is information and not an alarm, a
declined session counts against no one, and a running assignment keeps its version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_migrate import upgrade

from exercises.catalog import load_catalog
from server.extensions import db
from server.services.catalog import seed_catalog
from tests.conftest import make_app
from tests.exercises.published import published_v1_catalog
from tests.factories import SF_CALM, Actor, Api, assign, check_in, checkin_body

# Names cited only in therapist-only guidance (no partner-facing source cites them),
# and the field itself.
NOTES_WORDS = ("Stith", "Montorsi")
NOTES_FIELD = "therapist_notes"


def _days_ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).date().isoformat()


@pytest.fixture
def couple(api: Api):  # type: ignore[no-untyped-def]
    t = api.therapist()
    c, a, b = api.couple_with_partners(t)
    aid = assign(api, t, c["id"], start_date=_days_ago(7))["id"]
    return t, c, a, b, aid


def _partner_responses(api: Api, partner: Actor, aid: str) -> dict[str, str]:
    """Every partner route that could carry catalog content, by path → response text."""
    paths = [
        "/api/v1/exercises?page_size=100",
        "/api/v1/programs?page_size=100",
        "/api/v1/me/homework",
        f"/api/v1/assignments/{aid}",
        "/api/v1/me/export",
    ]
    paths += [f"/api/v1/exercises/{slug}" for slug in load_catalog().exercises] + [
        f"/api/v1/programs/{slug}" for slug in load_catalog().programs
    ]
    out = {}
    for path in paths:
        r = api.call("GET", path, partner)
        assert r.status_code == 200, (path, r.get_json())
        out[path] = r.get_data(as_text=True)
    return out


def test_therapist_notes_reach_the_therapist_and_no_partner_route(  # type: ignore[no-untyped-def]
    api: Api, couple
) -> None:
    t, _, a, b, aid = couple
    # The therapist gets them on the catalog routes and in the assignment...
    exercise = api.call("GET", "/api/v1/exercises/sf-1-nongenital-touch", t).get_json()
    assert all(word in exercise[NOTES_FIELD] for word in NOTES_WORDS)
    listed = api.call("GET", "/api/v1/exercises?page_size=100", t).get_json()
    assert any(NOTES_FIELD in e for e in listed)
    program = api.call("GET", "/api/v1/programs/sensate-focus-course", t).get_json()
    assert all(word in program[NOTES_FIELD] for word in NOTES_WORDS)
    assert any(NOTES_FIELD in stage for stage in program["stages"])
    assert any(NOTES_FIELD in p for p in api.call("GET", "/api/v1/programs", t).get_json())
    assignment = api.call("GET", f"/api/v1/assignments/{aid}", t).get_json()
    assert "Stith" in assignment["program"][NOTES_FIELD]
    # ...and no partner route carries them, in any field.
    for partner in (a, b):
        for path, text in _partner_responses(api, partner, aid).items():
            assert NOTES_FIELD not in text, path
            assert not any(word in text for word in NOTES_WORDS), path


def test_a_custom_programs_notes_stay_with_its_therapist(api: Api) -> None:
    t = api.therapist()
    c, a, _ = api.couple_with_partners(t)
    stage = {
        "title": "Touch",
        "guidance": "Gently.",
        "exercises": [{"exercise": "sf-1-nongenital-touch", "per_week": 2}],
        "therapist_notes": "Stage note: ask Alex alone about the weekend.",
    }
    body = {"slug": "slow", "title": "Slow", "stages": [stage], "therapist_notes": "Program note"}
    created = api.call("POST", "/api/v1/programs", t, json=body)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()[NOTES_FIELD] == "Program note"
    aid = assign(api, t, c["id"], "slow")["id"]
    mine = api.call("GET", f"/api/v1/assignments/{aid}", t).get_json()
    assert mine["program"]["stages"][0][NOTES_FIELD].startswith("Stage note")
    for path in (f"/api/v1/assignments/{aid}", "/api/v1/me/homework", "/api/v1/me/export"):
        text = api.call("GET", path, a).get_data(as_text=True)
        assert "Program note" not in text and "Stage note" not in text, path
    blank = {**body, "slug": "blank", "therapist_notes": "  "}
    r = api.call("POST", "/api/v1/programs", t, json=blank)
    assert r.status_code == 422 and NOTES_FIELD in r.get_json()["errors"]


def test_stopping_alone_raises_no_alert_and_no_hold(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    t, _, a, b, aid = couple
    info = {"stopped_early": True, "self_pressure": True, "genital_discomfort": True, "pain": 2}
    info["ongoing_pain"] = 9
    created = check_in(api, a, aid, answers={**SF_CALM, **info})
    assert not any(created["flags"].values())
    assert api.call("GET", "/api/v1/alerts", t).get_json() == []
    for partner in (a, b):
        homework = api.call("GET", "/api/v1/me/homework", partner).get_json()
        assert homework["status"] == "active"
        assert not any(item["paused"] for item in homework["items"])
    therapist_view = api.call("GET", f"/api/v1/checkins/{created['id']}", t).get_json()
    # Information for the therapist: mild genital pain, stopping, self-pressure.
    assert {k: therapist_view["answers"][k] for k in info} == info
    assert api.call("GET", f"/api/v1/assignments/{aid}", t).get_json()["on_hold"] is False


@pytest.mark.parametrize(
    ("answers", "flag"),
    [({"stopped": True}, "stop"), ({"pressured": True}, "pressured"), ({"pain": 4}, "pain")],
)
def test_the_safety_stop_pressure_and_pain_still_alert_and_hold(  # type: ignore[no-untyped-def]
    api: Api, couple, answers: dict[str, Any], flag: str
) -> None:
    t, _, a, b, aid = couple
    created = check_in(api, a, aid, answers={**SF_CALM, "stopped_early": True, **answers})
    # The in-app guidance shown where a flag is raised names a pelvic-floor physiotherapist.
    assert "pelvic-floor physiotherapist" in created["safety"]["pain"]
    alerts = api.call("GET", "/api/v1/alerts", t).get_json()
    assert [set(alert["flags"]) for alert in alerts] == [{flag}]
    for partner in (a, b):
        assert api.call("GET", "/api/v1/me/homework", partner).get_json()["status"] == "paused"


# Answers that inform the therapist's decisions are the therapist's alone whatever the
# visibility (privacy rule 4): readiness, and pain signals below the alert line.
THERAPIST_ONLY = {
    "ready_to_move_on": True,
    "ongoing_pain": 3,
    "genital_discomfort": True,
}


def test_ready_to_move_on_never_reaches_the_other_partner(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    t, _, a, b, aid = couple
    shared = check_in(api, a, aid, visibility="couple", answers={**SF_CALM, **THERAPIST_ONLY})
    seen = api.call("GET", f"/api/v1/checkins/{shared['id']}", b)
    assert seen.status_code == 200
    assert seen.get_json()["answers"]["anxiety"] == SF_CALM["anxiety"]  # shared: readable
    assert not THERAPIST_ONLY.keys() & seen.get_json()["answers"].keys()
    body = api.call("GET", "/api/v1/me/shared-checkins", b).get_json()
    assert [c["id"] for c in body] == [shared["id"]]
    assert not THERAPIST_ONLY.keys() & body[0]["answers"].keys()
    # The author and the therapist see them.
    own = api.call("GET", f"/api/v1/checkins/{shared['id']}", a).get_json()
    therapist = api.call("GET", f"/api/v1/checkins/{shared['id']}", t).get_json()
    for key, value in THERAPIST_ONLY.items():
        assert own["answers"][key] == value
        assert therapist["answers"][key] == value


def test_a_declined_session_is_recorded_without_counting_against_them(  # type: ignore[no-untyped-def]
    api: Api, couple
) -> None:
    t, c, a, _, aid = couple
    before = api.call("GET", "/api/v1/me/homework", a).get_json()
    item = next(i for i in before["items"] if i["exercise"] == "sf-1-nongenital-touch")
    r = api.call(
        "POST", "/api/v1/checkins", a, json=checkin_body(aid, answers={"session_declined": True})
    )
    assert r.status_code == 201, r.get_json()
    assert not any(r.get_json()["flags"].values())
    after = api.call("GET", "/api/v1/me/homework", a).get_json()
    declined = next(i for i in after["items"] if i["exercise"] == "sf-1-nongenital-touch")
    assert declined["done_this_week"] == item["done_this_week"]  # not done...
    assert declined["remaining"] == item["remaining"] - 1  # ...and not owed either
    assert api.call("GET", "/api/v1/alerts", t).get_json() == []
    # The therapist sees it as declined, not as done, and the week's adherence is whole.
    progress = api.call("GET", f"/api/v1/couples/{c['id']}/progress", t).get_json()
    mine = next(p for p in progress["partners"] if p["id"] == a.id)
    week = mine["weeks"][-1]
    sf = next(i for i in week["items"] if i["exercise"] == "sf-1-nongenital-touch")
    assert (sf["done"], sf["declined"]) == (0, 1)


# --- a running assignment keeps the version it started with -------------------------------


@pytest.fixture
def upgraded_app(tmp_path: Path) -> Flask:
    """An instance of its own whose database first held only the published version 1."""
    app = make_app(tmp_path / "instance", f"sqlite:///{tmp_path / 'v1.sqlite3'}")
    with app.app_context():
        upgrade()
        lines = list(seed_catalog(published_v1_catalog()))
        db.session.commit()
        assert "new versions stored" in lines[-1]
    return app


def test_a_running_assignment_keeps_version_1_after_the_upgrade(upgraded_app: Flask) -> None:
    api = Api(upgraded_app.test_client())
    t = api.therapist()
    c, a, b = api.couple_with_partners(t)
    old = assign(api, t, c["id"], start_date=_days_ago(7))
    assert old["program"]["version"] == 1
    # The operator upgrades: the new versions are stored beside the old, none changed.
    with upgraded_app.app_context():
        lines = list(seed_catalog(load_catalog()))
        db.session.commit()
    assert not [line for line in lines if line.startswith("warning")], lines
    # The running assignment still shows what it started with...
    view = api.call("GET", f"/api/v1/assignments/{old['id']}", t).get_json()
    assert view["program"]["version"] == 1
    assert NOTES_FIELD not in view["program"]
    homework = api.call("GET", "/api/v1/me/homework", a).get_json()
    titles = {i["exercise"]: i["title"] for i in homework["items"]}
    assert titles["sf-1-nongenital-touch"] == "Sensate focus 1: touch for your own interest"
    # Its form stays readable, for the app to ask exactly that version's questions.
    frozen = api.call("GET", "/api/v1/exercises/sf-1-nongenital-touch?version=1", a)
    assert frozen.status_code == 200
    assert frozen.get_json()["title"] == titles["sf-1-nongenital-touch"]
    assert "stopped_early" not in {q["key"] for q in frozen.get_json()["form"]}
    for bad, status in (("99", 404), ("0", 422), ("one", 422)):
        r = api.call("GET", f"/api/v1/exercises/sf-1-nongenital-touch?version={bad}", a)
        assert r.status_code == status, (bad, r.get_json())
        assert r.headers["Content-Type"].startswith("application/problem+json")
    # ...and its version-1 form: the new questions are not part of it.
    r = api.call(
        "POST",
        "/api/v1/checkins",
        a,
        json=checkin_body(old["id"], answers={**SF_CALM, "stopped_early": True}),
    )
    assert r.status_code == 422
    assert "answers.stopped_early" in r.get_json()["errors"]
    # "Ready to move on" stays the therapist's even in a version-1 form.
    shared = check_in(api, a, old["id"], visibility="couple")
    seen = api.call("GET", f"/api/v1/checkins/{shared['id']}", b).get_json()
    assert "ready_to_move_on" not in seen["answers"]
    # A new assignment gets the new version.
    c2, _, _ = api.couple_with_partners(t)
    new = assign(api, t, c2["id"])
    assert new["program"]["version"] == 2
    sf1 = api.call("GET", "/api/v1/exercises/sf-1-nongenital-touch", t).get_json()
    assert sf1["version"] == 2 and sf1["title"].startswith("Step 1")
