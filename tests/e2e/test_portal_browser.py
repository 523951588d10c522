"""The therapist portal in a real headless Chromium (Playwright), against the demo data.

The app is served on a free loopback port from a background thread, with its own
SQLite database seeded like `tandem serve --demo`. Screenshots of every page go to
$TANDEM_E2E_SCREENSHOTS (default: build/screenshots/ of the checkout).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask_migrate import upgrade
from werkzeug.serving import make_server

from server import create_app
from server.extensions import db
from server.seeding import DEMO_COUPLE_LABEL, DEMO_THERAPIST, seed_all
from tests.browser import CHROMIUM, CHROMIUM_ARGS

EXPECTED_STATUS = re.compile(r"^Failed to load resource: .* status of 40[13]")

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="needs Playwright for Python (pip install playwright)"
)
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
)
expect = playwright_api.expect


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    instance = tmp_path_factory.mktemp("e2e-instance")
    app = create_app(
        {
            "TANDEM_INSTANCE_PATH": str(instance),
            "TANDEM_DATABASE_URL": f"sqlite:///{instance / 'tandem.sqlite3'}",
            "TANDEM_PASSWORD_PROFILE": "cheapest",
        }
    )
    with app.app_context():
        upgrade()
        list(seed_all(demo=True))
        db.session.commit()
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="module")
def shots() -> Path:
    """Where the screenshots go: $TANDEM_E2E_SCREENSHOTS, else build/screenshots/ of the
    checkout (git-ignored; the README names it)."""
    default = Path(__file__).resolve().parents[2] / "build" / "screenshots"
    path = Path(os.environ.get("TANDEM_E2E_SCREENSHOTS") or default)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def page(base_url: str) -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.set_default_timeout(15_000)
            problems: list[str] = []
            # A CSP violation or a failing asset shows up as a console error (a refused
            # sign-in answers 401/403 on purpose, which Chromium logs too).
            page.on(
                "console",
                lambda m: (
                    problems.append(m.text)
                    if m.type == "error" and not EXPECTED_STATUS.search(m.text)
                    else None
                ),
            )
            page.on("pageerror", lambda e: problems.append(str(e)))
            yield page
            assert not problems, problems
        finally:
            browser.close()


def sign_in(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base_url}/portal/")
    expect(page).to_have_url(re.compile(r"/portal/login"))
    page.get_by_label("Email").fill(DEMO_THERAPIST[0])
    page.get_by_label("Password").fill(DEMO_THERAPIST[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your couples")).to_be_visible()


def test_the_portal_at_phone_width(base_url: str, shots: Path) -> None:
    """(Before the next test acknowledges the demo's alert.) At 390x844 every column of the couples list shows (alerts and adherence included)
    and nothing is wider than the screen."""
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
            )
            page = context.new_page()
            page.set_default_timeout(15_000)
            sign_in(page, base_url)
            row = page.get_by_role("row").filter(has_text=DEMO_COUPLE_LABEL)
            for label in ("Program and stage", "This week", "Last check-in", "Alerts"):
                cell = row.locator(f'td[data-label="{label}"]')
                expect(cell).to_be_visible()
                box = cell.bounding_box()
                assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, (label, box)
            expect(row.locator(".partner-meter").first).to_be_visible()
            expect(row.locator('td[data-label="Alerts"]')).to_contain_text("1 open")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, width
            page.screenshot(path=shots / "10-phone-couples.png", full_page=True)
            page.get_by_role("link", name=DEMO_COUPLE_LABEL).click()
            expect(page.locator("svg[data-chart=measure]")).to_have_count(2)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, width
            page.screenshot(path=shots / "11-phone-couple.png", full_page=True)
            page.goto(f"{base_url}/portal/alerts")
            page.screenshot(path=shots / "12-phone-alerts.png", full_page=True)
        finally:
            browser.close()


def test_therapist_reads_charts_acknowledges_an_alert_and_advances(
    page, base_url: str, shots: Path
) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base_url}/portal/login")
    page.screenshot(path=shots / "01-login.png", full_page=True)
    sign_in(page, base_url)

    # The couples list: the demo couple, with its alert, stage and this week's adherence.
    row = page.get_by_role("row").filter(has_text=DEMO_COUPLE_LABEL)
    expect(row).to_contain_text("Sensate focus: a full course")
    expect(row).to_contain_text("Stage 1 of 6")
    expect(row).to_contain_text("1 open")
    page.screenshot(path=shots / "02-couples.png", full_page=True)

    # The couple: charts drawn on the server, with data in them.
    page.get_by_role("link", name=DEMO_COUPLE_LABEL).click()
    expect(page.get_by_role("heading", level=1, name=DEMO_COUPLE_LABEL)).to_be_visible()
    adherence = page.locator("svg[data-chart=adherence]")
    ratings = page.locator("svg[data-chart=ratings]")
    expect(adherence).to_have_count(2)
    # Per partner, ratings where lower is better apart from those where higher is.
    expect(ratings).to_have_count(4)
    assert adherence.first.locator("rect.bar").count() >= 4
    assert int(ratings.first.get_attribute("data-series") or 0) >= 2
    assert ratings.first.locator("circle").count() >= 4
    desc = adherence.first.locator("desc").text_content() or ""
    assert re.search(r"week of \d+ \w+, \d+ of \d+", desc), desc
    expect(page.get_by_role("heading", name="Suggestion for stage 1")).to_be_visible()
    # The demo's CSI-4 and PHQ-9: one chart each, both partners on it, bands shaded.
    measures = page.locator("svg[data-chart=measure]")
    expect(measures).to_have_count(2)
    for index in range(2):
        chart = measures.nth(index)
        assert chart.get_attribute("data-series") == "2"
        assert chart.locator("rect.band").count() >= 2
        assert chart.locator("circle").count() >= 6
        assert "Bands:" in (chart.locator("desc").text_content() or "")
    phq = page.locator("[data-measure=phq-9]")
    expect(phq).to_contain_text("lower is better")
    expect(phq).to_contain_text("since the first")
    expect(page.locator(".checkin.private").first).to_contain_text("A private check-in")
    assert "Something I want to keep to myself" not in page.content()
    page.screenshot(path=shots / "03-couple.png", full_page=True)

    # The alerts inbox: acknowledge the pain alert.
    page.get_by_role("link", name=re.compile(r"^Alerts")).click()
    expect(page.get_by_role("heading", name="Alerts", level=1)).to_be_visible()
    expect(page.locator(".alert-card")).to_have_count(1)
    expect(page.locator(".alert-card .flag")).to_have_text("pain")
    page.screenshot(path=shots / "04-alerts.png", full_page=True)
    expect(page.locator(".alert-card")).to_contain_text("Acknowledging does not resume them")
    expect(page.locator(".buttons-explained")).to_contain_text("nothing changes for the couple")
    # Resuming from the inbox asks for its own reason: an empty one is refused by the form.
    page.get_by_role("button", name="Resume exercises").click()
    expect(page.locator(".alert-card")).to_have_count(1)
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_text("Alert acknowledged.")).to_be_visible()
    expect(page.get_by_text("This does not resume exercises")).to_be_visible()
    expect(page.locator(".alert-card")).to_have_count(0)
    page.screenshot(path=shots / "05-alerts-done.png", full_page=True)

    # Back to the couple: still on the safety hold until resumed, as its own act.
    page.get_by_role("link", name="Couples", exact=True).click()
    page.get_by_role("link", name=DEMO_COUPLE_LABEL).click()
    expect(page.locator("#program")).to_contain_text("Safety hold")
    expect(page.locator("#paused-since")).to_contain_text("On hold since")
    page.get_by_label("Why lift the safety hold?").fill("Back pain checked; fine to go on.")
    page.get_by_role("button", name="Resume exercises").click()
    expect(page.get_by_text("The program is running again")).to_be_visible()

    # Moving on is confirmed on its own page, with the reason.
    page.get_by_role("link", name="Move to stage 2…").click()
    expect(page.get_by_role("heading", name="Move Alex & Sam to stage 2?")).to_be_visible()
    page.screenshot(path=shots / "06-confirm-advance.png", full_page=True)
    page.get_by_label("Reason").fill("Both calm and ready; back pain checked.")
    page.get_by_role("button", name="Yes, move to stage 2").click()
    expect(page.get_by_text("Moved to the next stage.")).to_be_visible()
    expect(page.locator("#program")).to_contain_text("Stage 2 of 6")
    history = page.locator(".timeline")
    expect(history).to_contain_text("Moved from stage 1 to stage 2")
    expect(history).to_contain_text("Both calm and ready; back pain checked.")
    page.screenshot(path=shots / "06-couple-advanced.png", full_page=True)

    # ... and undone, with its own reason.
    page.get_by_label("Why move back?").fill("Too early for Sam after all.")
    page.get_by_role("button", name="Move back to stage 1").click()
    expect(page.get_by_text("Moved back to stage 1.")).to_be_visible()
    expect(page.locator("#program")).to_contain_text("Stage 1 of 6")
    expect(history).to_contain_text("Moved back from stage 2 to stage 1")
    expect(history).to_contain_text("Too early for Sam after all.")

    # The therapist's own note.
    page.get_by_label("Only you see this note").fill("Check in about the back pain.")
    page.get_by_role("button", name="Save the note").click()
    expect(page.get_by_text("Note saved.")).to_be_visible()
    expect(page.get_by_label("Only you see this note")).to_have_value(
        "Check in about the back pain."
    )
    page.screenshot(path=shots / "08-couple-moved-back.png", full_page=True)

    # Finding a couple by a part of its name, in any case.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Couples").click()
    page.get_by_label("Find a couple").fill(DEMO_COUPLE_LABEL[:4].swapcase())
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("link", name=DEMO_COUPLE_LABEL)).to_be_visible()
    expect(page.get_by_text("1 of 1 couples match")).to_be_visible()
    page.get_by_label("Find a couple").fill("nobody by that name")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("No couple's name contains")).to_be_visible()

    # Sign out: the pages are closed again.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    page.goto(f"{base_url}/portal/alerts")
    expect(page).to_have_url(re.compile(r"/portal/login"))


def test_partner_cannot_sign_in(page, base_url: str, shots: Path) -> None:  # type: ignore[no-untyped-def]
    from server.seeding import DEMO_PARTNERS

    page.goto(f"{base_url}/portal/login")
    page.get_by_label("Email").fill(DEMO_PARTNERS[0][0])
    page.get_by_label("Password").fill(DEMO_PARTNERS[0][1])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("The portal is for therapists")
    page.screenshot(path=shots / "07-partner-refused.png", full_page=True)
    page.goto(f"{base_url}/portal/")
    expect(page).to_have_url(re.compile(r"/portal/login"))
