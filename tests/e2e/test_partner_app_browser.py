"""The partner app (/app/) on a phone in a real headless Chromium (Playwright), against
the real `tandem serve` (gunicorn, two workers, demo data).

Screenshots of every screen at phone size go to $TANDEM_E2E_SCREENSHOTS/app (default:
build/screenshots/app/ of the checkout). axe-core (tests/e2e/vendor, never served) checks
every screen for serious or critical accessibility violations.
"""

from __future__ import annotations

import json
import os
import re
import signal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from server.seeding import DEMO_PARTNERS, DEMO_THERAPIST
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.live import LiveServer, live_server, serve_env

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PASSWORD = "a long enough password"
SHARED_NOTE = "I liked the slow start."
# Chromium logs refused requests (401 before sign-in, 422 shown by field) and, offline,
# the failed fetches the app expects; none of these is a fault of the page.
EXPECTED_CONSOLE = re.compile(
    r"Failed to load resource: .*(status of 4\d\d|ERR_INTERNET_DISCONNECTED)|"
    r"net::ERR_INTERNET_DISCONNECTED|Failed to fetch"
)

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="needs Playwright for Python (pip install playwright)"
)
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
)
expect = playwright_api.expect


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("app-instance"), workers=2, demo=True) as live:
        yield live


@pytest.fixture(scope="module")
def shots() -> Path:
    default = Path(__file__).resolve().parents[2] / "build" / "screenshots"
    path = Path(os.environ.get("TANDEM_E2E_SCREENSHOTS") or default) / "app"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def phone(browser: Any) -> Iterator[tuple[Any, Any]]:
    """A phone-sized, touch context and its page; fails on script errors or CSP refusals."""
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and not EXPECTED_CONSOLE.search(m.text)
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        yield context, page
        assert not problems, problems
    finally:
        context.close()


def check_a11y(page: Any, name: str) -> None:
    """axe-core finds no serious or critical violation on the current screen."""
    # Through DevTools: the page's CSP (scripts from self only) refuses injected tags.
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    result = page.evaluate(
        "() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations"
        ".filter(v => ['serious', 'critical'].includes(v.impact))"
        ".map(v => ({id: v.id, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))})))"
    )
    assert result == [], f"{name}: {json.dumps(result, indent=1)}"


def shot(page: Any, shots: Path, name: str) -> None:
    page.screenshot(path=shots / f"{name}.png", full_page=True)


def therapist_token(server: LiveServer) -> str:
    status, body = server.json(
        "POST", "/api/v1/auth/token", {"email": DEMO_THERAPIST[0], "password": DEMO_THERAPIST[1]}
    )
    assert status == 200, body
    return str(body["access_token"])


def new_couple(server: LiveServer, token: str) -> dict[str, Any]:
    """A fresh couple on a one-stage program of daily appreciations (5 a week)."""
    status, couple = server.json("POST", "/api/v1/couples", {"label": "Browser"}, token=token)
    assert status == 201, couple
    slug = f"browser-{couple['id'][:8]}"
    stage = {
        "title": "Small and often",
        "guidance": "Say one thing you appreciate, every day.",
        "exercises": [{"exercise": "daily-appreciations", "per_week": 5}],
    }
    program = {"slug": slug, "title": "Appreciations", "stages": [stage]}
    status, body = server.json("POST", "/api/v1/programs", program, token=token)
    assert status == 201, body
    status, body = server.json(
        "POST", f"/api/v1/couples/{couple['id']}/assignments", {"program": slug}, token=token
    )
    assert status == 201, body
    return couple


