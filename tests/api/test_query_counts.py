"""A constant number of SQL statements per request, whatever the amount of data.

Each test builds two worlds in the same database through the API, as the phone app and
the portal would: a small one (one couple, a program started today, one check-in per
partner) and a larger one (five couples in varied time zones; the measured couple's
program started eight weeks ago and was advanced a stage, with dozens of check-ins per
partner over those weeks, private, shared and flagged ones, and an open safety alert).
It counts the statements one request sends to the database in each world and asserts
that the counts are equal: a count that grows with the data is a query in a loop (N+1).

Statements are counted with a `before_cursor_execute` listener on the app's engine, so
everything is in: authentication, the view's queries and the flush, including the audit
events of a therapist's read (SQLAlchemy sends a flush of many rows of one table as one
multi-row INSERT). COMMIT is not a cursor statement.

Counts when this test was written, the same on SQLite and PostgreSQL. Each endpoint
also has a budget a little above its count, so that the suite notices a request that
gets heavier even when it stays constant:

| endpoint                           | statements                                       |
|------------------------------------|--------------------------------------------------|
| GET  /api/v1/me/homework           | 3: session+user+current assignment, own          |
|                                    |    check-ins, questionnaires due (autocommit: no |
|                                    |    BEGIN or COMMIT round trip, tested below)     |
| POST /api/v1/checkins              | 3: session+user+current assignment, INSERT …     |
|                                    |    ON CONFLICT DO NOTHING (no savepoint, no id   |
|                                    |    lookup first), INSERT of the replan request   |
| GET  /api/v1/couples               | 8: session+user, count, page, partners, invites, |
|                                    |    assignments, recent check-ins, open alerts    |
| GET  /api/v1/couples/{id}/progress | 7: session+user, couple, partners, invites,      |
|                                    |    assignment, check-ins, assignment events      |
| GET  /api/v1/couples/{id}/checkins | 7: session+user, couple, partners, invites,      |
|                                    |    count, page, one INSERT of the audit events   |
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from server.extensions import db
from tests.factories import Actor, Api, assign, check_in, checkin_body

SF1 = "sf-1-nongenital-touch"
SF2 = "sf-2-genital-touch"
APPRECIATIONS = "daily-appreciations"


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass
class World:
    """One therapist's practice, seen from the couple whose requests are measured."""

    therapist: Actor
    couple_id: str
    assignment_id: str
    partner: Actor
    other_partner: Actor


def _small_world(api: Api) -> World:
    therapist = api.therapist()
    couple, a, b = api.couple_with_partners(therapist)
    assignment = assign(api, therapist, couple["id"])
    check_in(api, a, assignment["id"])
    check_in(api, b, assignment["id"])
    return World(therapist, couple["id"], assignment["id"], a, b)


def _large_world(api: Api, *, couples: int = 5, weeks: int = 8) -> World:
    """Several couples; the measured one has `weeks` weeks of history, two stages and
    check-ins of every visibility, and a flagged one that left an alert open."""
    therapist = api.therapist()
    now = datetime.now(UTC)
    start = (now - timedelta(weeks=weeks)).date()
    measured: World | None = None
    for n in range(couples):
        zones = ("America/Los_Angeles", "Asia/Tokyo") if n % 2 else ("Europe/Berlin", "UTC")
        couple, a, b = api.couple_with_partners(therapist, timezones=zones)
        assignment = assign(api, therapist, couple["id"], start_date=start.isoformat())
        if measured is None:
            measured = World(therapist, couple["id"], assignment["id"], a, b)
            _history(api, measured, start=start, now=now)
        else:
            check_in(api, a, assignment["id"])
            check_in(api, b, assignment["id"], visibility="private")
    assert measured is not None
    return measured


def _history(api: Api, world: World, *, start: date, now: datetime) -> None:
    """Weeks of stage-1 check-ins from both partners, then stage 2 with this week's."""
    first = datetime.combine(start, datetime.min.time(), tzinfo=UTC) + timedelta(days=1, hours=12)
    visibilities = ("therapist", "private", "couple")
    n = 0
    for partner in (world.partner, world.other_partner):
        day = first
        while day < now - timedelta(days=2):
            for exercise in (SF1, APPRECIATIONS):
                check_in(
                    api,
                    partner,
                    world.assignment_id,
                    exercise=exercise,
                    occurred_at=_iso(day),
                    visibility=visibilities[n % 3],
                    reflection="Slower this time." if n % 4 == 0 else None,
                )
                n += 1
            day += timedelta(days=4)
    r = api.call(
        "PATCH",
        f"/api/v1/assignments/{world.assignment_id}",
        world.therapist,
        json={"note": "Going well.", "overrides": {APPRECIATIONS: {"per_week": 4}}},
    )
    assert r.status_code == 200, r.get_json()
    r = api.call(
        "POST",
        f"/api/v1/assignments/{world.assignment_id}/advance",
        world.therapist,
        json={"reason": "Both ready."},
    )
    assert r.status_code == 200, r.get_json()
    calm = _answers(api, world.partner)
    for partner in (world.partner, world.other_partner):
        check_in(api, partner, world.assignment_id, exercise=SF2, answers=calm)
    # A flagged check-in: an alert for the therapist and the joint exercises on hold.
    flagged = {**calm, "pain": 8}
    body = checkin_body(world.assignment_id, exercise=SF2, answers=flagged)
    r = api.call("POST", "/api/v1/checkins", world.other_partner, json=body)
    assert r.status_code == 201, r.get_json()


