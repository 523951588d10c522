"""The safety rules of PRODUCT.md."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import SF_CALM, Api, assign, check_in, checkin_body


@pytest.fixture
def couple(api: Api):  # type: ignore[no-untyped-def]
    t = api.therapist()
    c, a, b = api.couple_with_partners(t)
    aid = assign(
        api, t, c["id"], start_date=(datetime.now(UTC) - timedelta(days=7)).date().isoformat()
    )["id"]
    return t, c, a, b, aid


@pytest.mark.parametrize(
    ("answers", "flags", "expected"),
    [
        ({}, {"stop": True}, {"stop"}),
        ({}, {"pressured": True}, {"pressured"}),
        ({}, {"unsafe": True}, {"unsafe"}),
        ({"pain": 4}, {}, {"pain"}),  # at the form's threshold
        ({"distress": 9}, {}, {"distress"}),
        ({"pressured": True}, {}, {"pressured"}),
        ({"stopped": True}, {}, {"stop"}),
        ({"unsafe": True, "pain": 10}, {"distress": True}, {"unsafe", "pain", "distress"}),
    ],
)
def test_a_flag_raises_an_alert_at_once(  # type: ignore[no-untyped-def]
    api: Api, couple, answers, flags, expected
) -> None:
    t, _, a, _, aid = couple
    r = api.call(
        "POST",
        "/api/v1/checkins",
        a,
        json=checkin_body(aid, answers={**SF_CALM, **answers}, flags=flags),
    )
    assert r.status_code == 201
    alerts = api.call("GET", "/api/v1/alerts", t).get_json()
    assert len(alerts) == 1
    assert set(alerts[0]["flags"]) == expected
    assert alerts[0]["kind"] == "safety"
    assert alerts[0]["created_at"].endswith("Z")
    assert api.call("GET", "/api/v1/couples", t).get_json()[0]["summary"]["open_alerts"] == 1


def test_a_retried_flagged_check_in_raises_no_second_alert(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    """The phone retries after a lost answer: the check-in is answered again (200, with
    the crisis guidance), the alert and the hold are not repeated."""
    t, _, a, _, aid = couple
    body = checkin_body(aid, answers={**SF_CALM, "pain": 8})
    first = api.call("POST", "/api/v1/checkins", a, json=body)
    again = api.call("POST", "/api/v1/checkins", a, json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    assert "not an emergency service" in again.get_json()["safety"]["emergency"]
    assert len(api.call("GET", "/api/v1/alerts", t).get_json()) == 1


def test_below_the_threshold_is_no_flag(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    t, _, a, _, aid = couple
    check_in(api, a, aid, answers={**SF_CALM, "pain": 3, "distress": 6})
    assert api.call("GET", "/api/v1/alerts", t).get_json() == []


def test_the_author_gets_crisis_guidance_and_is_told_we_are_no_emergency_service(  # type: ignore[no-untyped-def]
    api: Api, couple
) -> None:
    _, _, a, _, aid = couple
    r = api.call("POST", "/api/v1/checkins", a, json=checkin_body(aid, flags={"unsafe": True}))
    safety = r.get_json()["safety"]
    assert "not an emergency service" in safety["emergency"]
    assert "stop" in safety["pain"].lower()


def test_a_flag_holds_the_whole_program_until_the_therapist_resumes(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    t, _, a, b, aid = couple
    check_in(api, a, aid, flags={"pressured": True})
    for partner in (a, b):
        homework = api.call("GET", "/api/v1/me/homework", partner).get_json()
        assert homework["status"] == "paused"
        items = {i["exercise"]: i for i in homework["items"]}
        assert items["sf-1-nongenital-touch"]["paused"] is True
        assert items["sf-1-nongenital-touch"]["due_today"] is False
        # solo exercises are held too: the whole program, for both partners
        assert items["journal-touch-reflection"]["paused"] is True
        assert items["journal-touch-reflection"]["due_today"] is False
    therapist_view = api.call("GET", f"/api/v1/assignments/{aid}", t).get_json()
    assert therapist_view["on_hold"] is True
    assert therapist_view["history"][-1]["action"] == "held"
    alert = api.call("GET", "/api/v1/alerts", t).get_json()[0]
    acked = api.call("POST", f"/api/v1/alerts/{alert['id']}/ack", t)
    assert acked.status_code == 200
    assert acked.get_json()["acknowledged_at"]
    assert api.call("GET", "/api/v1/alerts", t).get_json() == []
    # Acknowledging is reading: the hold stays until the therapist resumes.
    assert api.call("GET", "/api/v1/me/homework", b).get_json()["status"] == "paused"
    assert api.call("GET", f"/api/v1/assignments/{aid}", t).get_json()["on_hold"] is True
    api.call("POST", f"/api/v1/assignments/{aid}/resume", t)
    homework = api.call("GET", "/api/v1/me/homework", b).get_json()
    assert homework["status"] == "active"
    assert all(not i["paused"] for i in homework["items"])


def test_the_hold_stays_while_another_safety_alert_is_open(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    t, _, a, b, aid = couple
    check_in(api, a, aid, flags={"stop": True})
    check_in(api, b, aid, flags={"unsafe": True})
    first, _ = api.call("GET", "/api/v1/alerts", t).get_json()
    api.call("POST", f"/api/v1/alerts/{first['id']}/ack", t)
    assert api.call("GET", "/api/v1/me/homework", a).get_json()["status"] == "paused"


def test_resuming_lifts_a_safety_hold(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    t, _, a, _, aid = couple
    check_in(api, a, aid, flags={"stop": True})
    r = api.call(
        "POST", f"/api/v1/assignments/{aid}/resume", t, json={"reason": "Talked it through"}
    )
    assert r.status_code == 200
    assert r.get_json()["on_hold"] is False
    assert api.call("GET", "/api/v1/me/homework", a).get_json()["status"] == "active"


def test_acknowledging_twice_is_harmless_and_others_alerts_are_404(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    t, _, a, _, aid = couple
    check_in(api, a, aid, flags={"stop": True})
    alert = api.call("GET", "/api/v1/alerts", t).get_json()[0]
    other = api.therapist()
    assert api.call("POST", f"/api/v1/alerts/{alert['id']}/ack", other).status_code == 404
    assert api.call("POST", f"/api/v1/alerts/{alert['id']}/ack", t).status_code == 200
    assert api.call("POST", f"/api/v1/alerts/{alert['id']}/ack", t).status_code == 200
    assert api.call("POST", "/api/v1/alerts/nope/ack", t).status_code == 404


def test_a_retried_flagged_check_in_raises_one_alert(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    t, _, a, _, aid = couple
    body = checkin_body(aid, flags={"unsafe": True})
    api.call("POST", "/api/v1/checkins", a, json=body)
    again = api.call("POST", "/api/v1/checkins", a, json=body)
    assert again.status_code == 200
    assert len(api.call("GET", "/api/v1/alerts", t).get_json()) == 1


def test_progress_and_the_suggestion_inform_but_do_not_advance(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    t, c, a, b, aid = couple
    for partner in (a, b):
        for _ in range(3):
            check_in(api, partner, aid, answers={**SF_CALM, "anxiety": 3})
    check_in(api, a, aid, visibility="private", answers={**SF_CALM, "anxiety": 10})
    progress = api.call("GET", f"/api/v1/couples/{c['id']}/progress", t).get_json()
    assert progress["assignment_id"] == aid
    by_partner = {p["id"]: p for p in progress["partners"]}
    week = by_partner[a.id]["weeks"][-1]
    sf = next(i for i in week["items"] if i["exercise"] == "sf-1-nongenital-touch")
    assert (sf["done"], sf["target"]) == (4, 3)
    assert week["means"]["anxiety"] == 3.0  # the private check-in counts, never in the mean
    assert by_partner[b.id]["weeks"][-1]["means"]["anxiety"] == 3.0
    assert progress["history"][0]["action"] == "assigned"
    suggestion = progress["suggestion"]
    assert suggestion["action"] in ("advance", "hold")
    assert suggestion["reasons"]
    assert api.call("GET", f"/api/v1/assignments/{aid}", t).get_json()["stage_index"] == 1


def test_alerts_are_a_paginated_list(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    t, _, a, b, aid = couple
    check_in(api, a, aid, flags={"stop": True})
    check_in(api, b, aid, flags={"unsafe": True})
    r = api.call("GET", "/api/v1/alerts?page_size=1", t)
    assert len(r.get_json()) == 1
    import json

    assert json.loads(r.headers["X-Pagination"])["total"] == 2
    assert len(api.call("GET", "/api/v1/alerts", t).get_json()) == 2