def fill_checkin(page: Any, *, unsafe: bool = False) -> None:
    """Answer every question with one tap each (or the smallest number where a wide
    scale is typed): the lowest rating, "No" (or "Yes" to feeling unsafe), the first
    choice."""
    expect(page.locator("form.checkin")).to_be_visible()
    for question in page.locator("form.checkin fieldset.question").all():
        key = question.get_attribute("data-key")
        if key == "visibility":
            continue
        number = question.locator("input[type=number]")
        if number.count():
            number.fill(number.get_attribute("min") or "0")
            continue
        options = question.locator("label.option")
        if options.count() == 0:
            continue
        if key == "unsafe":
            question.get_by_text("Yes" if unsafe else "No", exact=True).tap()
        elif question.locator("input[type=radio]").count() == 2:
            question.get_by_text("No", exact=True).tap()
        else:
            options.first.tap()


def stop(server: LiveServer) -> None:
    os.killpg(server.process.pid, signal.SIGSTOP)


def resume(server: LiveServer) -> None:
    os.killpg(server.process.pid, signal.SIGCONT)


def partner_checkins(server: LiveServer, token: str, couple_id: str) -> list[dict[str, Any]]:
    status, body = server.json("GET", f"/api/v1/couples/{couple_id}/checkins", token=token)
    assert status == 200, body
    return list(body)


def what_is_left(page: Any) -> dict[str, Any]:
    return dict(
        page.evaluate(
            """async () => ({
              caches: await caches.keys(),
              databases: (await indexedDB.databases()).map(d => d.name),
              local: localStorage.length,
              session: sessionStorage.length,
              workers: (await navigator.serviceWorker.getRegistrations()).length,
              cookie: document.cookie,
            })"""
        )
    )


