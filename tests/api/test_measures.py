"""Validated questionnaires through the API: scheduling, answering (idempotent, scored on
the server, only when due), privacy from the other partner, the audit trail, and the
risk answer of PHQ-9 item 9 (tested like the safety flags)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from server.extensions import db
from server.models import AuditEvent, MeasureSchedule, Reminder, User
from server.services.measures import couple_measure_series, due_measures
from server.services.reminders import MEASURE_TEXT, plan_all
from tests.factories import Actor, Api, assign

PHQ9_CALM = {f"q{n}": 0 for n in range(1, 10)}
PHQ9_MILD = {"q1": 1, "q2": 1, "q3": 2, "q4": 1, "q5": 0, "q6": 1, "q7": 0, "q8": 0, "q9": 0}
CSI4 = {"q1": 4, "q2": 4, "q3": 3, "q4": 4}  # 15: above the distress cut-off


@pytest.fixture
def couple(api: Api):  # type: ignore[no-untyped-def]
    t = api.therapist()
    c, a, b = api.couple_with_partners(t, timezones=("Europe/Berlin", "America/New_York"))
    return t, c, a, b


def schedule(api: Api, t: Actor, couple_id: str, **every: int) -> Any:
    body = {"schedule": [{"measure": m, "every_weeks": w} for m, w in every.items()]}
    return api.call("PUT", f"/api/v1/couples/{couple_id}/measures", t, json=body)


def answer(
    api: Api,
    who: Actor,
    measure: str,
    answers: dict[str, Any],
    rid: str | None = None,
    **extra: Any,
) -> Any:
    body = {"id": rid or str(uuid.uuid4()), "measure": measure, "answers": answers, **extra}
    return api.call("POST", "/api/v1/measure-responses", who, json=body)


def test_the_catalog_lists_the_three_measures(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    t, _, a, _ = couple
    for who in (t, a):
        r = api.call("GET", "/api/v1/measures", who)
        assert r.status_code == 200
        slugs = {m["slug"]: m for m in r.get_json()}
    assert set(slugs) == {"csi-4", "phq-9", "gad-7"}
    phq = slugs["phq-9"]
    assert phq["scoring"]["min"] == 0 and phq["scoring"]["max"] == 27
    assert phq["recall"] == "the last 2 weeks"
    assert len(phq["form"]) == 10 and phq["form"][0]["options"][3]["label"] == "Nearly every day"


def test_scheduling_is_the_couples_therapists_only(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    t, c, a, _ = couple
    other = api.therapist(name="Dr. Other")
    assert schedule(api, t, c["id"], **{"phq-9": 1}).status_code == 200
    assert schedule(api, other, c["id"], **{"phq-9": 1}).status_code == 404
    assert schedule(api, a, c["id"], **{"phq-9": 1}).status_code == 403
    assert api.call("GET", f"/api/v1/couples/{c['id']}/measures", other).status_code == 404
    r = schedule(api, t, c["id"], **{"phq-9": 3})
    assert r.status_code == 422 and "every_weeks" in str(r.get_json()["errors"])
    r = schedule(api, t, c["id"], **{"fsfi": 1})
    assert r.status_code == 422 and "schedule.0.measure" in r.get_json()["errors"]


def test_each_partner_is_asked_from_now_and_sees_only_their_own_due(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    t, c, a, b = couple
    r = schedule(api, t, c["id"], **{"phq-9": 1, "csi-4": 2})
    assert r.status_code == 200
    assert {(s["measure"], s["every_weeks"]) for s in r.get_json()["schedule"]} == {
        ("phq-9", 1),
        ("csi-4", 2),
    }
    for who in (a, b):
        due = api.call("GET", "/api/v1/me/measures", who).get_json()
        assert sorted(d["measure"] for d in due) == ["csi-4", "phq-9"]
        assert all(d["due_since"].endswith("Z") for d in due)
        homework = api.call("GET", "/api/v1/me/homework", who).get_json()
        assert sorted(d["measure"] for d in homework["measures_due"]) == ["csi-4", "phq-9"]
    assert answer(api, a, "phq-9", PHQ9_MILD).status_code == 201
    # a's answer changes a's list, and nothing of b's
    assert [d["measure"] for d in api.call("GET", "/api/v1/me/measures", a).get_json()] == ["csi-4"]
    assert len(api.call("GET", "/api/v1/me/measures", b).get_json()) == 2


def test_scored_on_the_server_whatever_the_client_says(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    t, c, a, _ = couple
    schedule(api, t, c["id"], **{"phq-9": 1, "csi-4": 1})
    r = answer(api, a, "phq-9", PHQ9_MILD, score=0)
    assert r.status_code == 201
    body = r.get_json()
    assert (body["score"], body["band"]) == (6, "mild")
    assert body["completed_at"].endswith("Z") and body["measure_version"] == 1
    r = answer(api, a, "csi-4", CSI4, score=21)
    assert (r.get_json()["score"], r.get_json()["band"]) == (15, "no distress")
    own = api.call("GET", "/api/v1/me/measure-responses", a).get_json()
    assert {x["measure"]: x["score"] for x in own} == {"phq-9": 6, "csi-4": 15}


def test_idempotent_by_id_like_check_ins(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    t, c, a, b = couple
    schedule(api, t, c["id"], **{"phq-9": 1})
    rid = str(uuid.uuid4())
    first = answer(api, a, "phq-9", PHQ9_MILD, rid)
    assert first.status_code == 201
    again = answer(api, a, "phq-9", PHQ9_MILD, rid)
    assert again.status_code == 200 and again.get_json() == first.get_json()
    different = answer(api, a, "phq-9", {**PHQ9_MILD, "q1": 3}, rid)
    assert different.status_code == 409
    assert different.get_json()["code"] == "measure_id_conflict"
    # the other partner cannot take (or learn about) that id either: same 409 as any clash
    assert answer(api, b, "phq-9", PHQ9_MILD, rid).status_code == 409
    assert len(api.call("GET", "/api/v1/me/measure-responses", a).get_json()) == 1


def test_each_bad_answer_is_named(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    t, c, a, _ = couple
    schedule(api, t, c["id"], **{"csi-4": 1})
    r = answer(api, a, "csi-4", {"q1": 7, "q2": "3", "q3": True, "q9": 1})
    assert r.status_code == 422
    assert set(r.get_json()["errors"]) == {
        "answers.q1",
        "answers.q2",
        "answers.q3",
        "answers.q4",
        "answers.q9",
    }
    r = answer(api, a, "nope", {})
    assert r.status_code == 422 and "measure" in r.get_json()["errors"]


def test_not_due_is_409(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    t, c, a, _ = couple
    r = answer(api, a, "phq-9", PHQ9_CALM)
    assert r.status_code == 409 and r.get_json()["code"] == "measure_not_due"
    schedule(api, t, c["id"], **{"phq-9": 2})
    assert answer(api, a, "phq-9", PHQ9_CALM).status_code == 201
    r = answer(api, a, "phq-9", PHQ9_CALM)  # a second one in the same period
    assert r.status_code == 409 and r.get_json()["code"] == "measure_not_due"
    # unscheduled: not due any more
    schedule(api, t, c["id"])
    assert api.call("GET", "/api/v1/me/measures", a).get_json() == []


def test_the_therapist_sees_both_series_and_what_is_overdue(  # type: ignore[no-untyped-def]
    api: Api, app: Flask, couple
) -> None:
    t, c, a, b = couple
    schedule(api, t, c["id"], **{"phq-9": 1})
    answer(api, a, "phq-9", PHQ9_MILD)
    r = api.call("GET", f"/api/v1/couples/{c['id']}/measures", t)
    assert r.status_code == 200
    series = {(s["partner_id"], s["measure"]): s for s in r.get_json()["series"]}
    mine, theirs = series[(a.id, "phq-9")], series[(b.id, "phq-9")]
    assert [x["score"] for x in mine["responses"]] == [6] and mine["due_since"] is None
    assert theirs["responses"] == [] and theirs["due_since"] and theirs["overdue"] is False
    assert mine["direction"] == "higher_is_worse" and mine["reliable_change"] == 5
    assert [band["min"] for band in mine["bands"]] == [0, 5, 10, 15, 20]
    with app.app_context():
        # four days on, b has still not answered: overdue (for the therapist only)
        later = datetime.now(UTC) + timedelta(days=4)
        s = {
            (x["partner_id"], x["measure"]): x
            for x in couple_measure_series(couple_id=c["id"], now=later)
        }
        assert s[(b.id, "phq-9")]["overdue"] is True
        partner = db.session.get(User, b.id)
        assert set(due_measures(partner=partner, now=later)[0]) == {
            "measure",
            "title",
            "due_since",
        }


def test_every_therapist_read_is_audited(api: Api, app: Flask, couple) -> None:  # type: ignore[no-untyped-def]
    t, c, a, _ = couple
    schedule(api, t, c["id"], **{"phq-9": 1})
    answer(api, a, "phq-9", PHQ9_MILD)
    api.call("GET", f"/api/v1/couples/{c['id']}/measures", t)
    with app.app_context():
        reads = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "measures.read")
        ).all()
        # the PUT's answer shows the series too: that read is audited as well
        assert [(e.actor_id, e.couple_id) for e in reads] == [(t.id, c["id"])] * 2
        assert reads[-1].detail == {"responses": 1}


def test_dst_moves_the_utc_instant_never_the_local_day(  # type: ignore[no-untyped-def]
    api: Api, app: Flask, couple
) -> None:
    t, c, a, b = couple
    schedule(api, t, c["id"], **{"gad-7": 1})
    with app.app_context():
        # started on Monday 2026-03-23, 10:00 in Berlin; Berlin's clocks go forward on
        # the 29th, New York's went forward on the 8th
        db.session.execute(
            update(MeasureSchedule).values(started_at=datetime(2026, 3, 23, 9, 0, tzinfo=UTC))
        )
        db.session.commit()
        alex, sam = db.session.get(User, a.id), db.session.get(User, b.id)
        at = datetime(2026, 3, 29, 22, 0, tzinfo=UTC)  # Monday 00:00 in Berlin (CEST)
        assert due_measures(partner=alex, now=at)[0]["due_since"] == at
        # New York: still Sunday evening, so the first week's question is what is due
        assert due_measures(partner=sam, now=at)[0]["due_since"] == datetime(
            2026, 3, 23, 9, 0, tzinfo=UTC
        )
        assert due_measures(partner=sam, now=datetime(2026, 3, 30, 4, 0, tzinfo=UTC))[0][
            "due_since"
        ] == datetime(2026, 3, 30, 4, 0, tzinfo=UTC)  # midnight EDT


# --- privacy --------------------------------------------------------------------------

PARTNER_ROUTES = [
    "/api/v1/me",
    "/api/v1/me/homework",
    "/api/v1/me/measures",
    "/api/v1/me/measure-responses",
    "/api/v1/me/export",
    "/api/v1/me/shared-checkins",
    "/api/v1/me/checkins",
    "/api/v1/me/reminders",
    "/api/v1/me/reminder-settings",
    "/api/v1/alerts",
    "/api/v1/couples/{couple}/measures",
]
VOLATILE = {"exported_at", "today", "last_used_at", "expires_at", "updated_at"}


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _partner_view(api: Api, who: Actor, couple_id: str) -> dict[str, Any]:
    seen = {}
    for route in PARTNER_ROUTES:
        r = api.call("GET", route.format(couple=couple_id), who)
        seen[route] = (r.status_code, _stable(r.get_json()), r.headers.get("X-Pagination"))
    return seen


@pytest.mark.parametrize("answers", [PHQ9_MILD, {**PHQ9_MILD, "q9": 2}], ids=["calm", "risk"])
def test_the_other_partner_learns_nothing_not_even_that_it_was_done(  # type: ignore[no-untyped-def]
    api: Api, app: Flask, couple, answers
) -> None:
    t, c, a, b = couple
    assign(api, t, c["id"], start_date=(datetime.now(UTC) - timedelta(days=3)).date().isoformat())
    schedule(api, t, c["id"], **{"phq-9": 1})
    with app.app_context():
        plan_all(now=datetime.now(UTC))
    before = _partner_view(api, b, c["id"])
    author_before = _partner_view(api, a, c["id"])
    r = answer(api, a, "phq-9", answers)
    assert r.status_code == 201
    with app.app_context():
        plan_all(now=datetime.now(UTC))
    assert _partner_view(api, b, c["id"]) == before
    # what the author sees changed, so the comparison above could have failed
    author_after = _partner_view(api, a, c["id"])
    changed = {k for k in author_before if author_before[k] != author_after[k]}
    assert {"/api/v1/me/measures", "/api/v1/me/measure-responses"} <= changed
    export = api.call("GET", "/api/v1/me/export", a).get_json()
    assert [x["id"] for x in export["measure_responses"]] == [r.get_json()["id"]]
    assert api.call("GET", "/api/v1/me/export", b).get_json()["measure_responses"] == []


# --- reminders ------------------------------------------------------------------------


def test_a_due_measure_is_one_discreet_reminder_never_a_nag(  # type: ignore[no-untyped-def]
    api: Api, app: Flask, couple
) -> None:
    t, c, a, b = couple
    schedule(api, t, c["id"], **{"phq-9": 1, "csi-4": 1})
    with app.app_context():
        now = datetime.now(UTC)
        for hours in range(0, 72, 6):  # the worker plans again and again: still one each
            plan_all(now=now + timedelta(hours=hours))
        rows = db.session.scalars(select(Reminder).where(Reminder.kind == "measure")).all()
        assert sorted((r.user_id, r.key.split(":")[2]) for r in rows) == sorted(
            (p.id, m) for p in (a, b) for m in ("csi-4", "phq-9")
        )
        for row in rows:
            assert (row.payload["title"], row.payload["body"]) == MEASURE_TEXT
            assert row.payload["screen"] == "measures"
            local = row.send_at.astimezone(
                __import__("zoneinfo").ZoneInfo(db.session.get(User, row.user_id).timezone)
            )
            assert local.strftime("%H:%M") == "20:00"  # their reminder time, not midnight
    # answering cancels that period's reminder (if not sent yet)
    answer(api, a, "phq-9", PHQ9_CALM)
    with app.app_context():
        statuses = {
            (r.user_id, r.key.split(":")[2]): r.status
            for r in db.session.scalars(select(Reminder).where(Reminder.kind == "measure"))
        }
    assert statuses[(a.id, "phq-9")] == "cancelled"
    assert statuses[(a.id, "csi-4")] == statuses[(b.id, "phq-9")] == "pending"


# --- risk: PHQ-9 item 9 ---------------------------------------------------------------


@pytest.mark.parametrize("q9", [1, 2, 3])
def test_item_9_above_0_raises_an_urgent_alert_and_a_push_at_once(  # type: ignore[no-untyped-def]
    api: Api, app: Flask, couple, q9: int
) -> None:
    t, c, a, _ = couple
    schedule(api, t, c["id"], **{"phq-9": 1})
    r = answer(api, a, "phq-9", {**PHQ9_CALM, "q9": q9})
    assert r.status_code == 201
    body = r.get_json()
    assert body["flags"] == ["risk"] and body["score"] == q9
    assert "not an emergency service" in body["guidance"]["emergency"]
    assert "112" in body["guidance"]["emergency"]
    alerts = api.call("GET", "/api/v1/alerts", t).get_json()
    assert len(alerts) == 1
    assert alerts[0]["kind"] == "risk" and alerts[0]["partner_id"] == a.id
    assert alerts[0]["flags"] == ["phq-9:q9"]
    with app.app_context():
        pushes = db.session.scalars(
            select(Reminder).where(Reminder.kind == "alert", Reminder.user_id == t.id)
        ).all()
        assert len(pushes) == 1 and pushes[0].send_at <= datetime.now(UTC)
        assert pushes[0].key == f"alert:{alerts[0]['id']}"
    series = api.call("GET", f"/api/v1/couples/{c['id']}/measures", t).get_json()["series"]
    assert [s["responses"][0]["flags"] for s in series if s["partner_id"] == a.id] == [["risk"]]


def test_item_9_at_0_raises_nothing(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    t, c, a, _ = couple
    schedule(api, t, c["id"], **{"phq-9": 1})
    body = answer(api, a, "phq-9", {f"q{n}": 3 for n in range(1, 9)} | {"q9": 0}).get_json()
    assert body["score"] == 24 and body["flags"] == [] and "guidance" not in body
    assert api.call("GET", "/api/v1/alerts", t).get_json() == []


def test_a_risk_answer_does_not_hold_the_joint_program(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    """By design (docs/api-notes.md, Measures): the answer is about the person, and a
    hold would show the other partner that something was answered."""
    t, c, a, b = couple
    assign(api, t, c["id"], start_date=(datetime.now(UTC) - timedelta(days=3)).date().isoformat())
    schedule(api, t, c["id"], **{"phq-9": 1})
    answer(api, a, "phq-9", {**PHQ9_CALM, "q9": 1})
    for who in (a, b):
        assert api.call("GET", "/api/v1/me/homework", who).get_json()["status"] == "active"
    # a retry of the same response raises no second alert
    own = api.call("GET", "/api/v1/me/measure-responses", a).get_json()[0]
    again = answer(api, a, "phq-9", {**PHQ9_CALM, "q9": 1}, own["id"])
    assert (
        again.status_code == 200 and "not an emergency" in again.get_json()["guidance"]["emergency"]
    )
    assert len(api.call("GET", "/api/v1/alerts", t).get_json()) == 1


def test_the_demo_couple_has_four_weeks_of_csi4_and_phq9(api: Api, app: Flask) -> None:
    assert app.test_cli_runner().invoke(args=["seed", "--demo"]).exit_code == 0
    t = api.login("therapist@demo.tandem.test", "demo-therapist-1")
    couple_id = api.call("GET", "/api/v1/couples", t).get_json()[0]["id"]
    series = api.call("GET", f"/api/v1/couples/{couple_id}/measures", t).get_json()["series"]
    assert sorted(s["measure"] for s in series) == ["csi-4", "csi-4", "phq-9", "phq-9"]
    for s in series:
        scores = [r["score"] for r in s["responses"]]
        assert len(scores) == 4 and all(r["flags"] == [] for r in s["responses"])
        # slowly better: PHQ-9 down, CSI-4 up
        better = scores[-1] < scores[0] if s["measure"] == "phq-9" else scores[-1] > scores[0]
        assert better, scores
    assert api.call("GET", "/api/v1/alerts", t).get_json() == [] or all(
        a["kind"] != "risk" for a in api.call("GET", "/api/v1/alerts", t).get_json()
    )


# --- when the one reminder goes (pure: notifications.planning) ------------------------


def test_the_reminder_goes_at_the_partners_own_first_slot_after_it_is_due() -> None:
    from datetime import time

    from notifications.planning import ReminderSettings, measure_reminder_at

    berlin = ReminderSettings(timezone="Europe/Berlin", times=(time(20, 0), time(8, 0)))
    # due at local midnight after the spring change (22:00Z): the 08:00 CEST slot
    due = datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    assert measure_reminder_at(berlin, due) == datetime(2026, 3, 30, 6, 0, tzinfo=UTC)
    # due at 10:00 local: that evening's 20:00
    due = datetime(2026, 3, 30, 8, 0, tzinfo=UTC)
    assert measure_reminder_at(berlin, due) == datetime(2026, 3, 30, 18, 0, tzinfo=UTC)
    # only on the partner's days (Wednesday = 2), never in quiet hours, never when paused
    wednesdays = ReminderSettings(
        timezone="Europe/Berlin", times=(time(23, 30), time(21, 0)), days=frozenset({2})
    )
    assert measure_reminder_at(wednesdays, due) == datetime(2026, 4, 1, 19, 0, tzinfo=UTC)
    paused = ReminderSettings(timezone="Europe/Berlin", paused=True)
    assert measure_reminder_at(paused, due) is None


def test_the_app_refuses_to_start_on_a_bad_questionnaire(tmp_path: Path, database_url: str) -> None:
    import yaml

    from exercises.catalog import default_catalog_path
    from server.config import ConfigError
    from tests.conftest import make_app

    root = tmp_path / "catalog"
    root.mkdir()
    for folder in ("exercises", "programs"):
        (root / folder).symlink_to(default_catalog_path() / folder)
    (root / "measures").mkdir()
    data = yaml.safe_load((default_catalog_path() / "measures" / "gad-7.yaml").read_text())
    data["scoring"]["bands"].pop()  # 15-21 not covered
    (root / "measures" / "gad-7.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="TANDEM_CATALOG_PATH"):
        make_app(tmp_path / "instance", database_url, TANDEM_CATALOG_PATH=str(root))


def test_deleting_an_account_erases_its_responses_only(api: Api, app: Flask, couple) -> None:  # type: ignore[no-untyped-def]
    from server.models import MeasureResponse

    t, c, a, b = couple
    schedule(api, t, c["id"], **{"phq-9": 1})
    answer(api, a, "phq-9", PHQ9_MILD)
    kept = answer(api, b, "phq-9", PHQ9_CALM).get_json()["id"]
    r = api.call("DELETE", "/api/v1/me", a, json={"password": a.password})
    assert r.status_code == 204
    with app.app_context():
        assert db.session.scalars(select(MeasureResponse.id)).all() == [kept]


def test_the_same_response_twice_at_once_stores_one_and_alerts_once(  # type: ignore[no-untyped-def]
    pg_url: str, app: Flask, api: Api, couple
) -> None:
    from sqlalchemy import func

    from server.models import Alert, MeasureResponse
    from tests.api.test_concurrency import race

    t, c, a, _ = couple
    schedule(api, t, c["id"], **{"phq-9": 1})
    body = {"id": str(uuid.uuid4()), "measure": "phq-9", "answers": {**PHQ9_CALM, "q9": 1}}

    def post() -> int:
        client = app.test_client()
        return client.post("/api/v1/measure-responses", json=body, headers=a.headers).status_code

    assert sorted(race(app, [post, post])) == [200, 201]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(MeasureResponse)) == 1
        assert db.session.scalar(select(func.count()).select_from(Alert)) == 1
