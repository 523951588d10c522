"""Races that only a real database with concurrent transactions can show (PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from flask import Flask

from tests.factories import PASSWORD, Api, unique_email


def race(app: Flask, calls: list[Callable[[], int]]) -> list[int]:
    """Run the calls at the same moment, each on its own thread and connection."""
    barrier = threading.Barrier(len(calls))
    results: list[int] = [0] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_one_invite_accepted_twice_at_once_joins_one_person(
    pg_url: str, app: Flask, api: Api
) -> None:
    therapist = api.therapist()
    for _ in range(3):
        couple = api.couple(therapist)
        code = couple["invites"][0]["code"]

        def accept(code: str = code) -> int:
            body = {
                "email": unique_email(),
                "password": PASSWORD,
                "name": "Kim",
                "timezone": "Europe/Oslo",
            }
            return app.test_client().post(f"/api/v1/invites/{code}/accept", json=body).status_code

        assert sorted(race(app, [accept, accept])) == [201, 409]
        seen = api.call("GET", f"/api/v1/couples/{couple['id']}", therapist).get_json()
        assert len(seen["partners"]) == 1


def test_one_refresh_token_used_twice_at_once_yields_one_pair(
    pg_url: str, app: Flask, api: Api
) -> None:
    t = api.therapist()

    def refresh() -> int:
        return (
            app.test_client()
            .post("/api/v1/auth/refresh", json={"refresh_token": t.refresh_token})
            .status_code
        )

    statuses = race(app, [refresh, refresh])
    assert sorted(statuses) == [200, 401]


def test_same_email_signing_up_twice_at_once_creates_one_account(
    pg_url: str, app: Flask, api: Api
) -> None:
    email = unique_email()

    def sign_up() -> int:
        return (
            app.test_client()
            .post(
                "/api/v1/auth/therapists", json={"email": email, "password": PASSWORD, "name": "X"}
            )
            .status_code
        )

    # Both answer as any sign-up does (no enumeration); the unique index keeps one account.
    assert race(app, [sign_up, sign_up]) == [202, 202]
    from sqlalchemy import func, select

    from server.extensions import db
    from server.models import User

    with app.app_context():
        assert db.session.scalar(select(func.count()).where(User.email == email)) == 1


def test_two_identical_check_ins_at_once_store_one_row(pg_url: str, app: Flask, api: Api) -> None:
    from sqlalchemy import func, select

    from server.extensions import db
    from server.models import Alert, CheckIn
    from tests.factories import assign, checkin_body

    t = api.therapist()
    couple, a, _ = api.couple_with_partners(t)
    aid = assign(api, t, couple["id"])["id"]
    for _ in range(3):
        body = checkin_body(aid, flags={"unsafe": True})

        def post(body: dict = body) -> int:  # type: ignore[type-arg]
            return (
                app.test_client().post("/api/v1/checkins", json=body, headers=a.headers).status_code
            )

        assert sorted(race(app, [post, post])) == [200, 201]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CheckIn)) == 3
        assert db.session.scalar(select(func.count()).select_from(Alert)) == 3


def test_assigning_twice_at_once_leaves_one_running_assignment(
    pg_url: str, app: Flask, api: Api
) -> None:
    t = api.therapist()
    couple, _, _ = api.couple_with_partners(t)

    def post() -> int:
        return (
            app.test_client()
            .post(
                f"/api/v1/couples/{couple['id']}/assignments",
                json={"program": "communication-foundations"},
                headers=t.headers,
            )
            .status_code
        )

    assert sorted(race(app, [post, post])) == [201, 409]
