"""Every error is problem+json; bad input never gets a 500 and never changes data."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_app
from tests.factories import PASSWORD, Api

PROBLEM = "application/problem+json"


def assert_problem(response, status: int) -> dict:  # type: ignore[no-untyped-def,type-arg]
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.content_type == PROBLEM
    body = response.get_json()
    assert body["status"] == status
    assert {"type", "title", "status", "detail"} <= set(body)
    return body  # type: ignore[no-any-return]


def test_unknown_path_is_problem_404(api: Api) -> None:
    assert_problem(api.call("GET", "/api/v1/nothing-here"), 404)


def test_wrong_method_is_problem_405_with_allow(api: Api) -> None:
    r = api.call("DELETE", "/api/v1/auth/token")
    assert_problem(r, 405)
    assert "POST" in r.headers["Allow"]


@pytest.mark.parametrize(
    "path",
    ["/api/v1/auth/therapists", "/api/v1/auth/token", "/api/v1/invites/ABCD-EFGH-JKMN-PQRS/accept"],
)
def test_malformed_json_is_problem_400(api: Api, path: str) -> None:
    r = api.call("POST", path, data='{"email": ', content_type="application/json")
    assert_problem(r, 400)


def test_malformed_json_on_an_authenticated_route_is_400(api: Api) -> None:
    t = api.therapist()
    r = api.call("POST", "/api/v1/couples", t, data="{nope", content_type="application/json")
    assert_problem(r, 400)
    assert api.call("GET", "/api/v1/couples", t).get_json() == []


@pytest.mark.parametrize("payload", ["[]", "42", '"text"', "null"])
def test_json_that_is_not_an_object_is_422(api: Api, payload: str) -> None:
    r = api.call("POST", "/api/v1/auth/therapists", data=payload, content_type="application/json")
    assert r.status_code in (400, 422)
    assert r.content_type == PROBLEM


def test_body_over_one_mebibyte_is_problem_413(api: Api) -> None:
    big = '{"label": "' + "x" * (1024 * 1024) + '"}'
    t = api.therapist()
    r = api.call("POST", "/api/v1/couples", t, data=big, content_type="application/json")
    assert_problem(r, 413)
    assert api.call("GET", "/api/v1/couples", t).get_json() == []


def test_validation_errors_name_each_field(api: Api) -> None:
    r = api.call(
        "POST", "/api/v1/auth/therapists", json={"email": "bad", "password": 3, "extra": True}
    )
    body = assert_problem(r, 422)
    assert set(body["errors"]) == {"email", "password", "name", "extra"}
    assert all(isinstance(m, list) and m for m in body["errors"].values())


def test_missing_body_is_422_naming_required_fields(api: Api) -> None:
    body = assert_problem(api.call("POST", "/api/v1/auth/token"), 422)
    assert {"email", "password"} <= set(body["errors"])


def test_huge_field_values_are_422_not_500(api: Api) -> None:
    r = api.call(
        "POST", "/api/v1/auth/token", json={"email": "a@example.test", "password": "p" * 5000}
    )
    assert_problem(r, 422)


def test_unexpected_errors_are_a_generic_problem_500(
    tmp_path: Path, database_url: str, clean_db: None
) -> None:
    """A bug answers 500 problem+json that leaks nothing of the exception."""
    app = make_app(tmp_path, database_url)
    app.testing = False

    @app.get("/__boom")
    def boom():  # type: ignore[no-untyped-def]
        raise RuntimeError("secret internals")

    r = app.test_client().get("/__boom")
    assert_problem(r, 500)
    assert "secret" not in r.get_data(as_text=True)


def test_passwords_are_never_echoed(api: Api) -> None:
    r = api.call(
        "POST", "/api/v1/auth/therapists", json={"email": "bad", "password": PASSWORD, "name": "x"}
    )
    assert PASSWORD not in r.get_data(as_text=True)


def test_nul_characters_are_422_on_every_database(api: Api) -> None:
    r = api.call(
        "POST",
        "/api/v1/auth/therapists",
        json={"email": "nul@example.test", "password": PASSWORD, "name": "A\x00B"},
    )
    body = assert_problem(r, 422)
    assert "name" in body["errors"]


@pytest.mark.parametrize("couple_id", ["%00", "not-a-uuid", "1" * 500, "' OR 1=1 --"])
def test_malformed_ids_in_paths_are_404(api: Api, couple_id: str) -> None:
    assert_problem(api.call("GET", f"/api/v1/couples/{couple_id}", api.therapist()), 404)
