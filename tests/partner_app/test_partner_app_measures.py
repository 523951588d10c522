"""Questionnaires in the partner app, through its cookie bridge as the page calls them:
what is due, the form as published, answering (online only), crisis guidance."""

from __future__ import annotations

import uuid

from flask.testing import FlaskClient

from server.partner_app import STATIC
from tests.factories import Api
from tests.partner_app.test_partner_app import CSRF, csrf_of, sign_in


def test_a_due_questionnaire_is_answered_through_the_app(client: FlaskClient, api: Api) -> None:
    therapist = api.therapist()
    couple, a, _ = api.couple_with_partners(therapist)
    r = api.call(
        "PUT",
        f"/api/v1/couples/{couple['id']}/measures",
        therapist,
        json={"schedule": [{"measure": "phq-9", "every_weeks": 2}]},
    )
    assert r.status_code == 200
    sign_in(client, a.user["email"])
    headers = {CSRF: csrf_of(client)}
    due = client.get("/app/api/me/homework", headers=headers).get_json()["measures_due"]
    assert [(m["measure"], m["title"]) for m in due] == [("phq-9", "PHQ-9")]
    catalog = client.get("/app/api/measures", headers=headers).get_json()
    phq = next(m for m in catalog if m["slug"] == "phq-9")
    answers = {item["key"]: item["options"][0]["value"] for item in phq["form"]}
    answers["q9"] = 1
    body = {"id": str(uuid.uuid4()), "measure": "phq-9", "answers": answers}
    r = client.post("/app/api/measure-responses", json=body, headers=headers)
    assert r.status_code == 201, r.get_json()
    assert "not an emergency service" in r.get_json()["guidance"]["emergency"]
    # the page retries with the same id: the same answer, no second alert
    again = client.post("/app/api/measure-responses", json=body, headers=headers)
    assert again.status_code == 200
    assert client.get("/app/api/me/homework", headers=headers).get_json()["measures_due"] == []
    assert len(api.call("GET", "/api/v1/alerts", therapist).get_json()) == 1


def test_the_page_draws_questionnaires_from_the_catalog_and_keeps_no_answer() -> None:
    app_js = (STATIC / "app.js").read_text(encoding="utf-8")
    assert "measures_due" in app_js and '"measure-responses"' in app_js
    # answers are sent online only: never queued in the check-in outbox or the cache
    screen = app_js[app_js.index("SCREENS.measure = ") : app_js.index("SCREENS.measureResult")]
    assert "outbox." not in screen and "remember(" not in screen
    strings = (STATIC / "strings.js").read_text(encoding="utf-8")
    assert "Only you and your therapist see your answers." in strings