def test_join_homework_offline_checkin_sent_once_guidance_and_sign_out(
    server: LiveServer, browser: Any, shots: Path
) -> None:
    token = therapist_token(server)
    couple = new_couple(server, token)
    code = couple["invites"][0]["code"]
    with phone(browser) as (context, page):
        page.goto(f"{server.base_url}/app/")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        assert page.title() == "Tandem"
        check_a11y(page, "sign in")
        shot(page, shots, "01-sign-in")

        # Join with the invite, typed carelessly (lower case, spaces): the API forgives it.
        page.get_by_role("button", name="I have an invite code").tap()
        expect(page.get_by_role("heading", name="Join with your invite")).to_be_visible()
        page.get_by_label("Invite code").fill(" ".join(code.lower()))
        page.get_by_label("Your name").fill("Robin")
        page.get_by_label("Email").fill(f"robin-{couple['id'][:8]}@example.test")
        page.get_by_label("Choose a password").fill(PASSWORD)
        assert page.get_by_label("Your time zone").input_value()  # from the phone (Intl)
        check_a11y(page, "join")
        shot(page, shots, "02-join")
        page.get_by_role("button", name="Join").tap()

        # This week: the stage, its guidance, the exercise with done / target.
        expect(page.get_by_role("heading", name="This week")).to_be_visible()
        expect(page.get_by_text("Stage 1: Small and often")).to_be_visible()
        item = page.locator("button.item", has_text="appreciat")
        expect(item).to_contain_text("0 of 5 this week")
        expect(item).to_contain_text("Due today")
        # No content in the URL, title or history.
        assert page.url == f"{server.base_url}/app/"
        assert page.title() == "Tandem"
        # Only an HttpOnly cookie holds the login; script sees the CSRF value, no token.
        cookies = {c["name"]: c for c in context.cookies()}
        assert cookies["tandem_app"]["httpOnly"] and cookies["tandem_app"]["sameSite"] == "Strict"
        assert "tandem_app=" not in page.evaluate("document.cookie").replace("tandem_app_csrf", "")
        check_a11y(page, "this week")
        shot(page, shots, "03-this-week")

        # The exercise, then a check-in online.
        item.tap()
        expect(page.get_by_role("heading", name="Instructions", exact=True)).to_be_visible()
        expect(page.get_by_role("heading", name="Safety")).to_be_visible()
        check_a11y(page, "exercise")
        shot(page, shots, "04-exercise")
        page.get_by_role("button", name="Record a check-in").tap()
        expect(page.get_by_text("Who can read this check-in?")).to_be_visible()
        expect(page.get_by_label("Me and my therapist")).to_be_checked()
        # Saving with nothing answered shows each missing answer by its question.
        page.get_by_role("button", name="Save check-in").tap()
        expect(page.get_by_text("Please check the answers marked below.")).to_be_visible()
        fill_checkin(page)
        check_a11y(page, "check-in")
        shot(page, shots, "05-check-in")
        page.get_by_role("button", name="Save check-in").tap()
        expect(page.get_by_text("Thank you. Your check-in is saved.")).to_be_visible()
        check_a11y(page, "check-in saved")
        shot(page, shots, "06-check-in-saved")
        page.get_by_role("button", name="Done").tap()
        expect(item).to_contain_text("1 of 5 this week")
        assert len(partner_checkins(server, token, couple["id"])) == 1

        # The service worker controls the page: the shell works offline from now on.
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")

        # Offline, and the server stopped: a second check-in waits on the phone.
        context.set_offline(True)
        stop(server)
        try:
            item.tap()
            page.get_by_role("button", name="Record a check-in").tap()
            fill_checkin(page)
            page.get_by_role("button", name="Save check-in").tap()
            expect(page.get_by_text("Saved on this phone.")).to_be_visible()
            page.get_by_role("button", name="Done").tap()
            expect(page.locator("#outbox")).to_contain_text("1 check-in is waiting to send.")
            expect(page.locator("#outbox")).to_contain_text("Waiting to send")
            expect(page.get_by_text("You are offline.").first).to_be_visible()
            check_a11y(page, "waiting to send")
            shot(page, shots, "07-offline-waiting")

            # Reload with no network: this week is still there, and so is the check-in.
            page.reload()
            expect(page.get_by_text("Stage 1: Small and often")).to_be_visible()
            expect(page.locator("#outbox")).to_contain_text("1 check-in is waiting to send.")
            item.tap()
            expect(page.get_by_role("heading", name="Instructions", exact=True)).to_be_visible()
            page.get_by_role("button", name="Back").first.tap()
            queued = page.evaluate(
                "new Promise(r => { const q = indexedDB.open('app'); q.onsuccess = () => {"
                " const g = q.result.transaction('outbox').objectStore('outbox').getAll();"
                " g.onsuccess = () => r(g.result.map(i => i.key)); }; })"
            )
            assert len(queued) == 1
        finally:
            resume(server)
        context.set_offline(False)

        # Back online: sent by the `online` event, exactly once, with its client id.
        expect(page.locator("#outbox")).to_have_count(1)
        expect(page.locator("#outbox")).not_to_contain_text("waiting", timeout=20_000)
        expect(item).to_contain_text("2 of 5 this week")
        stored = partner_checkins(server, token, couple["id"])
        assert len(stored) == 2
        assert queued[0] in {c["id"] for c in stored}
        # Coming to the foreground again sends nothing twice.
        page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
        page.reload()
        expect(item).to_contain_text("2 of 5 this week")
        assert len(partner_checkins(server, token, couple["id"])) == 2

        # Mine, reminders, my data.
        page.get_by_role("button", name="Mine").tap()
        expect(page.get_by_role("heading", name="My check-ins")).to_be_visible()
        expect(page.locator(".checkin-card")).to_have_count(2)
        expect(page.get_by_text("Nothing has been shared with you yet.")).to_be_visible()
        check_a11y(page, "mine")
        shot(page, shots, "08-mine")
        page.get_by_role("button", name="Reminders").tap()
        expect(page.get_by_text("need the operator to set up push")).to_be_visible()
        page.get_by_label("Pause all reminders").check()
        page.get_by_role("button", name="Save reminder settings").tap()
        expect(page.get_by_text("Saved.", exact=True)).to_be_visible()
        check_a11y(page, "reminders")
        shot(page, shots, "09-reminders")
        page.get_by_role("button", name="My data").tap()
        expect(page.get_by_role("heading", name="Delete my account")).to_be_visible()
        with page.expect_download() as download:
            page.get_by_role("button", name="Download my data").tap()
        exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
        assert "Robin" in json.dumps(exported)
        check_a11y(page, "my data")
        shot(page, shots, "10-my-data")

        # A check-in that raises a flag shows the crisis guidance, in full.
        page.get_by_role("button", name="This week").tap()
        item.tap()
        page.get_by_role("button", name="Record a check-in").tap()
        fill_checkin(page, unsafe=True)
        page.get_by_role("button", name="Save check-in").tap()
        guidance = page.locator(".guidance")
        expect(guidance).to_contain_text("Your therapist has been told")
        expect(guidance).to_contain_text("Tandem is not an emergency service")
        check_a11y(page, "guidance")
        shot(page, shots, "11-guidance")
        page.get_by_role("button", name="Done").tap()
        expect(page.get_by_text("Paused by your therapist.")).to_be_visible()
        expect(item).to_contain_text("Paused")
        shot(page, shots, "12-paused")

        # Sign out: nothing of the app is left in the browser.
        page.get_by_role("button", name="My data").tap()
        page.get_by_role("button", name="Sign out").tap()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        left = what_is_left(page)
        assert left == {
            "caches": [],
            "databases": [],
            "local": 0,
            "session": 0,
            "workers": 0,
            "cookie": "",
        }, left
        assert not [c for c in context.cookies() if c["name"].startswith("tandem_app")]
        # The login has ended on the server too.
        status, _, _ = server.request("GET", "/app/api/me", headers={"X-Tandem-CSRF": "1"})
        assert status == 401
    # The invite code never reached the server's log, whichever way it was typed.
    logged = server.output.lower()
    assert "/app/api/invites/***/accept" in logged  # the request was logged, redacted
    assert code.lower() not in logged and "%20".join(code.lower()) not in logged


