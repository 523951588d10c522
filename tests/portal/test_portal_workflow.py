"""The therapist's workflow in the portal (issue 12, items 4 and 6 to 9): deliberate,
reversible decisions with reasons, the gaps the API had filled, the couple page's fixes
and the questionnaires' charts. Flask's test client against the real services."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from notifications.senders import MemorySender
from server.extensions import db
from server.models import AuditEvent, Reminder, User
from server.portal import charts
from server.worker import dispatch_pass
from tests.factories import SF_CALM, Api, World, assign, build_world, check_in, checkin_body
from tests.portal.helpers import alert_id, assignment_id, html, post, sign_in


@pytest.fixture
def world(api: Api) -> World:
    return build_world(api)


def couple_page(client: FlaskClient, world: World) -> str:
    return html(client.get(f"/portal/couples/{world.couple['id']}"))


def flash_after(client: FlaskClient, response: Any) -> str:
    assert response.status_code == 303, html(response)[:300]
    return html(client.get(response.headers["Location"]))


def therapist_view(api: Api, world: World, aid: str) -> dict[str, Any]:
    return api.call("GET", f"/api/v1/assignments/{aid}", world.therapist).get_json()  # type: ignore[no-any-return]


# --- 6. acknowledge is not resume; lifting a hold has its own reason ---------------------


def test_lifting_a_safety_hold_needs_its_own_reason(
    api: Api, client: FlaskClient, world: World
) -> None:
    aid = assignment_id(api, world)
    alert = alert_id(api, world, aid)
    sign_in(client, world.therapist)

    inbox = html(client.get("/portal/alerts"))
    # The page says what each button does.
    assert "You have read the alert. It leaves this list; nothing changes for the couple." in inbox
    assert "Lifts a safety hold, for both partners, with the reason you give" in inbox
    assert "Records that you have read this alert" in inbox
    assert "Lifts the safety hold: both partners see their homework again" in inbox
    assert "Why lift the safety hold?" in inbox

    # Acknowledging keeps the hold.
    post(client, f"/portal/alerts/{alert}/ack")
    assert therapist_view(api, world, aid)["on_hold"] is True

    # Without a reason nothing is lifted, from the inbox or the couple page.
    for form in ({}, {"reason": "   "}, {"next": "/portal/alerts"}):
        page = flash_after(client, post(client, f"/portal/assignments/{aid}/resume", **form))
        assert "Say why you lift the safety hold" in page
    view = therapist_view(api, world, aid)
    assert view["on_hold"] is True and view["status"] == "paused"
    assert [h["action"] for h in view["history"]] == ["assigned", "held"]
    couple = couple_page(client, world)
    assert re.search(r'<textarea id="resume-reason" name="reason"[^>]*required>', couple)

    # With one it is lifted and the reason is kept; the inbox's form comes back to it.
    r = post(
        client, f"/portal/assignments/{aid}/resume", reason="Pain checked.", next="/portal/alerts"
    )
    assert r.headers["Location"] == "/portal/alerts"
    view = therapist_view(api, world, aid)
    assert view["on_hold"] is False and view["status"] == "active"
    assert view["history"][-1]["action"] == "resumed"
    assert view["history"][-1]["reason"] == "Pain checked."


def test_a_plain_pause_resumes_without_a_reason(
    api: Api, client: FlaskClient, world: World
) -> None:
    aid = assignment_id(api, world)
    api.call("POST", f"/api/v1/assignments/{aid}/pause", world.therapist)
    sign_in(client, world.therapist)
    page = flash_after(client, post(client, f"/portal/assignments/{aid}/resume"))
    assert "The program is running again" in page
    assert therapist_view(api, world, aid)["status"] == "active"


# --- 7. deliberate moves: confirmation, and moving back ----------------------------------


def test_moving_on_is_confirmed_on_its_own_page(
    api: Api, client: FlaskClient, world: World
) -> None:
    aid = assignment_id(api, world)
    sign_in(client, world.therapist)
    page = couple_page(client, world)
    # The couple page only links to the confirmation; no form there moves on.
    assert f'href="/portal/assignments/{aid}/advance"' in page
    assert f'action="/portal/assignments/{aid}/advance"' not in page

    confirm = client.get(f"/portal/assignments/{aid}/advance")
    assert confirm.status_code == 200
    text = html(confirm)
    assert "Move Alex &amp; Sam to stage 2?" in text
    assert "Step 2: including breasts, chest and genitals" in text
    assert f'<form method="post" action="/portal/assignments/{aid}/advance"' in text
    assert '<label for="advance-reason">Reason' in text
    assert "Yes, move to stage 2</button>" in text
    assert therapist_view(api, world, aid)["stage_index"] == 1  # looking changes nothing

    done = flash_after(
        client, post(client, f"/portal/assignments/{aid}/advance", reason="Both calm.")
    )
    assert "Moved to the next stage." in done
    view = therapist_view(api, world, aid)
    assert view["stage_index"] == 2 and view["history"][-1]["reason"] == "Both calm."


def test_the_confirmation_page_refuses_what_cannot_happen(
    api: Api, client: FlaskClient, world: World
) -> None:
    aid = assignment_id(api, world)
    api.call("POST", f"/api/v1/assignments/{aid}/pause", world.therapist)
    sign_in(client, world.therapist)
    r = client.get(f"/portal/assignments/{aid}/advance")
    assert r.status_code == 303
    assert "This program cannot move on now" in html(client.get(r.headers["Location"]))


def test_a_move_can_be_undone_from_the_couple_page(
    api: Api, client: FlaskClient, world: World
) -> None:
    aid = assignment_id(api, world)
    sign_in(client, world.therapist)
    assert "Move back to stage" not in couple_page(client, world)  # stage 1: nowhere to go
    post(client, f"/portal/assignments/{aid}/advance", reason="Both calm.")
    page = couple_page(client, world)
    assert f'action="/portal/assignments/{aid}/back"' in page
    assert "Move back to stage 1</button>" in page
    assert re.search(r'<textarea id="back-reason" name="reason"[^>]*required>', page)

    refused = flash_after(client, post(client, f"/portal/assignments/{aid}/back"))
    assert "Say why you move the couple back." in refused
    assert therapist_view(api, world, aid)["stage_index"] == 2

    page = flash_after(
        client, post(client, f"/portal/assignments/{aid}/back", reason="Too early for Sam.")
    )
    assert "Moved back to stage 1." in page
    assert "Stage 1 of 6" in page
    assert "Moved back from stage 2 to stage 1" in page and "Too early for Sam." in page
    view = therapist_view(api, world, aid)
    assert view["stage_index"] == 1
    assert view["history"][-1]["action"] == "moved_back"
    # The partner sees the move, on its day, without the reason.
    mine = api.call("GET", f"/api/v1/assignments/{aid}", world.client)
    assert mine.get_json()["history"][-1]["action"] == "moved_back"
    assert "Too early for Sam." not in mine.get_data(as_text=True)
    assert api.call("GET", "/api/v1/me/homework", world.client).get_json()["stage"]["index"] == 1


# --- 8. what the portal lacked ------------------------------------------------------------


def test_the_therapists_note_is_edited_on_the_couple_page(
    api: Api, client: FlaskClient, world: World
) -> None:
    aid = assignment_id(api, world)
    sign_in(client, world.therapist)
    page = flash_after(
        client, post(client, f"/portal/assignments/{aid}/note", note="Sam <b>anxious</b>.")
    )
    assert "Note saved." in page
    assert "Sam &lt;b&gt;anxious&lt;/b&gt;.</textarea>" in page
    assert therapist_view(api, world, aid)["note"] == "Sam <b>anxious</b>."
    partner = api.call("GET", f"/api/v1/assignments/{aid}", world.client).get_data(as_text=True)
    assert "anxious" not in partner
    page = flash_after(client, post(client, f"/portal/assignments/{aid}/note", note=""))
    assert "Note removed." in page
    assert therapist_view(api, world, aid)["note"] is None
    too_long = post(client, f"/portal/assignments/{aid}/note", note="x" * 5001)
    assert "Keep the note under 5000 characters." in flash_after(client, too_long)


def test_a_new_invite_code_is_shown_once_and_replaces_the_old_one(
    api: Api, client: FlaskClient, world: World
) -> None:
    couple = api.couple(world.therapist, label="New & Couple")
    old = couple["invites"][0]["code"]
    sign_in(client, world.therapist)
    assert "New code for partner 1" in html(client.get(f"/portal/couples/{couple['id']}"))
    r = post(client, f"/portal/couples/{couple['id']}/invites/1/reissue")
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-store"
    code = re.search(r'<code class="code" id="invite-code">([^<]+)</code>', html(r))
    assert code and code.group(1) != old
    gone = api.client.post(
        f"/api/v1/invites/{old}/accept",
        json={
            "email": "x@example.test",
            "password": "a long passphrase",
            "name": "X",
            "timezone": "Europe/Berlin",
        },
    )
    assert gone.status_code == 404
    joined = api.join(code.group(1), name="Kim")
    assert joined.user["couple_id"] == couple["id"]

    # A slot whose partner joined keeps its partner.
    taken = post(client, f"/portal/couples/{world.couple['id']}/invites/1/reissue")
    assert "This partner has already joined." in flash_after(client, taken)


def test_weekly_targets_change_with_a_reason(api: Api, client: FlaskClient, world: World) -> None:
    aid = assignment_id(api, world)
    sign_in(client, world.therapist)
    path = f"/portal/assignments/{aid}/targets"
    page = couple_page(client, world)
    assert '<label for="targets-reason">Why change the targets?' in page

    refused = flash_after(client, post(client, path, **{"per_week-sf-1-nongenital-touch": "2"}))
    assert "Say why you change the weekly targets" in refused
    assert therapist_view(api, world, aid)["overrides"] == {}

    # The form sends every row: only what changed is saved.
    unchanged = post(client, path, reason="x", **{"per_week-sf-1-nongenital-touch": "3"})
    assert "The weekly targets are unchanged." in flash_after(client, unchanged)

    form = {"per_week-sf-1-nongenital-touch": "2", "per_week-daily-appreciations": "3"}
    page = flash_after(client, post(client, path, reason="A busy month at work.", **form))
    assert "Weekly targets saved." in page
    view = therapist_view(api, world, aid)
    assert view["overrides"] == {"sf-1-nongenital-touch": {"per_week": 2}}
    assert view["history"][-1]["action"] == "updated"
    assert view["history"][-1]["reason"] == "A busy month at work."
    assert "A busy month at work." in page  # in the history on the page
    homework = api.call("GET", "/api/v1/me/homework", world.client).get_json()
    sf1 = next(i for i in homework["items"] if i["exercise"] == "sf-1-nongenital-touch")
    assert sf1["per_week"] == 2


def test_find_a_couple_by_label_among_sixty(api: Api, client: FlaskClient) -> None:
    therapist = api.therapist()
    for n in range(59):
        api.couple(therapist, label=f"Couple {n:02d}")
    api.couple(therapist, label="Zebra & Yak")
    sign_in(client, therapist)

    everyone = html(client.get("/portal/"))
    assert "60 couples." in everyone
    assert "Page 1 of 3" in everyone
    assert everyone.count('class="couple-link"') == 25
    assert '<input id="q" name="q" type="search"' in everyone

    found = html(client.get("/portal/?q=zEBRA"))
    assert "1 of 60 couples match" in found
    assert found.count('class="couple-link"') == 1 and "Zebra &amp; Yak" in found
    assert "Page 1 of" not in found

    many = html(client.get("/portal/?q=couple&page=2"))
    assert "59 of 60 couples match" in many
    assert "Page 2 of 3" in many
    assert 'href="/portal/?q=couple&amp;page=3"' in many
    assert 'href="/portal/?q=couple&amp;page=1"' in many
    labels = re.findall(r'class="couple-link"[^>]*>([^<]+)<', many)
    assert len(labels) == 25 and all(label.startswith("Couple ") for label in labels)
    last = html(client.get("/portal/?q=couple&page=9"))  # past the end: the last page
    assert "Page 3 of 3" in last and last.count('class="couple-link"') == 9

    none = html(client.get("/portal/?q=nobody"))
    assert "No couple's name contains “nobody”." in none


def test_another_therapists_couples_are_never_found(api: Api, client: FlaskClient) -> None:
    mine, theirs = api.therapist(), api.therapist()
    api.couple(theirs, label="Hidden & Away")
    sign_in(client, mine)
    page = html(client.get("/portal/?q=hidden"))
    assert "Hidden" not in page.split("</form>", 2)[-1] or "No couple's name" in page
    assert 'class="couple-link"' not in page


# --- 9. fixes on the couple page ---------------------------------------------------------


def test_suggestion_and_weekly_table_count_the_same_sessions(
    api: Api, client: FlaskClient, world: World
) -> None:
    # Started yesterday: today's sessions are at this stage and in this week (or in
    # last week's row on a Monday's early hours: the table shows the current week).
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    aid = assign(api, world.therapist, world.couple["id"], start_date=yesterday)["id"]
    for _ in range(2):
        check_in(api, world.client, aid)
    check_in(api, world.client, aid, answers={"session_declined": True})
    sign_in(client, world.therapist)
    page = couple_page(client, world)
    row = page.split('for="pw-sf-1-nongenital-touch"', 1)[1].split("</tr>", 1)[0]
    # Alex: 2 this week and 2 since the stage began; the declined one counts nowhere.
    assert "2 of 3 <span" in row and "2 since the stage began" in row
    assert "0 of 3 <span" in row and "0 since the stage began" in row
    assert "2 sessions of Step 1: touch for your own interest since the stage began" in page
    assert "Alex has logged 2 of 4 sessions at this stage." in page
    assert "not this week&#39;s" in page or "not this week's" in page

    # After a move on and back, the stage counts from when it began, as before.
    assert "this week" in row and '<label for="targets-reason">' in page
    api.call("POST", f"/api/v1/assignments/{aid}/advance", world.therapist, json={})
    api.call("POST", f"/api/v1/assignments/{aid}/back", world.therapist, json={"reason": "Oops"})
    page = couple_page(client, world)
    assert "2 sessions of Step 1: touch for your own interest since the stage began" in page
    row = page.split('for="pw-sf-1-nongenital-touch"', 1)[1].split("</tr>", 1)[0]
    assert "2 since the stage began" in row


def test_a_stage_shows_what_its_exercises_include_and_rule_out(
    app: Flask, api: Api, client: FlaskClient, world: World
) -> None:
    aid = assignment_id(api, world)
    exercises = {
        e["slug"]: e for e in api.call("GET", "/api/v1/exercises", world.therapist).get_json()
    }
    homework = api.call("GET", "/api/v1/me/homework", world.client).get_json()
    slugs = [i["exercise"] for i in homework["items"]]
    expected_off = list(dict.fromkeys(x for s in slugs for x in exercises[s]["off_limits"]))
    expected_in = list(dict.fromkeys(x for s in slugs for x in exercises[s]["includes"]))
    assert expected_off, "stage 1 of the sensate focus course rules something out"
    assert homework["stage"]["off_limits"] == expected_off
    assert homework["stage"]["includes"] == expected_in
    sign_in(client, world.therapist)
    page = couple_page(client, world)
    assert "Off limits at this stage" in page
    for item in expected_off:
        assert f"<li>{item}</li>".replace("'", "&#39;") in page
    del aid, app


def test_paused_since_is_when_it_was_paused(api: Api, client: FlaskClient, world: World) -> None:
    start = date.today() - timedelta(days=30)
    aid = assign(api, world.therapist, world.couple["id"], start_date=start.isoformat())["id"]
    api.call("POST", f"/api/v1/assignments/{aid}/pause", world.therapist, json={})
    paused_at = therapist_view(api, world, aid)["history"][-1]["at"]
    sign_in(client, world.therapist)
    page = couple_page(client, world)
    since = re.search(r'<span class="muted" id="paused-since">([^<]+)</span>', page)
    assert since, "the page says since when it is paused"
    tz = ZoneInfo(world.therapist.user["timezone"])
    at = datetime.fromisoformat(paused_at.replace("Z", "+00:00")).astimezone(tz)
    assert since.group(1) == f"Paused since {at:%a %-d %b %Y, %H:%M}"
    assert f"{start:%-d %b %Y}" not in since.group(1)


@pytest.fixture
def sender(app: Flask) -> Iterator[MemorySender]:
    memory = MemorySender()
    app.extensions["tandem.sender"] = memory
    yield memory
    app.extensions.pop("tandem.sender", None)


def alert_pushes(app: Flask, user_id: str) -> list[Reminder]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                select(Reminder).where(Reminder.user_id == user_id, Reminder.kind == "alert")
            )
        )
        db.session.expunge_all()
        return rows


def test_one_safety_event_sends_the_therapist_one_push(
    app: Flask, api: Api, world: World, sender: MemorySender
) -> None:
    aid = assignment_id(api, world)
    t = world.therapist
    r = api.call("POST", "/api/v1/me/devices", t, json={"token": "t-phone", "platform": "ios"})
    assert r.status_code == 201
    flagged = {**SF_CALM, "pain": 8, "distress": 9, "unsafe": True}
    body = checkin_body(aid, answers=flagged)
    assert api.call("POST", "/api/v1/checkins", world.client, json=body).status_code == 201
    assert api.call("POST", "/api/v1/checkins", world.client, json=body).status_code == 200
    # The other partner flags the same joint session a minute later.
    check_in(api, world.partner, aid, answers=flagged)
    assert len(api.call("GET", "/api/v1/alerts", t).get_json()) == 2
    pushes = alert_pushes(app, t.id)
    assert len(pushes) == 1, [p.key for p in pushes]
    assert alert_pushes(app, world.client.id) == alert_pushes(app, world.partner.id) == []

    with app.app_context():
        dispatch_pass(datetime.now(UTC) + timedelta(seconds=1))
    delivered = [m for m in sender.delivered if m.data.get("screen") == "alerts"]
    assert len(delivered) == 1

    # Once that push has gone, a new alert pushes again.
    api.call("POST", f"/api/v1/assignments/{aid}/resume", t, json={"reason": "Talked."})
    check_in(api, world.client, aid, answers=flagged)
    assert len(alert_pushes(app, t.id)) == 2


# --- 4. questionnaires -------------------------------------------------------------------


def answer_measures(app: Flask, couple_id: str, therapist_id: str, totals: dict[str, Any]) -> None:
    """Weekly answers since 25 days ago through the services: {partner id: {measure:
    [totals oldest first]}} (PHQ-9 item 9 stays 0)."""
    from exercises.measures import occasion_at
    from server.seeding import _demo_measure_answers
    from server.services.measures import record_response, set_schedule

    # Weekly since 25 days ago: three answers each at most, and the fourth week's
    # questionnaire unanswered for about four days (overdue after three).
    began = datetime.now(UTC) - timedelta(days=25)
    slugs = sorted({slug for per in totals.values() for slug in per})
    with app.app_context():
        therapist = db.session.get(User, therapist_id)
        set_schedule(
            therapist=therapist,
            couple_id=couple_id,
            schedule=[{"measure": slug, "every_weeks": 1} for slug in slugs],
            now=began,
        )
        for partner_id, per in totals.items():
            partner = db.session.get(User, partner_id)
            tz = ZoneInfo(partner.timezone)
            for slug, scores in per.items():
                for week, total in enumerate(scores):
                    due = occasion_at(started_at=began, every_weeks=1, tz=tz, index=week)
                    body = {
                        "id": str(uuid.uuid4()),
                        "measure": slug,
                        "answers": _demo_measure_answers(slug, total),
                    }
                    record_response(author=partner, body=body, now=due + timedelta(hours=30))
        db.session.commit()


def test_questionnaires_are_charted_per_measure_with_both_partners(
    app: Flask, api: Api, client: FlaskClient, world: World
) -> None:
    assignment_id(api, world)
    answer_measures(
        app,
        world.couple["id"],
        world.therapist.id,
        {
            world.client.id: {"phq-9": [6, 8, 12], "csi-4": [12, 13, 15]},
            world.partner.id: {"phq-9": [9, 8, 7], "csi-4": [14, 14, 16]},
        },
    )
    sign_in(client, world.therapist)
    page = couple_page(client, world)
    assert page.count('data-chart="measure"') == 2
    phq = page.split('data-measure="phq-9"', 1)[1].split("</article>", 1)[0]
    assert 'data-series="2"' in phq  # both partners on one chart
    assert phq.count('<rect class="band"') == 5  # PHQ-9's five bands, shaded
    assert "lower is better" in phq
    assert "<title id=" in phq and "<desc id=" in phq and "Show the numbers" in phq
    # Latest score, change since the first; Alex's +6 is a reliable worsening (5 points).
    assert "latest 12" in phq and "+6 since the first" in phq and "Reliably worse" in phq
    assert "latest 7" in phq and "-2 since the first" in phq
    assert phq.count("Overdue since") == 2  # the fourth week's, for both (therapist only)
    csi = page.split('data-measure="csi-4"', 1)[1].split("</article>", 1)[0]
    assert "higher is better" in csi and "Reliably worse" not in csi

    listing = html(client.get("/portal/"))
    marker = re.search(r'class="badge alert worse-marker"[^>]*>([^<]+)<', listing)
    assert marker and "PHQ-9" in marker.group(1)
    with app.app_context():  # the marker is a read of scores: audited
        reads = db.session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "measures.read",
                AuditEvent.object_id == world.couple["id"],
                AuditEvent.actor_id == world.therapist.id,
            )
        ).all()
        assert any((e.detail or {}).get("view") == "couples list marker" for e in reads)


def test_no_marker_without_a_reliable_worsening(
    app: Flask, api: Api, client: FlaskClient, world: World
) -> None:
    answer_measures(
        app,
        world.couple["id"],
        world.therapist.id,
        {world.client.id: {"phq-9": [6, 10]}, world.partner.id: {"csi-4": [16, 4]}},
    )
    sign_in(client, world.therapist)
    listing = html(client.get("/portal/"))
    # PHQ-9 up by 4 (< 5) is not reliable; CSI-4 has no reliable-change figure shipped.
    assert "worse-marker" not in listing


def test_measure_chart_geometry_keeps_each_scale_on_its_own_axis() -> None:
    at = datetime(2026, 3, 2, 9, tzinfo=UTC)
    bands = [
        {"min": 0, "max": 4, "label": "Minimal"},
        {"min": 5, "max": 27, "label": "More"},
    ]
    series = [
        {
            "partner_id": pid,
            "measure": "phq-9",
            "title": "PHQ-9",
            "direction": "higher_is_worse",
            "min": 0,
            "max": 27,
            "bands": bands,
            "reliable_change": 5,
            "responses": [
                {"id": "1", "completed_at": at, "score": first, "band": "x"},
                {"id": "2", "completed_at": at + timedelta(days=14), "score": last, "band": "y"},
            ],
            "due_since": at + timedelta(days=21),
            "overdue": pid == "b",
        }
        for pid, first, last in (("a", 0, 27), ("b", 10, 10))
    ]
    (chart,) = charts.measure_charts(series, {"a": "Alex", "b": "Sam"})
    a, b = chart["chart"].series
    assert a.points[0].y == chart["chart"].plot_bottom and a.points[1].y == charts.TOP
    assert a.points[0].x < a.points[1].x and b.dash  # the second partner is dashed too
    minimal, more = chart["chart"].extra["bands"]
    assert minimal["y"] > more["y"]  # low scores at the bottom
    assert chart["partners"][0]["worse"] and not chart["partners"][1]["worse"]
    assert chart["partners"][1]["overdue"] and not chart["partners"][0]["overdue"]
    assert chart["direction"] == "Lower is better"
    assert charts.worsened(20, 14, "higher_is_better", 6)
    assert not charts.worsened(14, 20, "higher_is_better", 6)


def test_ratings_where_low_is_good_never_share_an_axis_with_ratings_where_high_is_good() -> None:
    exercises = {
        "a": {
            "form": [
                {"key": "anxiety", "type": "scale", "min": 0, "max": 10},
                {"key": "pleasure", "type": "scale", "min": 0, "max": 10},
                {"key": "worry", "type": "scale", "min": 0, "max": 10, "flag": "distress"},
                {"key": "felt_heard", "type": "scale", "min": 0, "max": 10},
            ]
        }
    }
    keys = charts.rating_keys(exercises)
    groups = dict(charts.rating_key_groups(exercises, keys))
    assert [k for k, _ in groups["lower"]] == ["anxiety", "worry"]
    assert [k for k, _ in groups["higher"]] == ["felt_heard", "pleasure"]
    only_low = charts.rating_key_groups(exercises, [("anxiety", "Anxiety")])
    assert [name for name, _ in only_low] == ["lower"]
