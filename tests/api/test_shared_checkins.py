"""GET /api/v1/me/shared-checkins: what the other partner shared with the couple, and
nothing else of theirs (privacy rules 2-4)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import SF_CALM, Api, assign, check_in

URL = "/api/v1/me/shared-checkins"
SHARED = "what I want you to read"
FLAG_KEYS = {"pain", "distress", "pressured", "stopped", "unsafe"}


def _at(minutes_ago: int) -> str:
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes_ago)
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def couple(api: Api):  # type: ignore[no-untyped-def]
    """A couple on a one-stage program of the sensate-focus exercise the factories know
    (a custom program, so the catalog's programs may change their stages freely)."""
    t = api.therapist()
    c, a, b = api.couple_with_partners(t)
    slug = f"touch-{uuid.uuid4().hex[:8]}"
    stage = {
        "title": "Touch",
        "guidance": "Gently.",
        "exercises": [{"exercise": "sf-1-nongenital-touch", "per_week": 3}],
    }
    r = api.call(
        "POST", "/api/v1/programs", t, json={"slug": slug, "title": "Touch", "stages": [stage]}
    )
    assert r.status_code == 201, r.get_json()
    start = (datetime.now(UTC) - timedelta(days=7)).date().isoformat()
    aid = assign(api, t, c["id"], slug, start_date=start)["id"]
    return t, a, b, aid


def test_only_the_other_partners_couple_check_ins_newest_first(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    _, a, b, aid = couple
    older = check_in(api, a, aid, visibility="couple", occurred_at=_at(60), reflection=SHARED)
    newer = check_in(api, a, aid, visibility="couple", occurred_at=_at(5))
    check_in(api, a, aid, visibility="private", reflection="mine alone")
    check_in(api, a, aid, visibility="therapist")
    check_in(api, a, aid)  # the default: therapist
    check_in(api, b, aid, visibility="couple")  # b's own shared one is not "shared with b"

    r = api.call("GET", URL, b)
    assert r.status_code == 200
    body = r.get_json()
    assert [c["id"] for c in body] == [newer["id"], older["id"]]
    assert {c["author_id"] for c in body} == {a.id}
    assert body[1]["reflection"] == SHARED
    assert body[1]["answers"]["anxiety"] == SF_CALM["anxiety"]
    assert "mine alone" not in r.get_data(as_text=True)
    # The count is of what was shared, never of everything the other partner did.
    assert json.loads(r.headers["X-Pagination"])["total"] == 2


def test_never_flags_nor_the_answers_that_raise_them_nor_therapist_only_ones(
    api: Api, couple
) -> None:  # type: ignore[no-untyped-def]
    t, a, b, aid = couple
    check_in(api, a, aid, visibility="couple", answers={**SF_CALM, "pain": 7})
    body = api.call("GET", URL, b).get_json()
    assert len(body) == 1
    shared = body[0]
    assert "flags" not in shared and "safety" not in shared
    assert not FLAG_KEYS & set(shared["answers"])
    assert "ready_to_move_on" not in shared["answers"]  # informs the therapist only
    assert shared["answers"]["duration_minutes"] == SF_CALM["duration_minutes"]
    # The therapist still sees the flag.
    seen = api.call("GET", f"/api/v1/checkins/{shared['id']}", t).get_json()
    assert seen["flags"]["pain"] is True


def test_a_partner_of_another_couple_sees_nothing(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    t, a, _, aid = couple
    check_in(api, a, aid, visibility="couple")
    _, stranger, _ = api.couple_with_partners(t)
    r = api.call("GET", URL, stranger)
    assert r.status_code == 200 and r.get_json() == []
    assert json.loads(r.headers["X-Pagination"])["total"] == 0


def test_therapists_are_refused_and_anonymous_callers_too(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    t, _, _, _ = couple
    forbidden = api.call("GET", URL, t)
    assert forbidden.status_code == 403
    assert forbidden.content_type == "application/problem+json"
    assert api.call("GET", URL).status_code == 401


def test_paginated_like_every_list(api: Api, couple) -> None:  # type: ignore[no-untyped-def]
    _, a, b, aid = couple
    ids = [
        check_in(api, a, aid, visibility="couple", occurred_at=_at(10 * n))["id"] for n in range(3)
    ]
    first = api.call("GET", f"{URL}?page_size=2", b)
    second = api.call("GET", f"{URL}?page_size=2&page=2", b)
    assert [c["id"] for c in first.get_json()] == ids[:2]
    assert [c["id"] for c in second.get_json()] == ids[2:]
    meta = json.loads(first.headers["X-Pagination"])
    assert meta["total"] == 3 and meta["total_pages"] == 2 and meta["next_page"] == 2
    assert api.call("GET", f"{URL}?page=3&page_size=2", b).status_code == 404
    assert api.call("GET", f"{URL}?page_size=101", b).status_code == 422