def test_unsent_check_ins_ask_before_sign_out_and_refused_ones_stay_shown(
    server: LiveServer, browser: Any, shots: Path
) -> None:
    token = therapist_token(server)
    couple = new_couple(server, token)
    with phone(browser) as (context, page):
        page.goto(f"{server.base_url}/app/")
        page.get_by_role("button", name="I have an invite code").tap()
        page.get_by_label("Invite code").fill(couple["invites"][1]["code"])
        page.get_by_label("Your name").fill("Kai")
        page.get_by_label("Email").fill(f"kai-{couple['id'][:8]}@example.test")
        page.get_by_label("Choose a password").fill(PASSWORD)
        page.get_by_role("button", name="Join").tap()
        page.locator("button.item").first.tap()
        page.get_by_role("button", name="Record a check-in").tap()
        fill_checkin(page)
        context.set_offline(True)
        page.get_by_role("button", name="Save check-in").tap()
        expect(page.get_by_text("Saved on this phone.")).to_be_visible()
        page.get_by_role("button", name="Done").tap()
        # Signing out with a check-in still on the phone asks first.
        page.get_by_role("button", name="My data").tap()
        messages: list[str] = []

        def answer(dialog: Any) -> None:
            messages.append(dialog.message)
            dialog.dismiss()

        page.once("dialog", answer)
        with page.expect_event("dialog"):
            page.get_by_role("button", name="Sign out").tap()
        expect(page.get_by_role("heading", name="My data")).to_be_visible()
        assert messages and "not been sent" in messages[0]
        # The partner said no: still signed in, the check-in still waiting.
        page.get_by_role("button", name="This week").tap()
        expect(page.locator("#outbox")).to_contain_text("1 check-in is waiting to send.")
        # "Send now" with no network keeps it; the network's return sends it, once.
        page.get_by_role("button", name="Send now").tap()
        expect(page.locator("#outbox")).to_contain_text("1 check-in is waiting to send.")
        context.set_offline(False)
        expect(page.locator("#outbox")).not_to_contain_text("waiting")
        sent = partner_checkins(server, token, couple["id"])
        assert len(sent) == 1

        # A check-in the server refuses (here: its id taken by a different one, 409) is
        # shown to the partner and stays on the phone until they remove it.
        page.evaluate(
            """([id, assignment, exercise]) => new Promise((resolve, reject) => {
              const open = indexedDB.open('app');
              open.onsuccess = () => {
                const tx = open.result.transaction(['cache', 'outbox'], 'readwrite');
                tx.objectStore('cache').get('me').onsuccess = (e) => {
                  const body = {id, assignment_id: assignment, exercise,
                    occurred_at: new Date().toISOString(), answers: {}};
                  tx.objectStore('outbox').put({key: id, user: e.target.result.value.id, body,
                    created: Date.now(), attempts: 0, nextAt: 0, state: 'waiting'});
                };
                tx.oncomplete = () => resolve(); tx.onerror = () => reject(tx.error);
              };
            })""",
            [sent[0]["id"], sent[0]["assignment_id"], sent[0]["exercise"]],
        )
        page.reload()
        outbox = page.locator("#outbox")
        expect(outbox).to_contain_text("Not accepted")
        expect(outbox).to_contain_text("A different check-in with this id already exists.")
        page.reload()  # shown again: never dropped
        expect(outbox).to_contain_text("Not accepted")
        expect(outbox).to_contain_text("Check-ins that were not accepted")
        check_a11y(page, "not accepted")
        shot(page, shots, "17-not-accepted")
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Remove from this phone").tap()
        expect(outbox).not_to_contain_text("Not accepted")
        assert len(partner_checkins(server, token, couple["id"])) == 1


