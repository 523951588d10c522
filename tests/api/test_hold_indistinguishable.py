"""A safety hold is, to both partners, exactly a pause by their therapist (PRODUCT.md's
safety rules, privacy rule 4): the same homework, assignment and reminder views byte for
byte, for the partner who raised the flag and for the other one. Only the therapist
sees that it was a safety hold, and only the therapist's resume lifts it.

Two couples live through the same days: in one a partner's check-in raises a flag, in
the other the same check-in is calm and the therapist pauses. The instant at which
assignment changes are recorded is pinned (the history's `at`), so nothing but ids
needs normalising before the bytes are compared.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import select

import server.services.assignments as assignment_service
from server.extensions import db
from server.models import Reminder
from server.worker import inactivity_pass, plan_pass
from tests.factories import SF_CALM, Actor, Api, checkin_body

SF1 = "sf-1-nongenital-touch"
UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PARTNER_VIEWS = (
    "/api/v1/me/homework",
    "/api/v1/assignments/{aid}",
    "/api/v1/me/reminders",
    "/api/v1/me/reminder-settings",
)
DAY_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
INSTANT = re.compile(rb"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")


class Clock:
    """The instant assignment changes are recorded at."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    pinned = Clock()
    monkeypatch.setattr(assignment_service, "utcnow", pinned)
    return pinned


@dataclass
class Couple:
    therapist: Actor
    couple_id: str
    flagger: Actor
    other: Actor
    aid: str

    def names(self) -> dict[bytes, bytes]:
        return {
            self.therapist.id.encode(): b"<therapist>",
            self.couple_id.encode(): b"<couple>",
            self.flagger.id.encode(): b"<flagger>",
            self.other.id.encode(): b"<other>",
            self.aid.encode(): b"<assignment>",
        }


def make_couple(api: Api, timezones: tuple[str, str], start_date: date) -> Couple:
    t = api.therapist()
    c, a, b = api.couple_with_partners(t, timezones=timezones)
    r = api.call(
        "POST",
        f"/api/v1/couples/{c['id']}/assignments",
        t,
        json={"program": "sensate-focus-course", "start_date": start_date.isoformat()},
    )
    assert r.status_code == 201, r.get_json()
    return Couple(t, c["id"], a, b, r.get_json()["id"])


def normalize(body: bytes, couple: Couple) -> bytes:
    for raw, name in couple.names().items():
        body = body.replace(raw, name)
    return UUID.sub(b"<id>", body)


def normalized(api: Api, couple: Couple, partner: Actor, path: str) -> bytes:
    r = api.call("GET", path.format(aid=couple.aid), partner)
    assert r.status_code == 200, r.get_json()
    return normalize(r.data, couple)


def views(api: Api, couple: Couple) -> dict[tuple[str, str], bytes]:
    return {
        (who, path): normalized(api, couple, partner, path)
        for who, partner in (("flagger", couple.flagger), ("other", couple.other))
        for path in PARTNER_VIEWS
    }


def check_in(api: Api, couple: Couple, occurred_at: str, **extra: object) -> None:
    body = checkin_body(couple.aid, answers=dict(SF_CALM), occurred_at=occurred_at, **extra)
    r = api.call("POST", "/api/v1/checkins", couple.flagger, json=body)
    assert r.status_code == 201, r.get_json()


def call(api: Api, actor: Actor, path: str, **kwargs: object) -> dict:  # type: ignore[type-arg]
    r = api.call("POST", path, actor, **kwargs)
    assert r.status_code == 200, r.get_json()
    return r.get_json()  # type: ignore[no-any-return]


def reminders_of(app: Flask, *actors: Actor) -> list[Reminder]:
    with app.app_context():
        found = list(
            db.session.scalars(select(Reminder).where(Reminder.user_id.in_([a.id for a in actors])))
        )
        db.session.expunge_all()
        return found


def at_local(day: date, clock_time: time, zone: str) -> datetime:
    return datetime.combine(day, clock_time, tzinfo=ZoneInfo(zone)).astimezone(UTC)


