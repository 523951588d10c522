"""The caller's own profile."""

from __future__ import annotations

import pytest

from tests.factories import Api


def test_me_for_a_therapist_and_a_client(api: Api) -> None:
    t = api.therapist(name="Dr. Ada")
    couple, a, _ = api.couple_with_partners(t, timezones=("Asia/Kolkata", "Europe/Berlin"))
    me_t = api.call("GET", "/api/v1/me", t).get_json()
    assert me_t["role"] == "therapist" and me_t["couple_id"] is None and me_t["name"] == "Dr. Ada"
    me_a = api.call("GET", "/api/v1/me", a).get_json()
    assert set(me_a) >= {"id", "email", "name", "role", "timezone", "couple_id"}
    assert me_a["role"] == "client"
    assert me_a["timezone"] == "Asia/Kolkata"
    assert me_a["couple_id"] == couple["id"]


def test_patch_me_changes_name_and_time_zone(api: Api) -> None:
    _, a, _ = api.couple_with_partners(api.therapist())
    r = api.call(
        "PATCH", "/api/v1/me", a, json={"name": "Alexandra", "timezone": "Pacific/Chatham"}
    )
    assert r.status_code == 200
    assert r.get_json()["name"] == "Alexandra"
    assert api.call("GET", "/api/v1/me", a).get_json()["timezone"] == "Pacific/Chatham"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timezone": "Europe/Atlantis"}, "timezone"),
        ({"timezone": None}, "timezone"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"role": "therapist"}, "role"),
        ({"email": "new@example.test"}, "email"),
        ({"couple_id": None}, "couple_id"),
    ],
)
def test_patch_me_rejects_bad_fields_and_changes_nothing(
    api: Api, body: dict[str, object], field: str
) -> None:
    _, a, _ = api.couple_with_partners(api.therapist())
    before = api.call("GET", "/api/v1/me", a).get_json()
    r = api.call("PATCH", "/api/v1/me", a, json={"name": "Changed", **body})
    assert r.status_code == 422
    assert field in r.get_json()["errors"]
    assert api.call("GET", "/api/v1/me", a).get_json() == before