def _answers(api: Api, partner: Actor) -> dict[str, Any]:
    """Valid answers for stage 2's sensate-focus exercise, from its form."""
    form = api.call("GET", f"/api/v1/exercises/{SF2}", partner).get_json()["form"]
    answers: dict[str, Any] = {}
    for q in form:
        if not q["required"]:
            continue
        if q["type"] == "scale":
            answers[q["key"]] = q["min"]
        elif q["type"] == "boolean":
            answers[q["key"]] = q["key"] in ("refocused", "within_limits")
        elif q["type"] == "choice":
            answers[q["key"]] = [q["options"][0]] if q.get("multiple") else q["options"][0]
        else:
            answers[q["key"]] = "Fine."
    return answers


# --- counting -----------------------------------------------------------------------


@contextmanager
def statements(app: Flask) -> Iterator[list[str]]:
    """Collect the SQL statements sent to the database while the block runs."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split())[:160])

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


# Each entry prepares one request (set-up outside the count) and returns the call that
# is measured. The check-in is a daily appreciation: part of stages 1 and 2 alike.
Prepared = Callable[[], Any]


def _homework(api: Api, w: World) -> Prepared:
    return lambda: api.call("GET", "/api/v1/me/homework", w.partner)


def _post_checkin(api: Api, w: World) -> Prepared:
    body = checkin_body(w.assignment_id, exercise=APPRECIATIONS, reflection="Easy today.")
    return lambda: api.call("POST", "/api/v1/checkins", w.partner, json=body)


def _couples(api: Api, w: World) -> Prepared:
    return lambda: api.call("GET", "/api/v1/couples", w.therapist)


def _progress(api: Api, w: World) -> Prepared:
    return lambda: api.call("GET", f"/api/v1/couples/{w.couple_id}/progress", w.therapist)


def _couple_checkins(api: Api, w: World) -> Prepared:
    return lambda: api.call("GET", f"/api/v1/couples/{w.couple_id}/checkins", w.therapist)


# name → (prepare, expected status, budget: at most this many statements)
ENDPOINTS: dict[str, tuple[Callable[[Api, World], Prepared], int, int]] = {
    "GET /me/homework": (_homework, 200, 3),
    "POST /checkins": (_post_checkin, 201, 3),
    "GET /couples": (_couples, 200, 10),
    "GET /couples/{id}/progress": (_progress, 200, 9),
    "GET /couples/{id}/checkins": (_couple_checkins, 200, 9),
}


def _count(app: Flask, call: Prepared, status: int) -> list[str]:
    with statements(app) as seen:
        response = call()
    assert response.status_code == status, response.get_json()
    return seen


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_statements_per_request_do_not_grow_with_the_data(app: Flask, api: Api, name: str) -> None:
    prepare, status, budget = ENDPOINTS[name]
    small = _small_world(api)
    large = _large_world(api)
    # Warm up: the first request of a process may load things once (e.g. dialect state).
    prepare(api, small)()

    in_small = _count(app, prepare(api, small), status)
    in_large = _count(app, prepare(api, large), status)

    detail = "\nsmall:\n  " + "\n  ".join(in_small) + "\nlarge:\n  " + "\n  ".join(in_large)
    assert len(in_large) == len(in_small), f"{name}: {len(in_small)} → {len(in_large)}{detail}"
    assert len(in_small) <= budget, f"{name}: {len(in_small)} statements > {budget}{detail}"


def _autocommit(dbapi_connection: Any) -> bool:
    """psycopg says `autocommit`; sqlite3 has no transaction when `isolation_level` is None."""
    if hasattr(dbapi_connection, "autocommit") and not hasattr(dbapi_connection, "in_transaction"):
        return bool(dbapi_connection.autocommit)
    return dbapi_connection.isolation_level is None  # type: ignore[no-any-return]


def test_the_homework_reads_in_autocommit_and_writes_stay_transactions(
    app: Flask, api: Api
) -> None:
    """The homework GET sends its statements in autocommit (no BEGIN/COMMIT round
    trips); the connection goes back to the pool transactional, so the check-in POST
    that follows on it still writes in one transaction."""
    w = _small_world(api)
    modes: list[tuple[str, bool]] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        modes.append((statement.split()[0], _autocommit(conn.connection.dbapi_connection)))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        for _ in range(2):
            assert _homework(api, w)().status_code == 200
            homework, modes[:] = list(modes), []
            assert _post_checkin(api, w)().status_code == 201
            checkin, modes[:] = list(modes), []
            assert homework and all(auto for _, auto in homework), homework
            assert checkin and not any(auto for _, auto in checkin), checkin
    finally:
        event.remove(engine, "before_cursor_execute", record)