SCENARIOS = {
    # name: (time zones of flagger and other, paused before the check-in, local time of
    # the flag or pause in the flagger's zone)
    "active": (("Europe/Berlin", "Europe/Berlin"), False, time(14, 5)),
    "already-paused": (("Europe/Berlin", "America/New_York"), True, time(9, 30)),
    # 23:40 in Pago Pago (UTC-11) is the next day in UTC and the day after that in
    # Kiritimati (UTC+14): each partner must see their own local day.
    "late-evening-far-from-utc": (("Pacific/Pago_Pago", "Pacific/Kiritimati"), False, time(23, 40)),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_safety_hold_looks_exactly_like_a_therapists_pause_to_both_partners(
    api: Api, app: Flask, clock: Clock, scenario: str
) -> None:
    timezones, paused_first, local_time = SCENARIOS[scenario]
    zone = timezones[0]
    now = datetime.now(UTC)
    day = now.astimezone(ZoneInfo(zone)).date() - timedelta(days=2)
    event_at = at_local(day, local_time, zone)
    occurred_at = (now - timedelta(minutes=30)).replace(microsecond=0)
    occurred = occurred_at.isoformat().replace("+00:00", "Z")

    clock.now = event_at - timedelta(days=3)
    held = make_couple(api, timezones, day - timedelta(days=7))
    paused = make_couple(api, timezones, day - timedelta(days=7))
    with app.app_context():
        plan_pass(now)  # both partners of both couples have reminders pending
    assert {r.status for r in reminders_of(app, held.flagger, held.other)} == {"pending"}
    if paused_first:
        clock.now = event_at - timedelta(days=1)
        for couple in (held, paused):
            call(api, couple.therapist, f"/api/v1/assignments/{couple.aid}/pause")

    clock.now = event_at
    check_in(api, held, occurred, flags={"pressured": True})
    check_in(api, paused, occurred)
    if not paused_first:
        call(api, paused.therapist, f"/api/v1/assignments/{paused.aid}/pause")
    # Reading the alert changes nothing a partner sees.
    (alert,) = api.call("GET", "/api/v1/alerts", held.therapist).get_json()
    call(api, held.therapist, f"/api/v1/alerts/{alert['id']}/ack")

    seen_held, seen_paused = views(api, held), views(api, paused)
    for key, body in seen_held.items():
        assert body == seen_paused[key], key

    # Their data exports hold the same assignment, and no trace of a hold.
    for who in ("flagger", "other"):
        exports = [
            api.call("GET", "/api/v1/me/export", getattr(couple, who)).get_json()
            for couple in (held, paused)
        ]
        assignments = [
            normalize(json.dumps(e["assignment"]).encode(), couple)
            for e, couple in zip(exports, (held, paused), strict=True)
        ]
        assert assignments[0] == assignments[1], who
        assert [a["action"] for a in exports[0]["activity"]] == [
            a["action"] for a in exports[1]["activity"]
        ]

    # And what they see is a plain pause, dated by each partner's own local day.
    for partner, partner_zone in zip((held.flagger, held.other), timezones, strict=True):
        homework = api.call("GET", "/api/v1/me/homework", partner).get_json()
        assert homework["status"] == "paused"
        assert homework["message"] == "Paused by your therapist."
        assert homework["items"]
        assert all(i["paused"] and not i["due_today"] for i in homework["items"])
        assert all(i["due_today_count"] == 0 for i in homework["items"])
        view = api.call("GET", f"/api/v1/assignments/{held.aid}", partner).get_json()
        assert view["status"] == "paused"
        assert "on_hold" not in view and "note" not in view
        assert [h["action"] for h in view["history"]] == ["assigned", "paused"]
        assert all(
            set(h) == {"at", "actor_id", "action", "from_stage", "to_stage"}
            for h in view["history"]
        )
        assert all(DAY_ONLY.fullmatch(h["at"]) for h in view["history"])
        assert view["history"][-1]["actor_id"] == held.therapist.id
        pause_at = event_at - timedelta(days=1) if paused_first else event_at
        assert (
            view["history"][-1]["at"]
            == pause_at.astimezone(ZoneInfo(partner_zone)).date().isoformat()
        )
        listed = api.call("GET", "/api/v1/me/reminders", partner).get_json()
        assert listed and {r["status"] for r in listed} == {"cancelled"}
    if scenario == "late-evening-far-from-utc":
        flagger_view = api.call("GET", f"/api/v1/assignments/{held.aid}", held.flagger).get_json()
        other_view = api.call("GET", f"/api/v1/assignments/{held.aid}", held.other).get_json()
        assert flagger_view["history"][-1]["at"] == day.isoformat()
        assert event_at.date() == day + timedelta(days=1)  # the UTC day is not the one shown
        assert other_view["history"][-1]["at"] == (day + timedelta(days=2)).isoformat()

    # Only the therapist sees that it was a safety hold, even on a paused program.
    therapist_view = api.call("GET", f"/api/v1/assignments/{held.aid}", held.therapist).get_json()
    assert therapist_view["on_hold"] is True
    assert therapist_view["status"] == "paused"
    assert therapist_view["history"][-1]["action"] == "held"
    assert therapist_view["history"][-1]["actor_id"] == held.flagger.id
    assert therapist_view["history"][-1]["at"].endswith("Z")
    assert (
        api.call("GET", f"/api/v1/assignments/{paused.aid}", paused.therapist).get_json()["on_hold"]
        is False
    )

    # Resuming lifts both, and the two couples still look alike.
    clock.now = event_at + timedelta(hours=1)
    for couple in (held, paused):
        call(api, couple.therapist, f"/api/v1/assignments/{couple.aid}/resume")
    seen_held, seen_paused = views(api, held), views(api, paused)
    for key, body in seen_held.items():
        assert body == seen_paused[key], key
    homework = api.call("GET", "/api/v1/me/homework", held.other).get_json()
    assert homework["status"] == "active"
    assert not any(i["paused"] for i in homework["items"])


@pytest.fixture
def couple(api: Api) -> Couple:
    start = datetime.now(UTC).date() - timedelta(days=7)
    return make_couple(api, ("Europe/Berlin", "Asia/Tokyo"), start)


def flag(api: Api, couple: Couple, exercise: str = SF1) -> None:
    answers = None if exercise == SF1 else {"sensation_detail": "x", "distress": 9}
    body = checkin_body(couple.aid, exercise=exercise, answers=answers, flags={"unsafe": True})
    r = api.call("POST", "/api/v1/checkins", couple.flagger, json=body)
    assert r.status_code == 201, r.get_json()


def pending(app: Flask, *actors: Actor) -> list[Reminder]:
    return [r for r in reminders_of(app, *actors) if r.status == "pending"]


@pytest.mark.parametrize("exercise", [SF1, "journal-touch-reflection"])
def test_a_flag_on_any_exercise_holds_the_whole_program_for_both(
    api: Api, couple: Couple, exercise: str
) -> None:
    flag(api, couple, exercise)
    for partner in (couple.flagger, couple.other):
        homework = api.call("GET", "/api/v1/me/homework", partner).get_json()
        assert homework["status"] == "paused"
        kinds = {i["joint"] for i in homework["items"]}
        assert kinds == {True, False}  # joint and solo exercises alike
        assert all(i["paused"] and not i["due_today"] for i in homework["items"])


def test_no_reminders_are_planned_for_either_partner_while_held(
    api: Api, app: Flask, couple: Couple
) -> None:
    now = datetime.now(UTC)
    with app.app_context():
        plan_pass(now)
    assert {r.user_id for r in pending(app, couple.flagger, couple.other)} == {
        couple.flagger.id,
        couple.other.id,
    }
    flag(api, couple, "journal-touch-reflection")  # a solo exercise
    # The hold re-plans both partners: what was planned is cancelled, never sent.
    assert pending(app, couple.flagger, couple.other) == []
    cancelled = [r for r in reminders_of(app, couple.other) if r.status == "cancelled"]
    assert cancelled and cancelled[0].error == "no longer due"
    for moment in (now, now + timedelta(hours=12), now + timedelta(days=3)):
        with app.app_context():
            assert plan_pass(moment)["planned"] == 0
    assert pending(app, couple.flagger, couple.other) == []
    # Nor any inactivity nudge, however long the hold lasts (as during a pause).
    with app.app_context():
        assert inactivity_pass(now + timedelta(days=10)) == {"nudges": 0, "alerts": 0}
    assert pending(app, couple.flagger, couple.other) == []


def test_acknowledging_the_alert_does_not_resume(api: Api, app: Flask, couple: Couple) -> None:
    flag(api, couple)
    (alert,) = api.call("GET", "/api/v1/alerts", couple.therapist).get_json()
    call(api, couple.therapist, f"/api/v1/alerts/{alert['id']}/ack")
    assert api.call("GET", "/api/v1/alerts", couple.therapist).get_json() == []
    view = api.call("GET", f"/api/v1/assignments/{couple.aid}", couple.therapist).get_json()
    assert view["on_hold"] is True and view["status"] == "paused"
    assert [h["action"] for h in view["history"]] == ["assigned", "held"]
    for partner in (couple.flagger, couple.other):
        assert api.call("GET", "/api/v1/me/homework", partner).get_json()["status"] == "paused"
    with app.app_context():
        assert plan_pass(datetime.now(UTC))["planned"] == 0
    # Nor does a therapist who tries to move on without resuming first.
    r = api.call("POST", f"/api/v1/assignments/{couple.aid}/advance", couple.therapist)
    assert r.status_code == 409


def test_resuming_lifts_the_hold_for_both(api: Api, app: Flask, couple: Couple) -> None:
    flag(api, couple)
    resumed = call(
        api,
        couple.therapist,
        f"/api/v1/assignments/{couple.aid}/resume",
        json={"reason": "Talked it through in session."},
    )
    assert resumed["on_hold"] is False and resumed["status"] == "active"
    assert [h["action"] for h in resumed["history"]] == ["assigned", "held", "resumed"]
    for partner in (couple.flagger, couple.other):
        homework = api.call("GET", "/api/v1/me/homework", partner).get_json()
        assert homework["status"] == "active" and homework["message"] is None
        assert not any(i["paused"] for i in homework["items"])
    with app.app_context():
        plan_pass(datetime.now(UTC))
    assert {r.user_id for r in pending(app, couple.flagger, couple.other)} == {
        couple.flagger.id,
        couple.other.id,
    }
    # The alert is still open: resuming is not reading it.
    assert len(api.call("GET", "/api/v1/alerts", couple.therapist).get_json()) == 1


# --- through the real `tandem serve` (two gunicorn workers) --------------------------


def test_through_the_real_server_a_hold_and_a_pause_look_alike(tmp_path: Path) -> None:
    from server.seeding import DEMO_THERAPIST
    from tests.factories import PASSWORD, unique_email
    from tests.live import live_server, serve_env

    instance = tmp_path / "instance"
    env = serve_env(instance, TANDEM_RATELIMIT_ENABLED="0")
    zones = ("Pacific/Pago_Pago", "Pacific/Kiritimati")
    with live_server(instance, workers=2, demo=True, env=env) as server:

        def ok(method: str, path: str, body: object = None, token: str | None = None) -> Any:
            status, answer = server.json(method, path, body, token=token)
            assert status in (200, 201), (path, status, answer)
            return answer

        t = ok(
            "POST",
            "/api/v1/auth/token",
            {"email": DEMO_THERAPIST[0], "password": DEMO_THERAPIST[1]},
        )
        t = t["access_token"]
        couples = []
        for label in ("Held", "Paused"):
            couple = ok("POST", "/api/v1/couples", {"label": label}, token=t)
            tokens = []
            for invite, zone in zip(couple["invites"], zones, strict=True):
                joined = ok(
                    "POST",
                    f"/api/v1/invites/{invite['code']}/accept",
                    {
                        "email": unique_email(),
                        "password": PASSWORD,
                        "name": "Sam",
                        "timezone": zone,
                    },
                )
                tokens.append((joined["access_token"], joined["user"]["id"]))
            start = (datetime.now(UTC) - timedelta(days=7)).date().isoformat()
            assignment = ok(
                "POST",
                f"/api/v1/couples/{couple['id']}/assignments",
                {"program": "sensate-focus-course", "start_date": start},
                token=t,
            )
            couples.append((couple["id"], assignment["id"], tokens))

        (held_id, held_aid, held_tokens), (paused_id, paused_aid, paused_tokens) = couples
        occurred = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
        occurred_at = occurred.isoformat().replace("+00:00", "Z")
        for aid, (token, _), flags in (
            (held_aid, held_tokens[0], {"unsafe": True}),
            (paused_aid, paused_tokens[0], {}),
        ):
            body = checkin_body(aid, answers=dict(SF_CALM), occurred_at=occurred_at, flags=flags)
            ok("POST", "/api/v1/checkins", body, token=token)
        ok("POST", f"/api/v1/assignments/{paused_aid}/pause", token=t)
        days = {zone: datetime.now(ZoneInfo(zone)).date().isoformat() for zone in zones}
        alerts = ok("GET", "/api/v1/alerts", token=t)
        for alert in alerts:
            if alert["couple_id"] == held_id:
                ok("POST", f"/api/v1/alerts/{alert['id']}/ack", token=t)

        def seen(couple_id: str, aid: str, tokens: list[tuple[str, str]]) -> list[bytes]:
            names = {couple_id: "<couple>", aid: "<assignment>", tokens[0][1]: "<flagger>"}
            names[tokens[1][1]] = "<other>"
            out = []
            for token, _ in tokens:
                for path in PARTNER_VIEWS:
                    status, _, raw = server.request(
                        "GET", path.format(aid=aid), headers={"Authorization": f"Bearer {token}"}
                    )
                    assert status == 200, (path, raw)
                    for value, name in names.items():
                        raw = raw.replace(value.encode(), name.encode())
                    # Instants (the assignment's creation) differ by the real clock here;
                    # local days do not, and stay compared.
                    out.append(INSTANT.sub(b"<instant>", UUID.sub(b"<id>", raw)))
            return out

        assert seen(held_id, held_aid, held_tokens) == seen(paused_id, paused_aid, paused_tokens)
        for (token, _), zone in zip(held_tokens, zones, strict=True):
            view = ok("GET", f"/api/v1/assignments/{held_aid}", token=token)
            assert view["status"] == "paused"
            assert [h["action"] for h in view["history"]] == ["assigned", "paused"]
            assert view["history"][-1]["at"] in (
                days[zone],
                datetime.now(ZoneInfo(zone)).date().isoformat(),
            )
        therapist_view = ok("GET", f"/api/v1/assignments/{held_aid}", token=t)
        assert therapist_view["on_hold"] is True
        assert therapist_view["history"][-1]["action"] == "held"
