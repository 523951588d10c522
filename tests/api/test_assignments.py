"""Assignments: frozen programs, one running per couple, stage changes, history, audit."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from server.extensions import db
from server.models import AuditEvent
from tests.factories import Api, assign


def setup(api: Api):  # type: ignore[no-untyped-def]
    t = api.therapist()
    couple, a, b = api.couple_with_partners(t)
    return t, couple, a, b


def test_assigning_freezes_the_program_and_starts_at_stage_one(api: Api) -> None:
    t, couple, _, _ = setup(api)
    assignment = assign(api, t, couple["id"])
    assert assignment["stage_index"] == 1
    assert assignment["status"] == "active"
    assert assignment["couple_id"] == couple["id"]
    assert assignment["program"]["slug"] == "sensate-focus-course"
    assert assignment["program"]["version"] >= 1
    assert assignment["stage"]["index"] == 1
    assert assignment["history"][0]["action"] == "assigned"
    assert assignment["history"][0]["actor_id"] == t.id
    assert assignment["history"][0]["at"].endswith("Z")


def test_one_running_assignment_per_couple(api: Api) -> None:
    t, couple, _, _ = setup(api)
    assign(api, t, couple["id"])
    r = api.call(
        "POST",
        f"/api/v1/couples/{couple['id']}/assignments",
        t,
        json={"program": "communication-foundations"},
    )
    assert r.status_code == 409
    assert r.content_type == "application/problem+json"


def test_unknown_program_is_422(api: Api) -> None:
    t, couple, _, _ = setup(api)
    r = api.call("POST", f"/api/v1/couples/{couple['id']}/assignments", t, json={"program": "nope"})
    assert r.status_code == 422
    assert "program" in r.get_json()["errors"]


def test_start_date_out_of_range_is_422(api: Api) -> None:
    t, couple, _, _ = setup(api)
    r = api.call(
        "POST",
        f"/api/v1/couples/{couple['id']}/assignments",
        t,
        json={"program": "communication-foundations", "start_date": "2099-01-01"},
    )
    assert r.status_code == 422
    assert "start_date" in r.get_json()["errors"]


def test_advance_through_stages_then_409_then_complete(api: Api) -> None:
    t, couple, _, _ = setup(api)
    aid = assign(api, t, couple["id"], "communication-foundations")["id"]
    early = api.call("POST", f"/api/v1/assignments/{aid}/complete", t)
    assert early.status_code == 409
    for expected in (2, 3):
        r = api.call("POST", f"/api/v1/assignments/{aid}/advance", t, json={"reason": "Ready"})
        assert r.status_code == 200
        assert r.get_json()["stage_index"] == expected
    last = api.call("POST", f"/api/v1/assignments/{aid}/advance", t, json={})
    assert last.status_code == 409
    assert last.get_json()["code"] == "last_stage"
    done = api.call("POST", f"/api/v1/assignments/{aid}/complete", t, json={"reason": "Done"})
    assert done.status_code == 200
    assert done.get_json()["status"] == "completed"
    history = done.get_json()["history"]
    assert [h["action"] for h in history] == ["assigned", "advanced", "advanced", "completed"]
    assert history[1] == {
        **history[1],
        "from_stage": 1,
        "to_stage": 2,
        "reason": "Ready",
        "actor_id": t.id,
    }
    # a new program may follow a completed one
    assert assign(api, t, couple["id"])["stage_index"] == 1


def test_pause_and_resume(api: Api) -> None:
    t, couple, a, _ = setup(api)
    aid = assign(api, t, couple["id"])["id"]
    assert api.call("POST", f"/api/v1/assignments/{aid}/resume", t).status_code == 409
    paused = api.call("POST", f"/api/v1/assignments/{aid}/pause", t, json={"reason": "Holiday"})
    assert paused.get_json()["status"] == "paused"
    assert api.call("POST", f"/api/v1/assignments/{aid}/pause", t).status_code == 409
    assert api.call("POST", f"/api/v1/assignments/{aid}/advance", t).status_code == 409
    homework = api.call("GET", "/api/v1/me/homework", a).get_json()
    assert homework["status"] == "paused"
    assert homework["message"] == "Paused by your therapist."
    assert not any(item["due_today"] for item in homework["items"])
    resumed = api.call("POST", f"/api/v1/assignments/{aid}/resume", t)
    assert resumed.get_json()["status"] == "active"
    assert api.call("GET", "/api/v1/me/homework", a).get_json()["status"] == "active"


def test_overrides_and_notes(api: Api) -> None:
    t, couple, a, _ = setup(api)
    aid = assign(api, t, couple["id"])["id"]
    r = api.call(
        "PATCH",
        f"/api/v1/assignments/{aid}",
        t,
        json={
            "overrides": {
                "sf-1-nongenital-touch": {"per_week": 2},
                "journal-touch-reflection": {"per_week": 0},
            },
            "note": "Alex is nervous about stage 2.",
        },
    )
    assert r.status_code == 200
    body = r.get_json()
    assert body["overrides"]["sf-1-nongenital-touch"] == {"per_week": 2}
    assert body["note"] == "Alex is nervous about stage 2."
    items = {
        i["exercise"]: i for i in api.call("GET", "/api/v1/me/homework", a).get_json()["items"]
    }
    assert items["sf-1-nongenital-touch"]["per_week"] == 2
    assert "journal-touch-reflection" not in items
    # partners read the assignment without the note
    seen = api.call("GET", f"/api/v1/assignments/{aid}", a).get_json()
    assert "note" not in seen
    assert "Alex is nervous" not in api.call("GET", f"/api/v1/assignments/{aid}", a).get_data(
        as_text=True
    )


def test_bad_overrides_are_422_and_change_nothing(api: Api) -> None:
    t, couple, _, _ = setup(api)
    aid = assign(api, t, couple["id"])["id"]
    for overrides, field in (
        ({"not-in-program": {"per_week": 1}}, "overrides.not-in-program"),
        ({"sf-1-nongenital-touch": {"per_week": 15}}, "overrides.sf-1-nongenital-touch.per_week"),
        ({"sf-1-nongenital-touch": {"per_week": -1}}, "overrides.sf-1-nongenital-touch.per_week"),
    ):
        r = api.call("PATCH", f"/api/v1/assignments/{aid}", t, json={"overrides": overrides})
        assert r.status_code == 422
        assert field in r.get_json()["errors"], r.get_json()
    r = api.call(
        "PATCH",
        f"/api/v1/assignments/{aid}",
        t,
        json={"overrides": {"sf-1-nongenital-touch": {"per_week": "2"}}},
    )
    assert r.status_code == 422
    assert api.call("GET", f"/api/v1/assignments/{aid}", t).get_json()["overrides"] == {}


def test_partners_see_history_without_reasons(api: Api) -> None:
    t, couple, a, _ = setup(api)
    aid = assign(api, t, couple["id"])["id"]
    api.call("POST", f"/api/v1/assignments/{aid}/advance", t, json={"reason": "Anxiety is low"})
    seen = api.call("GET", f"/api/v1/assignments/{aid}", a)
    assert all("reason" not in h for h in seen.get_json()["history"])
    assert "Anxiety is low" not in seen.get_data(as_text=True)


def test_every_assignment_change_is_audited(api: Api, app: Flask) -> None:
    t, couple, _, _ = setup(api)
    aid = assign(api, t, couple["id"])["id"]
    api.call("PATCH", f"/api/v1/assignments/{aid}", t, json={"note": "n"})
    api.call("POST", f"/api/v1/assignments/{aid}/advance", t)
    api.call("POST", f"/api/v1/assignments/{aid}/pause", t)
    api.call("POST", f"/api/v1/assignments/{aid}/resume", t)
    with app.app_context():
        actions = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.object_id == aid).order_by(AuditEvent.at)
        ).all()
    assert actions == [
        "assignment.assigned",
        "assignment.updated",
        "assignment.advanced",
        "assignment.paused",
        "assignment.resumed",
    ]


def test_a_started_assignment_keeps_its_program_version(api: Api, app: Flask) -> None:
    """A new catalog version does not change a running assignment."""
    from server.models import ProgramVersion

    t, couple, _, _ = setup(api)
    before = assign(api, t, couple["id"], "communication-foundations")
    with app.app_context():
        row = db.session.scalars(
            select(ProgramVersion).where(ProgramVersion.slug == "communication-foundations")
        ).one()
        new_version = row.version + 1
        data = {**row.data, "version": new_version, "title": "Renamed foundations"}
        db.session.add(
            ProgramVersion(
                scope="catalog", slug=row.slug, version=new_version, title=data["title"], data=data
            )
        )
        db.session.commit()
    try:
        after = api.call("GET", f"/api/v1/assignments/{before['id']}", t).get_json()
        assert after["program"] == before["program"]
        listed = api.call("GET", "/api/v1/programs/communication-foundations", t).get_json()
        assert listed["title"] == "Renamed foundations"
    finally:
        with app.app_context():
            db.session.execute(
                ProgramVersion.__table__.delete().where(
                    ProgramVersion.slug == "communication-foundations",
                    ProgramVersion.version == new_version,
                )
            )
            db.session.commit()


def test_couples_list_summary(api: Api) -> None:
    t, couple, a, b = setup(api)
    aid = assign(api, t, couple["id"], "communication-foundations")["id"]
    from tests.factories import check_in

    check_in(api, a, aid, exercise="daily-appreciations")
    listed = api.call("GET", "/api/v1/couples", t).get_json()[0]
    assert listed["summary"]["current_stage"] == 1
    # stage 1: daily-appreciations 5/week for each of two partners; one done
    assert listed["summary"]["adherence_this_week"] == 0.1
    assert [(p["id"], p["adherence_this_week"]) for p in listed["summary"]["partners"]] == [
        (a.id, 0.2),
        (b.id, 0.0),
    ]
    assert listed["summary"]["open_alerts"] == 0


# --- moving back a stage (issue 12, item 7) --------------------------------------------


def test_moving_back_undoes_an_advance_with_a_reason(api: Api, app: Flask) -> None:
    t, couple, a, _ = setup(api)
    assignment = assign(api, t, couple["id"])
    aid = assignment["id"]
    first_stage = api.call("GET", f"/api/v1/assignments/{aid}", t).get_json()["stage"]
    api.call("POST", f"/api/v1/assignments/{aid}/advance", t, json={"reason": "Both ready."})

    back = api.call(
        "POST", f"/api/v1/assignments/{aid}/back", t, json={"reason": "Moved on too early."}
    )
    assert back.status_code == 200, back.get_json()
    body = back.get_json()
    assert body["stage_index"] == 1
    assert body["stage"]["index"] == first_stage["index"]
    last = body["history"][-1]
    assert last["action"] == "moved_back"
    assert (last["from_stage"], last["to_stage"]) == (2, 1)
    assert last["reason"] == "Moved on too early."
    assert last["actor_id"] == t.id

    # Partners see the move on its local day, never the reason.
    seen = api.call("GET", f"/api/v1/assignments/{aid}", a).get_json()["history"][-1]
    assert seen["action"] == "moved_back"
    assert "reason" not in seen or seen["reason"] is None
    assert len(seen["at"]) == 10  # YYYY-MM-DD
    assert "Moved on too early" not in api.call("GET", f"/api/v1/assignments/{aid}", a).text

    with app.app_context():
        actions = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.object_id == aid)
        ).all()
    assert "assignment.moved_back" in actions


def test_moving_back_needs_a_reason_and_a_stage_to_go_back_to(api: Api) -> None:
    t, couple, _, _ = setup(api)
    aid = assign(api, t, couple["id"])["id"]
    first = api.call("POST", f"/api/v1/assignments/{aid}/back", t, json={"reason": "Oops."})
    assert first.status_code == 409
    assert first.get_json()["code"] == "first_stage"
    api.call("POST", f"/api/v1/assignments/{aid}/advance", t, json={})
    for body in ({}, {"reason": ""}):
        r = api.call("POST", f"/api/v1/assignments/{aid}/back", t, json=body)
        assert r.status_code == 422, r.get_json()
    assert api.call("GET", f"/api/v1/assignments/{aid}", t).get_json()["stage_index"] == 2


def test_moving_back_replans_reminders_for_the_earlier_stage(api: Api, app: Flask) -> None:
    from server.models import Reminder

    t, couple, a, _ = setup(api)
    aid = assign(api, t, couple["id"])["id"]

    def planned() -> set[str]:
        from server.worker import replan_pass

        with app.app_context():
            replan_pass()  # the worker's replan job (it runs within seconds of a change)
            return set(
                db.session.scalars(
                    select(Reminder.key).where(
                        Reminder.user_id == a.id, Reminder.status == "pending"
                    )
                )
            )

    at_first = planned()
    assert at_first
    api.call("POST", f"/api/v1/assignments/{aid}/advance", t, json={})
    api.call("POST", f"/api/v1/assignments/{aid}/back", t, json={"reason": "Too early."})
    with app.app_context():
        kinds = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.object_id == aid)
        ).all()
    assert kinds.count("assignment.moved_back") == 1
    # What is due is planned again for stage 1 (the same reminders as at the start).
    assert planned() == at_first