def share_a_checkin(server: LiveServer, email: str, password: str) -> dict[str, Any]:
    """One check-in shared with the partner, answered through the API like a phone."""
    status, tokens = server.json(
        "POST", "/api/v1/auth/token", {"email": email, "password": password}
    )
    assert status == 200, tokens
    token = tokens["access_token"]
    status, homework = server.json("GET", "/api/v1/me/homework", token=token)
    assert status == 200 and homework["items"], homework
    slug = homework["items"][0]["exercise"]
    status, exercise = server.json("GET", f"/api/v1/exercises/{slug}", token=token)
    answers: dict[str, Any] = {}
    for q in exercise["form"]:
        if q["type"] == "scale":
            answers[q["key"]] = q["min"]
        elif q["type"] == "boolean":
            answers[q["key"]] = False
        elif q["type"] == "choice":
            answers[q["key"]] = [q["options"][0]] if q.get("multiple") else q["options"][0]
    body = {
        "id": str(uuid.uuid4()),
        "assignment_id": homework["assignment_id"],
        "exercise": slug,
        "occurred_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "answers": answers,
        "visibility": "couple",
        "reflection": SHARED_NOTE,
    }
    status, checkin = server.json("POST", "/api/v1/checkins", body, token=token)
    assert status == 201, checkin
    return dict(exercise)


