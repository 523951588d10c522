"""Hostile input is a 4xx problem, never a 500 (API.md, Conventions; issue 9, defect 5).

Every operation of the served OpenAPI document gets every hostile value in every place
of a body that works (and bodiless operations a body of their own), every query
parameter gets hostile values, and the fields with ranges (dates, push tokens, portal
numbers) are checked one by one. The same tables drive the sweep against the running
server (tests/e2e/test_hostile_sweep.py).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from hashlib import sha256
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from server.crypto import cipher
from server.extensions import db
from server.models import CheckIn
from tests.api.test_permissions import CASES, ROLES, Case, actor_for
from tests.factories import SF_CALM, Api, assign, build_world, check_in
from tests.portal.helpers import html, post, sign_in

PROBLEM = "application/problem+json"
MARK = "@@hostile@@"
MAX_DEPTH = 64  # API.md, Conventions: deeper JSON is a 4xx


@dataclass(frozen=True)
class Hostile:
    """A JSON value (as JSON text) and whether every field must refuse it."""

    name: str
    raw: str
    refused: bool


HOSTILE_JSON = [
    # Refused wherever they appear: 400 (not JSON we take) or 422 (naming the field).
    Hostile("lone-surrogate", r'"\ud800"', True),
    Hostile("surrogate-in-text", r'"fine \udfff fine"', True),
    Hostile("nul", r'"a\u0000b"', True),
    Hostile("nested-1000", "[" * 1000 + "]" * 1000, True),
    Hostile("nested-65", "[" * MAX_DEPTH + "]" * MAX_DEPTH, True),
    Hostile("int-5000-digits", "9" * 5000, True),
    Hostile("int-2^63", str(2**63), True),
    Hostile("int-minus-2^63", str(-(2**63)), True),
    Hostile("float-1e400", "1e400", True),
    Hostile("nan", "NaN", True),
    Hostile("minus-infinity", "-Infinity", True),
    Hostile("surrogate-key", r'{"\udc00": 1}', True),
    Hostile("nul-key", r'{"a\u0000": 1}', True),
    # Fine in some fields (a name may be "²"); whatever they are, never a 5xx.
    Hostile("instant-year-1", '"0001-01-01T00:00:00Z"', False),
    Hostile("instant-year-9999", '"9999-12-31T23:59:59-14:00"', False),
    Hostile("date-year-1", '"0001-01-01"', False),
    Hostile("date-year-9999", '"9999-12-31"', False),
    Hostile("superscript-two", r'"\u00b2"', False),
    Hostile("arabic-indic-three", r'"\u0663"', False),
    Hostile("int-2^63-1", str(2**63 - 1), False),
    Hostile("int-minus-2^31", str(-(2**31)), False),
    Hostile("float-tiny", "1e-400", False),
    Hostile("long-text", '"' + "x" * 100_000 + '"', False),
    # Over PostgreSQL's btree entry limit (about 2,700 bytes) and not compressible.
    Hostile(
        "text-3000", '"' + "".join(sha256(bytes([i])).hexdigest() for i in range(47)) + '"', False
    ),
    Hostile("bidi-emoji-controls", r'"\u202e\ud83d\ude00\u0001\u001f\u007f"', False),
    Hostile("empty-object", "{}", False),
    Hostile("null", "null", False),
]

# Query-string values, percent-encoded as sent. NUL and over-long values are refused.
HOSTILE_QUERY = [
    Hostile("nul", "a%00b", True),
    Hostile("too-long", "x" * 3000, True),  # over 2,048; gunicorn takes 4,094 a line
    Hostile("invalid-utf8-surrogate", "%ED%A0%80", False),
    Hostile("invalid-utf8", "%FF%FE", False),
    Hostile("date-year-1", "0001-01-01", False),
    Hostile("date-year-9999", "9999-12-31", False),
    Hostile("superscript-two", quote("\u00b2"), False),
    Hostile("arabic-indic-three", quote("\u0663"), False),
    Hostile("huge-number", "9" * 400, False),
]

# `page` and `page_size` belong to the spec work on pagination, not to this sweep.
SKIPPED_QUERY = {"page", "page_size"}


# --- helpers shared with the end-to-end sweep -------------------------------------------


def leaf_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON body a value sits (containers included, the root excluded)."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*path, key)
            yield from leaf_paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield (*path, index)
            yield from leaf_paths(child, (*path, index))


def with_hostile(body: Any, path: tuple[Any, ...], hostile: Hostile) -> str:
    """`body` as JSON text with the value at `path` replaced by the hostile JSON text."""
    copy = json.loads(json.dumps(body))
    target = copy
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = MARK
    text = json.dumps(copy)
    return text.replace(json.dumps(MARK), hostile.raw, 1)


def variants(body: Any, *, refused_everywhere: bool = True) -> Iterator[tuple[str, str]]:
    """(label, JSON text) for every hostile value in every place of `body`; a bodiless
    operation gets `{"x-extra": value}`, and every body an extra key too. Without
    `refused_everywhere`, values refused at the edge go only to the deepest place and
    the extra key (where they sit does not matter to the edge; this sweep proves it)."""
    base = body if isinstance(body, dict) else {}
    places = [*(leaf_paths(base) if base else []), ("x-extra",)]
    deepest = max(places, key=len)
    for hostile in HOSTILE_JSON:
        where = places
        if hostile.refused and not refused_everywhere:
            where = list(dict.fromkeys([deepest, ("x-extra",)]))
        for path in where:
            fresh = _fresh_ids(base)
            yield f"{hostile.name}@{'.'.join(map(str, path))}", with_hostile(fresh, path, hostile)


def _fresh_ids(body: dict[str, Any]) -> dict[str, Any]:
    """A client-chosen `id` (a check-in's) made new, so a variant that is accepted does
    not turn the following ones into conflicts."""
    if isinstance(body.get("id"), str) and re.fullmatch(r"[0-9a-f-]{36}", body["id"]):
        return {**body, "id": str(uuid.uuid4())}
    return body


def hostile_of(label: str) -> Hostile:
    name = label.split("@", 1)[0]
    return next(h for h in HOSTILE_JSON if h.name == name)


def check_answer(status: int, content_type: str, text: str, refused: bool, what: str) -> None:
    """Never a 5xx; errors are problem+json; a value that must be refused is 400 or 422,
    and the answer does not echo a surrogate or NUL back."""
    assert status < 500, (what, status, text[:300])
    if status >= 400:
        assert content_type.startswith(PROBLEM) or content_type.startswith("text/html"), (
            what,
            content_type,
        )
    if refused:
        assert status in (400, 422), (what, status, text[:300])
    assert "\\ud800" not in text.lower() and "\\u0000" not in text, (what, text[:300])


def openapi_operations(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """ "METHOD /path/{param}" → operation, from the served document."""
    return {
        f"{method.upper()} {path}": op
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    }


def spec_key(case: Case) -> str:
    return case.method + " " + _RULE_PARAM.sub(r"{\1}", case.rule)


_RULE_PARAM = re.compile(r"<(?:[^:>]+:)?([^>]+)>")


def query_parameters(op: dict[str, Any]) -> list[str]:
    names = [p["name"] for p in op.get("parameters", []) if p.get("in") == "query"]
    return [n for n in names if n not in SKIPPED_QUERY]


def acting_role(case: Case) -> str:
    """Who can use the operation (a 2xx caller), so that hostile input reaches it."""
    for role in ("client", "therapist", "anonymous", *ROLES):
        if case.expect.get(role, 500) < 300:
            return role
    return "therapist"


API_CASES = [c for c in CASES if c.rule.startswith("/api/v1/") and "/docs" not in c.rule]


# --- every operation ------------------------------------------------------------------


def test_every_operation_of_the_spec_is_swept(app: Flask) -> None:
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    assert set(openapi_operations(spec)) <= {spec_key(c) for c in API_CASES}


@pytest.mark.parametrize("case", API_CASES, ids=lambda c: c.key)
def test_hostile_json_never_fails_an_operation(api: Api, app: Flask, case: Case) -> None:
    world = build_world(api)
    actor = actor_for(world, acting_role(case))
    path = case.path(api, world)
    body = case.body(api, world) if case.body else None
    if case.key == "POST /api/v1/checkins":
        body = {**body, "reflection": "Slow and kind.", "visibility": "therapist"}
    for label, text in variants(body):
        r = api.call(case.method, path, actor, data=text, content_type="application/json")
        check_answer(
            r.status_code,
            r.content_type or "",
            r.get_data(as_text=True),
            hostile_of(label).refused,
            f"{case.key} {label}",
        )
        assert r.content_type == PROBLEM or r.status_code < 400


@pytest.mark.parametrize("case", [c for c in API_CASES if c.method == "GET"], ids=lambda c: c.key)
def test_hostile_query_strings_never_fail_an_operation(api: Api, app: Flask, case: Case) -> None:
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    names = [*query_parameters(openapi_operations(spec).get(spec_key(case), {})), "unknown"]
    world = build_world(api)
    actor = actor_for(world, acting_role(case))
    path = case.path(api, world)
    for name in names:
        for hostile in HOSTILE_QUERY:
            r = api.call("GET", f"{path}?{name}={hostile.raw}", actor)
            check_answer(
                r.status_code,
                r.content_type or "",
                r.get_data(as_text=True),
                hostile.refused,
                f"{case.key} ?{name}={hostile.name}",
            )


# --- what the edge answers ------------------------------------------------------------


def test_a_lone_surrogate_in_sign_in_is_422_naming_the_field(api: Api) -> None:
    r = api.call(
        "POST",
        "/api/v1/auth/token",
        data='{"email": "a@example.test", "password": "x\\ud800"}',
        content_type="application/json",
    )
    assert r.status_code == 422 and r.content_type == PROBLEM
    body = r.get_json()
    assert body["errors"] == {
        "password": ["Must be valid Unicode text (no lone UTF-16 surrogates)."]
    }


def test_a_nul_deep_in_a_body_is_named_by_its_path(api: Api) -> None:
    t = api.therapist()
    program = {
        "slug": "own-nul",
        "title": "T",
        "stages": [{"title": "A\u0000", "exercises": [{"exercise": "x", "per_week": 1}]}],
    }
    r = api.call("POST", "/api/v1/programs", t, json=program)
    assert r.status_code == 422
    assert r.get_json()["errors"] == {"stages.0.title": ["Must not contain NUL characters."]}


def test_nesting_up_to_64_levels_is_parsed_and_65_is_400(api: Api) -> None:
    t = api.therapist()
    deep_64 = '{"label": ' + "[" * 63 + "]" * 63 + "}"
    r = api.call("POST", "/api/v1/couples", t, data=deep_64, content_type="application/json")
    assert r.status_code == 422 and "label" in r.get_json()["errors"]  # the schema's answer
    deep_65 = '{"label": ' + "[" * 64 + "]" * 64 + "}"
    r = api.call("POST", "/api/v1/couples", t, data=deep_65, content_type="application/json")
    assert r.status_code == 400 and r.content_type == PROBLEM
    assert r.get_json()["code"] == "json_too_deep"
    assert api.call("GET", "/api/v1/couples", t).get_json() == []


@pytest.mark.parametrize("number", ["9" * 5000, str(2**63), "1e400", "NaN"])
def test_numbers_that_do_not_fit_are_422_naming_the_field(api: Api, number: str) -> None:
    t = api.therapist()
    couple = api.couple(t)
    aid = assign(api, t, couple["id"])["id"]
    text = '{"overrides": {"sf-1-nongenital-touch": {"per_week": ' + number + "}}}"
    r = api.call(
        "PATCH", f"/api/v1/assignments/{aid}", t, data=text, content_type="application/json"
    )
    assert r.status_code == 422, r.get_data(as_text=True)[:300]
    assert list(r.get_json()["errors"]) == ["overrides.sf-1-nongenital-touch.per_week"]


def test_a_body_that_is_not_utf8_is_400(api: Api) -> None:
    r = api.call(
        "POST", "/api/v1/auth/token", data=b'{"email": "\xff"}', content_type="application/json"
    )
    assert r.status_code == 400 and r.content_type == PROBLEM


@pytest.mark.parametrize(
    "occurred_at", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00", "1899-12-31T23:59:59Z"]
)
def test_instants_outside_1900_to_2200_are_422(api: Api, occurred_at: str) -> None:
    t = api.therapist()
    couple, a, _ = api.couple_with_partners(t)
    aid = assign(api, t, couple["id"])["id"]
    from tests.factories import checkin_body

    r = api.call("POST", "/api/v1/checkins", a, json=checkin_body(aid, occurred_at=occurred_at))
    assert r.status_code == 422, r.get_data(as_text=True)[:300]
    assert list(r.get_json()["errors"]) == ["occurred_at"]


@pytest.mark.parametrize("when", ["0001-01-01", "9999-12-31", "2201-01-01"])
def test_local_dates_outside_1900_to_2200_are_422(api: Api, when: str) -> None:
    t = api.therapist()
    couple, a, _ = api.couple_with_partners(t)
    r = api.call("GET", f"/api/v1/me/reminders?from={when}&to={when}", a)
    assert r.status_code == 422, r.get_data(as_text=True)[:300]
    assert set(r.get_json()["errors"]) == {"from", "to"}
    r = api.call(
        "POST",
        f"/api/v1/couples/{couple['id']}/assignments",
        t,
        json={"program": "sensate-focus-course", "start_date": when},
    )
    assert r.status_code == 422 and list(r.get_json()["errors"]) == ["start_date"]


def test_dates_at_the_edges_of_the_range_are_accepted(api: Api) -> None:
    t = api.therapist()
    _, a, _ = api.couple_with_partners(t)
    for window in ("from=1900-01-01&to=1900-01-31", "from=2200-12-01&to=2200-12-31"):
        r = api.call("GET", f"/api/v1/me/reminders?{window}", a)
        assert r.status_code == 200, r.get_data(as_text=True)[:300]


@pytest.mark.parametrize(
    ("token", "status"),
    [("t" * 1024, 201), ("t" * 1025, 422), ("t" * 3000, 422), ("é" * 900, 422), ("a b", 422)],
    ids=["1024-ascii", "1025", "3000", "non-ascii", "space"],
)
def test_device_tokens_are_capped_well_below_the_index_limit(
    api: Api, token: str, status: int
) -> None:
    """PostgreSQL's btree index takes at most 2,704 bytes per entry; tokens are ASCII of
    at most 1,024 characters (FCM's are about 160)."""
    t = api.therapist()
    r = api.call("POST", "/api/v1/me/devices", t, json={"token": token, "platform": "android"})
    assert r.status_code == status, r.get_data(as_text=True)[:300]
    if status == 422:
        assert list(r.get_json()["errors"]) == ["token"]


def test_nul_in_a_query_string_is_422(api: Api) -> None:
    r = api.call("GET", "/api/v1/exercises?kind=a%00b", api.therapist())
    assert r.status_code == 422 and r.content_type == PROBLEM
    assert r.get_json()["errors"] == {"kind": ["Must not contain NUL characters."]}


def test_refused_input_changes_nothing(api: Api) -> None:
    t = api.therapist()
    r = api.call(
        "POST",
        "/api/v1/couples",
        t,
        data=r'{"label": "R. \ud800 S."}',
        content_type="application/json",
    )
    assert r.status_code == 422
    assert api.call("GET", "/api/v1/couples", t).get_json() == []


# --- the portal -----------------------------------------------------------------------


@pytest.fixture
def portal(api: Api, client: FlaskClient) -> tuple[Api, FlaskClient, Any]:
    world = build_world(api)
    sign_in(client, world.therapist)
    return api, client, world


def _assignment(api: Api, world: Any) -> str:
    return str(assign(api, world.therapist, world.couple["id"])["id"])


def test_portal_forms_refuse_nul_with_a_page_not_a_500(portal: Any) -> None:
    api, client, world = portal
    r = post(client, "/portal/couples", label="R.\x00S.")
    assert r.status_code == 422 and "text/html" in r.content_type
    assert "NUL" in html(r)
    r = post(client, f"/portal/assignments/{_assignment(api, world)}/pause", reason="why\x00")
    assert r.status_code == 422
    assert (
        client.post("/portal/login", data={"email": "a\x00@x", "password": "p"}).status_code == 422
    )


@pytest.mark.parametrize("value", ["\u00b2", "\u0663", "3\u00b2", "9" * 400, "-1", "+"])
def test_portal_weekly_targets_take_ascii_digits_only(portal: Any, value: str) -> None:
    api, client, world = portal
    aid = _assignment(api, world)
    r = post(
        client, f"/portal/assignments/{aid}/targets", **{"per_week-sf-1-nongenital-touch": value}
    )
    assert r.status_code == 303
    page = html(client.get(r.headers["Location"]))
    assert "whole numbers" in page or "Must be between" in page
    view = api.call("GET", f"/api/v1/assignments/{aid}", world.therapist).get_json()
    assert view["overrides"] == {}


@pytest.mark.parametrize("page", ["\u00b2", "\u0663", "10" + "0" * 17, "-1", "0", "x"])
def test_portal_page_numbers_take_ascii_digits_only(portal: Any, page: str) -> None:
    _, client, world = portal
    r = client.get(f"/portal/couples/{world.couple['id']}?page={quote(page)}")
    assert r.status_code == 200


@pytest.mark.parametrize(
    "start",
    [
        "0001-01-01",
        "9999-12-31",
        "2026-02-30",
        "\u0662\u0660\u0662\u0666-\u0660\u0661-\u0660\u0661",
    ],
)
def test_portal_start_dates_outside_the_range_are_refused(portal: Any, start: str) -> None:
    _, client, world = portal
    r = post(
        client,
        f"/portal/couples/{world.couple['id']}/assignments",
        program="sensate-focus-course",
        start_date=start,
    )
    assert r.status_code == 303
    assert "not a date" in html(client.get(r.headers["Location"]))


def test_stored_text_a_page_cannot_encode_still_renders(portal: Any, app: Flask) -> None:
    """A reflection stored before the edge refused lone surrogates and NULs (written here
    directly, past the API) does not take the couple's page down with it: the newest
    flagged check-in is still shown."""
    api, client, world = portal
    aid = _assignment(api, world)
    check_in(api, world.client, aid, answers={**SF_CALM, "pain": 8}, reflection="placeholder")
    with app.app_context():
        secret = {"answers": {}, "reflection": "It hurt \ud800 and \x00 then"}
        db.session.execute(
            update(CheckIn).values(text_encrypted=cipher().encrypt(json.dumps(secret)))
        )
        db.session.commit()
    r = client.get(f"/portal/couples/{world.couple['id']}")
    assert r.status_code == 200
    page = html(r)
    assert "It hurt \ufffd and \ufffd then" in page
    assert "pain" in page.lower()
    # The API hands it out as valid Unicode too (strict JSON decoders refuse a lone
    # surrogate escape).
    r = api.call("GET", f"/api/v1/couples/{world.couple['id']}/checkins", world.therapist)
    assert r.status_code == 200
    assert "\\ud800" not in r.get_data(as_text=True)
    assert r.get_json()[0]["reflection"] == "It hurt \ufffd and \ufffd then"


def test_every_api_blueprint_loads_the_body_the_edge_checked(app: Flask) -> None:
    """`@blp.arguments` takes the body `server.input_guard` parsed, not a second parse."""
    from flask_smorest import Blueprint as SmorestBlueprint

    from server.input_guard import ArgumentsParser

    blueprints = [b for b in app.blueprints.values() if isinstance(b, SmorestBlueprint)]
    assert len(blueprints) >= 9
    for blueprint in blueprints:
        assert isinstance(blueprint.ARGUMENTS_PARSER, ArgumentsParser), blueprint.name


@pytest.mark.parametrize(
    ("value", "loaded"),
    [
        ("12", 12),
        (" 7 ", 7),
        (3, 3),
        ("\u00b2", None),
        ("\u0663", None),
        (True, None),
        ("1e3", None),
        ("9" * 30, None),
        ("-1", None),
        ("", None),
    ],
)
def test_ascii_integer_takes_ascii_digits_only(value: Any, loaded: int | None) -> None:
    from marshmallow import Schema, ValidationError

    from server.schemas.common import AsciiInteger

    schema = Schema.from_dict({"n": AsciiInteger(minimum=0, maximum=100)})()
    if loaded is None:
        with pytest.raises(ValidationError):
            schema.load({"n": value})
    else:
        assert schema.load({"n": value}) == {"n": loaded}
