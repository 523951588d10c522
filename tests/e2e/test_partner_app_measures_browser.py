"""Questionnaires in the partner app on a phone, in a real headless Chromium against the
real `tandem serve` (two workers, demo data): the therapist asks GAD-7 and PHQ-9, a
partner answers both from This week, a PHQ-9 with item 9 above 0 shows the crisis
guidance and alerts the therapist, and the other partner sees nothing of it.

Screenshots go to $TANDEM_E2E_SCREENSHOTS/app (default build/screenshots/app/), named
`measures-*`.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from tests.e2e import test_partner_app_browser as base
from tests.e2e.test_partner_app_browser import (
    PASSWORD,
    check_a11y,
    expect,
    new_couple,
    phone,
    shot,
    therapist_token,
)
from tests.live import LiveServer

# The fixtures of the partner app's browser tests (a phone, the real server with demo
# data, the screenshots folder) and its skip conditions.
browser, server, shots = base.browser, base.server, base.shots
pytestmark = base.pytestmark


def join(server: LiveServer, code: str, name: str) -> str:
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.test"
    status, body = server.json(
        "POST",
        f"/api/v1/invites/{code}/accept",
        {"email": email, "password": PASSWORD, "name": name, "timezone": "Europe/Berlin"},
    )
    assert status == 201, body
    return email


def sign_in(page: Any, server: LiveServer, email: str) -> None:
    page.goto(f"{server.base_url}/app/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").tap()
    expect(page.get_by_role("heading", name="This week")).to_be_visible()


def answer_all(page: Any, risk: bool = False) -> None:
    """The first option everywhere ("Not at all"); "Several days" for item 9 if `risk`."""
    form = page.locator("form.measure-form")
    expect(form).to_be_visible()
    for question in form.locator("fieldset.question").all():
        if risk and question.get_attribute("data-key") == "q9":
            question.get_by_text("Several days", exact=True).tap()
        else:
            question.locator("label.option").first.tap()


def test_a_partner_answers_gad7_and_phq9_and_a_risk_answer_shows_guidance(
    server: LiveServer, browser: Any, shots: Path
) -> None:
    token = therapist_token(server)
    couple = new_couple(server, token)
    robin = join(server, couple["invites"][0]["code"], "Robin")
    kim = join(server, couple["invites"][1]["code"], "Kim")
    schedule = {
        "schedule": [{"measure": "gad-7", "every_weeks": 2}, {"measure": "phq-9", "every_weeks": 1}]
    }
    status, body = server.json(
        "PUT", f"/api/v1/couples/{couple['id']}/measures", schedule, token=token
    )
    assert status == 200, body

    with phone(browser) as (_, page):
        sign_in(page, server, robin)
        card = page.locator("section.questionnaires")
        expect(card).to_contain_text("Only you and your therapist see your answers.")
        expect(card.locator("button.item")).to_have_count(2)
        check_a11y(page, "this week with questionnaires")
        shot(page, shots, "measures-01-this-week")

        card.locator("button.item", has_text="GAD-7").tap()
        expect(page.get_by_role("heading", name="GAD-7")).to_be_visible()
        expect(page.get_by_text("About the last 2 weeks")).to_be_visible()
        expect(page.get_by_text("Feeling nervous, anxious, or on edge")).to_be_visible()
        # Sending with nothing answered names each missing answer by its question.
        page.get_by_role("button", name="Send answers").tap()
        expect(page.get_by_text("Please check the answers marked below.")).to_be_visible()
        answer_all(page)
        expect(page.locator("form.measure-form .error:visible")).to_have_count(0)  # answered
        expect(page.get_by_text("Please check the answers marked below.")).to_be_hidden()
        check_a11y(page, "gad-7")
        shot(page, shots, "measures-02-gad7")
        page.get_by_role("button", name="Send answers").tap()
        expect(page.get_by_text("Thank you. Your answers went to your therapist.")).to_be_visible()
        expect(page.get_by_text("Tandem is not an emergency service", exact=False)).to_have_count(0)
        page.get_by_role("button", name="Done").tap()

        card = page.locator("section.questionnaires")
        expect(card.locator("button.item")).to_have_count(1)
        card.locator("button.item", has_text="PHQ-9").tap()
        expect(page.get_by_text("Thoughts that you would be better off dead")).to_be_visible()
        answer_all(page, risk=True)
        page.get_by_role("button", name="Send answers").tap()
        expect(page.get_by_role("heading", name="Take care of yourself")).to_be_visible()
        expect(page.get_by_text("Tandem is not an emergency service", exact=False)).to_be_visible()
        check_a11y(page, "risk guidance")
        shot(page, shots, "measures-03-risk-guidance")
        page.get_by_role("button", name="Done").tap()
        expect(page.get_by_role("heading", name="This week")).to_be_visible()
        expect(page.locator("section.questionnaires")).to_have_count(0)

    # The other partner: their own two questionnaires, nothing of Robin's.
    with phone(browser) as (_, page):
        sign_in(page, server, kim)
        expect(page.locator("section.questionnaires button.item")).to_have_count(2)
        shot(page, shots, "measures-04-other-partner")

    status, alerts = server.json("GET", "/api/v1/alerts", token=token)
    assert status == 200
    assert [a["kind"] for a in alerts if a["couple_id"] == couple["id"]] == ["risk"]
    status, body = server.json("GET", f"/api/v1/couples/{couple['id']}/measures", token=token)
    answered = {(s["measure"], len(s["responses"])) for s in body["series"] if s["responses"]}
    assert answered == {("gad-7", 1), ("phq-9", 1)}