def test_demo_partner_sees_this_week_and_a_therapist_is_sent_to_the_portal(
    server: LiveServer, browser: Any, shots: Path
) -> None:
    exercise = share_a_checkin(server, DEMO_PARTNERS[0][0], DEMO_PARTNERS[0][1])
    email, password, _, _ = DEMO_PARTNERS[1]
    with phone(browser) as (_, page):
        page.goto(f"{server.base_url}/app/")
        # A forgotten password: the account page (email link or therapist's code).
        page.get_by_role("link", name=re.compile(r"^Forgot your password")).tap()
        expect(page.get_by_role("heading", name="Forgot your password?")).to_be_visible()
        check_a11y(page, "forgot password")
        page.go_back()
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").tap()
        expect(page.get_by_role("heading", name="This week")).to_be_visible()
        expect(page.locator(".stage")).to_contain_text("Stage")
        shot(page, shots, "13-demo-this-week")
        page.locator("button.item").first.tap()
        expect(page.get_by_role("heading", name="Instructions", exact=True)).to_be_visible()
        shot(page, shots, "14-demo-exercise")
        page.get_by_role("button", name="Record a check-in").tap()
        fill_checkin(page)
        check_a11y(page, "demo check-in")
        shot(page, shots, "15-demo-check-in")
        page.get_by_role("button", name="Save check-in").tap()
        expect(page.get_by_text("Thank you. Your check-in is saved.")).to_be_visible()
        page.get_by_role("button", name="Mine").tap()
        expect(page.get_by_role("heading", name="Shared with me")).to_be_visible()
        # What the other partner shared: their note and answers, never a safety answer.
        shared = page.locator("section[aria-labelledby=mine-shared] .checkin-card")
        expect(shared).to_have_count(1)
        shared.locator("summary").tap()
        expect(shared).to_contain_text(SHARED_NOTE)
        for question in exercise["form"]:
            if question.get("flag") or question["key"] == "ready_to_move_on":
                expect(shared).not_to_contain_text(question["label"])
        check_a11y(page, "demo mine")
        shot(page, shots, "16-demo-mine")

    with phone(browser) as (_, page):
        page.goto(f"{server.base_url}/app/")
        page.get_by_label("Email").fill(DEMO_THERAPIST[0])
        page.get_by_label("Password").fill(DEMO_THERAPIST[1])
        page.get_by_role("button", name="Sign in").tap()
        page.wait_for_url(re.compile(r"/portal/"))


def test_hide_blanks_the_page_and_leaves(server: LiveServer, browser: Any) -> None:
    with phone(browser) as (_, page):
        page.route(
            "https://www.wikipedia.org/**",
            lambda route: route.fulfill(body="<title>Wikipedia</title>", content_type="text/html"),
        )
        page.goto(f"{server.base_url}/app/")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        page.get_by_role("button", name="Hide the app now").tap()
        page.wait_for_url("https://www.wikipedia.org/")
        assert page.title() == "Wikipedia"


def test_the_service_worker_shows_a_push_discreetly(server: LiveServer, browser: Any) -> None:
    """A push delivered through DevTools reaches the worker's handler, which shows the
    server's wording and tells the open app (headless notifications may be refused)."""
    email, password, _, _ = DEMO_PARTNERS[0]
    with phone(browser) as (context, page):
        page.goto(f"{server.base_url}/app/")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").tap()
        expect(page.get_by_role("heading", name="This week")).to_be_visible()
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        page.evaluate(
            "window.pushes = []; document.addEventListener('app-push', e => pushes.push(e.detail))"
        )
        cdp = context.new_cdp_session(page)
        registrations: dict[str, str] = {}
        cdp.on(
            "ServiceWorker.workerRegistrationUpdated",
            lambda ev: registrations.update(
                {r["scopeURL"]: r["registrationId"] for r in ev["registrations"]}
            ),
        )
        cdp.send("ServiceWorker.enable")
        scope = f"{server.base_url}/app/"
        for _ in range(100):  # the registration event arrives asynchronously
            if scope in registrations:
                break
            page.wait_for_timeout(50)
        assert scope in registrations, registrations
        shown = {"title": "Tandem", "body": "A gentle reminder for today."}
        # As FCM delivers a web push of the server's message (notification + data).
        payload = {"notification": shown, "data": {"kind": "reminder"}, "from": "1234567890"}
        cdp.send(
            "ServiceWorker.deliverPushMessage",
            {
                "origin": server.base_url,
                "registrationId": registrations[scope],
                "data": json.dumps(payload),
            },
        )
        page.wait_for_function("() => window.pushes.length > 0")
        assert page.evaluate("window.pushes") == [{"type": "push", **shown}]


@pytest.mark.parametrize(
    ("label", "profile"),
    [
        (
            "small-phone",
            {"viewport": {"width": 360, "height": 640}, "is_mobile": True, "has_touch": True},
        ),
        ("desktop", {"viewport": {"width": 1280, "height": 800}}),
    ],
)
def test_every_screen_fits_a_small_phone_and_a_desktop(
    server: LiveServer, browser: Any, shots: Path, label: str, profile: dict[str, Any]
) -> None:
    """No screen scrolls sideways from 360 x 640 up; every button is at least 44 px."""
    email, password, _, _ = DEMO_PARTNERS[0]
    context = browser.new_context(**profile)
    try:
        page = context.new_page()
        page.goto(f"{server.base_url}/app/")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="This week")).to_be_visible()
        screens = [
            ("this-week", None),
            ("exercise", lambda: page.locator("button.item").first.click()),
            ("check-in", lambda: page.get_by_role("button", name="Record a check-in").click()),
            ("mine", lambda: page.get_by_role("button", name="Mine").click()),
            ("reminders", lambda: page.get_by_role("button", name="Reminders").click()),
            ("my-data", lambda: page.get_by_role("button", name="My data").click()),
        ]
        for name, go in screens:
            if go is not None:
                go()
            expect(page.locator("main .loading")).to_have_count(0)
            expect(page.locator("main h1")).to_be_visible()
            overflow = page.evaluate(
                "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{label} {name}: {overflow}px sideways"
            small = page.evaluate(
                """() => [...document.querySelectorAll('button, label.option, summary')]
                  .filter(e => e.offsetParent !== null)
                  .map(e => [e.textContent.trim().slice(0, 30), e.getBoundingClientRect()])
                  .filter(([, r]) => r.height < 44 || r.width < 44)
                  .map(([text, r]) => `${text}: ${Math.round(r.width)}x${Math.round(r.height)}`)"""
            )
            assert small == [], f"{label} {name}: {small}"
            page.screenshot(path=shots / f"{label}-{name}.png")
    finally:
        context.close()


def test_push_settings_load_the_sdk_only_when_switched_on(
    tmp_path: Path, browser: Any, shots: Path
) -> None:
    """With the operator's Firebase web settings the Reminders screen offers push; the
    Firebase SDK (served by Tandem) loads only on that tap. Firebase is unreachable
    here, so registering fails, and the partner is told so plainly."""
    settings = tmp_path / "firebase-web.json"
    settings.write_text(
        json.dumps(
            {
                "apiKey": "AIzaSyExample",
                "projectId": "tandem-example",
                "messagingSenderId": "1234567890",
                "appId": "1:1234567890:web:abcdef",
                "vapidKey": "BExampleVapidPublicKey",
            }
        ),
        encoding="utf-8",
    )
    env = serve_env(tmp_path / "instance", TANDEM_FIREBASE_WEB_CONFIG=str(settings))
    email, password, _, _ = DEMO_PARTNERS[0]
    with (
        live_server(tmp_path / "instance", workers=1, demo=True, env=env) as server,
        phone(browser) as (context, page),
    ):
        context.grant_permissions(["notifications"], origin=server.base_url)
        loaded: list[str] = []
        page.on("request", lambda r: loaded.append(r.url) if "/vendor/" in r.url else None)
        page.goto(f"{server.base_url}/app/")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").tap()
        page.get_by_role("button", name="Reminders").tap()
        push = page.locator("#push")
        expect(push).to_contain_text("This phone does not get reminders yet.")
        check_a11y(page, "reminders with push")
        shot(page, shots, "18-reminders-push")
        assert loaded == []
        push.get_by_role("button", name="Get reminders on this phone").tap()
        expect(push).to_contain_text("Could not switch on reminders", timeout=30_000)
        assert any(u.endswith("/vendor/firebase/firebase-messaging.js") for u in loaded)
        assert any(u.endswith("/vendor/firebase/firebase-app.js") for u in loaded)
