"""The therapist portal with Flask's test client: sign-in, CSRF, sessions, pages, forms,
privacy and the audit trail."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from sqlalchemy import select

from server.extensions import db
from server.models import AuditEvent, LoginSession
from tests.factories import (
    APPRECIATION,
    PASSWORD,
    SF_CALM,
    Api,
    World,
    assign,
    build_world,
    check_in,
)
from tests.portal.helpers import (
    alert_id,
    assignment_id,
    csrf,
    custom_program,
    html,
    portal_login,
    post,
    sign_in,
)

PAGES = ("/portal/", "/portal/alerts")


@pytest.fixture
def world(api: Api) -> World:
    return build_world(api)


def audit(app: Flask, **where: str) -> list[AuditEvent]:
    with app.app_context():
        query = select(AuditEvent).order_by(AuditEvent.at)
        for name, value in where.items():
            query = query.where(getattr(AuditEvent, name) == value)
        events = list(db.session.scalars(query))
        db.session.expunge_all()
        return events


# --- sign-in, session, CSRF ----------------------------------------------------------


def test_pages_send_anonymous_callers_to_sign_in_and_back(
    client: FlaskClient, world: World
) -> None:
    path = f"/portal/couples/{world.couple['id']}"
    first = client.get(path)
    assert first.status_code == 302
    assert first.headers["Location"] == f"/portal/login?next={path}"
    form = client.get(first.headers["Location"])
    assert f'name="next" value="{path}"' in html(form)
    signed = client.post(
        "/portal/login",
        data={
            "email": world.therapist.user["email"],
            "password": PASSWORD,
            "next": path,
            "csrf_token": csrf(client),
        },
    )
    assert signed.status_code == 303
    assert signed.headers["Location"] == path


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/api/v1/me"])
def test_sign_in_never_redirects_off_the_portal(
    client: FlaskClient, world: World, target: str
) -> None:
    r = client.post(
        "/portal/login",
        data={
            "email": world.therapist.user["email"],
            "password": PASSWORD,
            "next": target,
            "csrf_token": csrf(client),
        },
    )
    assert r.status_code == 303
    assert r.headers["Location"] == "/portal/"


def test_login_form_has_the_fields_the_contract_names(client: FlaskClient) -> None:
    page = html(client.get("/portal/login"))
    for field in ('name="email"', 'name="password"', 'type="hidden" name="csrf_token"'):
        assert field in page
    assert '<label for="email">' in page and '<label for="password">' in page


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_sign_in_without_a_valid_csrf_token_is_400(
    client: FlaskClient, world: World, token: str | None
) -> None:
    csrf(client)  # the session has a token; the form does not carry it
    data = {"email": world.therapist.user["email"], "password": PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    r = client.post("/portal/login", data=data)
    assert r.status_code == 400
    assert "text/html" in r.content_type
    assert client.get("/portal/").status_code == 302


def test_forms_without_csrf_change_nothing(api: Api, client: FlaskClient, world: World) -> None:
    aid = assignment_id(api, world)
    sign_in(client, world.therapist)
    r = client.post(f"/portal/assignments/{aid}/advance", data={"reason": "x"})
    assert r.status_code == 400
    view = api.call("GET", f"/api/v1/assignments/{aid}", world.therapist).get_json()
    assert view["stage_index"] == 1
    # Logout is a form too: without a token the session stays.
    assert client.post("/portal/logout").status_code == 400
    assert client.get("/portal/").status_code == 200


def test_session_cookie_flags(client: FlaskClient, world: World) -> None:
    r = portal_login(client, world.therapist.user["email"])
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("tandem_portal=")
    for flag in ("HttpOnly", "SameSite=Lax", "Path=/portal", "Expires="):
        assert flag in cookie
    assert "Secure" not in cookie  # plain http on a laptop keeps working


def test_the_portal_session_is_opened_only_under_its_path(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """Outside /portal the cookie is never sent: no session is read there, and nothing
    outside the portal can write one (a null session refuses writes)."""
    sign_in(client, world.therapist)
    cookie = client.get_cookie("tandem_portal", path="/portal")
    assert cookie is not None
    for path in ("/api/v1/me", "/app/", "/account/forgot"):
        with app.test_request_context(path, headers={"Cookie": f"tandem_portal={cookie.value}"}):
            opened = app.session_interface.open_session(app, request)
            assert opened is not None and app.session_interface.is_null_session(opened), path
    with app.test_request_context("/portal/", headers={"Cookie": f"tandem_portal={cookie.value}"}):
        opened = app.session_interface.open_session(app, request)
        assert opened is not None and "uid" in opened
    assert client.get("/portal/").status_code == 200  # the portal still signs in


def test_session_cookie_is_secure_over_https(app: Flask, clean_db: None, api: Api) -> None:
    therapist = api.therapist()
    secure = app.test_client()
    token_page = secure.get("/portal/login", base_url="https://localhost")
    token = re.search(r'name="csrf_token" value="([^"]+)"', html(token_page))
    assert token
    r = secure.post(
        "/portal/login",
        base_url="https://localhost",
        data={"email": therapist.user["email"], "password": PASSWORD, "csrf_token": token[1]},
    )
    assert r.status_code == 303
    assert "Secure" in r.headers["Set-Cookie"]


def test_wrong_password_answers_the_form_with_an_error(client: FlaskClient, world: World) -> None:
    email = world.therapist.user["email"]
    r = portal_login(client, email, "not the password")
    assert r.status_code == 401
    page = html(r)
    assert "The email or password is not correct." in page
    assert f'value="{email}"' in page
    assert client.get("/portal/").status_code == 302


def test_unknown_email_answers_like_a_wrong_password(client: FlaskClient) -> None:
    r = portal_login(client, "nobody@example.test", "whatever it is")
    assert r.status_code == 401
    assert "The email or password is not correct." in html(r)


def test_partners_cannot_sign_in(app: Flask, client: FlaskClient, world: World) -> None:
    r = portal_login(client, world.client.user["email"])
    assert r.status_code == 403
    assert "The portal is for therapists" in html(r)
    assert client.get("/portal/").status_code == 302
    with app.app_context():
        sessions = db.session.scalars(
            select(LoginSession).where(LoginSession.user_id == world.client.id)
        ).all()
    # Only the login the factories opened through the API; none for the portal.
    assert len(sessions) == 1


def test_logout_revokes_the_login_even_for_a_copied_cookie(
    app: Flask, client: FlaskClient, world: World
) -> None:
    sign_in(client, world.therapist)
    stolen = client.get_cookie("tandem_portal", path="/portal")
    assert stolen is not None
    r = post(client, "/portal/logout")
    assert r.status_code == 303
    assert r.headers["Location"] == "/portal/login"
    assert client.get("/portal/").status_code == 302
    client.set_cookie("tandem_portal", stolen.value, path="/portal")
    assert client.get("/portal/").status_code == 302
    assert [e.action for e in audit(app, actor_id=world.therapist.id)][-2:] == [
        "session.portal_login",
        "session.logged_out",
    ]


def test_a_login_revoked_elsewhere_ends_the_portal_session(
    api: Api, client: FlaskClient, world: World
) -> None:
    from server.auth import revoke_all_sessions

    sign_in(client, world.therapist)
    other = client.application.test_client()
    sign_in(other, world.therapist)
    assert client.get("/portal/").status_code == 200
    # What account deletion and a replayed refresh token do to every login.
    with client.application.app_context():
        revoke_all_sessions(user_id=world.therapist.id, reason="test")
        db.session.commit()
    assert client.get("/portal/").status_code == 302
    assert other.get("/portal/").status_code == 302


def test_failed_portal_sign_ins_count_against_the_api_limit(
    api: Api, client: FlaskClient, world: World
) -> None:
    email = world.therapist.user["email"]
    for _ in range(10):
        r = api.client.post("/api/v1/auth/token", json={"email": email, "password": "wrong one!"})
        assert r.status_code == 401
    limited = portal_login(client, email)
    assert limited.status_code == 429
    assert "Too many attempts" in html(limited)
    assert client.get("/portal/").status_code == 302


def test_the_api_counts_failed_portal_sign_ins(api: Api, client: FlaskClient) -> None:
    therapist = api.therapist()
    email = therapist.user["email"]
    for _ in range(10):
        assert portal_login(client, email, "wrong one!").status_code == 401
    assert portal_login(client, email).status_code == 429
    r = api.client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert r.status_code == 429


def test_security_headers(client: FlaskClient, world: World) -> None:
    for response in (client.get("/portal/login"), client.get("/portal/")):
        csp = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src" not in csp and "default-src 'none'" in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"


def test_the_stylesheet_is_served_by_the_app(client: FlaskClient) -> None:
    page = html(client.get("/portal/login"))
    assert '<link rel="stylesheet" href="/portal/static/portal.css">' in page
    assert "http://" not in page and "https://" not in page
    css = client.get("/portal/static/portal.css")
    assert css.status_code == 200
    assert css.content_type.startswith("text/css")
    assert "@import" not in css.get_data(as_text=True)
    css.close()


# --- pages ---------------------------------------------------------------------------


def test_couples_page_puts_couples_with_open_alerts_first(
    api: Api, client: FlaskClient, world: World
) -> None:
    calm = world.other_couple
    assign(api, world.therapist, calm["id"])
    alert_id(api, world)
    sign_in(client, world.therapist)
    page = html(client.get("/portal/"))
    first = page.index(f"/portal/couples/{world.couple['id']}")
    second = page.index(f"/portal/couples/{calm['id']}")
    assert first < second
    assert "1 open" in page
    assert "Sensate focus: a full course" in page
    assert "Stage 1 of 6" in page


def test_couples_page_shows_this_weeks_adherence(
    api: Api, client: FlaskClient, world: World
) -> None:
    aid = assignment_id(api, world)
    check_in(api, world.client, aid)
    sign_in(client, world.therapist)
    page = html(client.get("/portal/"))
    # One bar per partner: 1 session of (3 + 3 + 1) for the one who checked in.
    assert re.search(r"Alex</span>.*?14%", page, re.S)
    assert re.search(r"Sam</span>.*?0%", page, re.S)
    assert "Today" in page


def test_a_new_couple_shows_its_invite_codes(client: FlaskClient, world: World) -> None:
    sign_in(client, world.therapist)
    r = post(client, "/portal/couples", label="J. & C.")
    assert r.status_code == 303
    page = html(client.get(r.headers["Location"]))
    assert "J. &amp; C." in page
    codes = re.findall(r'<code class="code">([0-9A-Z-]{19})</code>', page)
    assert len(codes) == 2
    assert post(client, "/portal/couples", label="  ").status_code == 303
    assert "Give the couple a name" in html(client.get("/portal/"))


def test_another_therapists_couple_is_404_like_a_missing_one(
    client: FlaskClient, world: World
) -> None:
    sign_in(client, world.other_therapist)
    foreign = client.get(f"/portal/couples/{world.couple['id']}")
    missing = client.get(f"/portal/couples/{uuid.uuid4()}")
    garbage = client.get("/portal/couples/not-an-id")
    assert foreign.status_code == missing.status_code == garbage.status_code == 404
    assert html(foreign) == html(missing)
    assert world.couple["label"] not in html(foreign)
    assert "text/html" in foreign.content_type


def test_couple_page_shows_program_charts_suggestion_and_history(
    api: Api, client: FlaskClient, world: World
) -> None:
    aid = assignment_id(api, world)
    check_in(api, world.client, aid)
    check_in(api, world.partner, aid, answers={**SF_CALM, "anxiety": 6})
    check_in(api, world.client, aid, exercise="daily-appreciations", answers=APPRECIATION)
    sign_in(client, world.therapist)
    page = html(client.get(f"/portal/couples/{world.couple['id']}"))
    assert "Stage 1 of 6" in page and "Step 1: touch for your own interest" in page
    assert page.count('data-chart="adherence"') == 2
    # One chart where lower is better, one where higher is better (the partner who
    # rated no appreciation gets an empty second one): never mixed on one axis.
    assert page.count('data-chart="ratings"') == 3
    assert 'data-key="anxiety"' in page
    assert "Suggestion for stage 1" in page
    assert "Program assigned" in page
    assert "Move to stage 2…" in page
    assert "Anxiety <strong>6/10</strong>" in page


def test_actions_change_the_assignment_and_land_in_the_history(
    app: Flask, api: Api, client: FlaskClient, world: World
) -> None:
    couple_page = f"/portal/couples/{world.couple['id']}"
    sign_in(client, world.therapist)
    r = post(
        client,
        f"{couple_page}/assignments",
        program="sensate-focus-course",
        start_date=date.today().isoformat(),
    )
    assert r.status_code == 303
    assert r.headers["Location"] == f"{couple_page}#program"
    aid = api.call(
        "GET", f"/api/v1/couples/{world.couple['id']}/assignments", world.therapist
    ).get_json()[0]["id"]

    assert (
        post(client, f"/portal/assignments/{aid}/advance", reason="Both calm.").status_code == 303
    )
    page = html(client.get(couple_page))
    assert "Moved to the next stage." in page
    assert "Stage 2 of 6" in page
    assert "Moved from stage 1 to stage 2" in page and "Both calm." in page

    assert post(client, f"/portal/assignments/{aid}/pause", reason="Holiday").status_code == 303
    assert "The program is paused." in html(client.get(couple_page))
    assert post(client, f"/portal/assignments/{aid}/resume").status_code == 303
    r = post(
        client,
        f"/portal/assignments/{aid}/targets",
        reason="Busy weeks.",
        **{"per_week-sf-2-genital-touch": "2"},
    )
    assert r.status_code == 303
    view = api.call("GET", f"/api/v1/assignments/{aid}", world.therapist).get_json()
    assert view["status"] == "active"
    assert view["overrides"] == {"sf-2-genital-touch": {"per_week": 2}}

    actions = [e.action for e in audit(app, object_id=aid)]
    assert actions == [
        "assignment.assigned",
        "assignment.advanced",
        "assignment.paused",
        "assignment.resumed",
        "assignment.updated",
    ]


def test_refused_actions_say_why_and_change_nothing(
    api: Api, client: FlaskClient, world: World
) -> None:
    aid = assignment_id(api, world)
    sign_in(client, world.therapist)
    r = post(client, f"/portal/assignments/{aid}/resume", reason="Nothing to resume")
    assert r.status_code == 303
    assert "There is nothing to resume." in html(client.get(r.headers["Location"]))
    r = post(client, f"/portal/assignments/{aid}/complete")
    assert "Only the last stage can be completed" in html(client.get(r.headers["Location"]))
    r = post(
        client,
        f"/portal/assignments/{aid}/targets",
        reason="More practice.",
        **{"per_week-sf-1-nongenital-touch": "99"},
    )
    assert "Must be between 0 and 14." in html(client.get(r.headers["Location"]))
    r = post(client, f"/portal/assignments/{aid}/advance", reason="x" * 2001)
    assert "Keep the reason under" in html(client.get(r.headers["Location"]))
    r = post(client, f"/portal/couples/{world.couple['id']}/assignments", program="x")
    assert "already has a running assignment" in html(client.get(r.headers["Location"]))
    view = api.call("GET", f"/api/v1/assignments/{aid}", world.therapist).get_json()
    assert view["stage_index"] == 1 and view["overrides"] == {}
    assert [h["action"] for h in view["history"]] == ["assigned"]


def test_a_one_stage_program_can_be_completed(api: Api, client: FlaskClient, world: World) -> None:
    aid = assignment_id(api, world, custom_program(api, world.therapist))
    sign_in(client, world.therapist)
    page = html(client.get(f"/portal/couples/{world.couple['id']}"))
    assert "Mark the program complete" in page
    r = post(client, f"/portal/assignments/{aid}/complete", reason="Done well.")
    page = html(client.get(r.headers["Location"]))
    assert "The program is marked complete." in page
    assert "Assign a new program" in page


def test_acknowledging_an_alert_does_not_resume_resuming_is_its_own_act(
    api: Api, client: FlaskClient, world: World
) -> None:
    aid = assignment_id(api, world)
    alert = alert_id(api, world, aid)
    sign_in(client, world.therapist)
    alerts_page = html(client.get("/portal/alerts"))
    assert f'action="/portal/alerts/{alert}/ack"' in alerts_page
    assert "pain" in alerts_page and world.couple["label"].replace("&", "&amp;") in alerts_page
    assert "Acknowledging an alert does not resume exercises" in alerts_page
    resume_form = re.search(
        rf'<form method="post" action="/portal/assignments/{aid}/resume" class="resume-hold">'
        r".*?<textarea [^>]*name=\"reason\"[^>]*required></textarea>"
        r'.*?<button type="submit" class="button"[^>]*>Resume exercises</button>',
        alerts_page,
        re.S,
    )
    assert resume_form, "the inbox offers resuming as its own act"
    assert '<span class="badge alert">Safety hold</span>' in html(client.get("/portal/"))
    couple_page = html(client.get(f"/portal/couples/{world.couple['id']}"))
    assert "Safety hold" in couple_page
    assert "Acknowledging an alert does not resume exercises." in couple_page
    assert f'action="/portal/assignments/{aid}/resume"' in couple_page
    assert ">Resume exercises</button>" in couple_page

    r = post(client, f"/portal/alerts/{alert}/ack")
    assert r.status_code == 303 and r.headers["Location"] == "/portal/alerts"
    page = html(client.get("/portal/alerts"))
    assert "No open alerts" in page
    assert "This does not resume exercises" in page
    view = api.call("GET", f"/api/v1/assignments/{aid}", world.therapist).get_json()
    assert view["on_hold"] is True and view["status"] == "paused"
    assert api.call("GET", "/api/v1/me/homework", world.partner).get_json()["status"] == "paused"
    couple_page = html(client.get(f"/portal/couples/{world.couple['id']}"))
    assert "Safety hold" in couple_page and ">Resume exercises</button>" in couple_page

    r = post(client, f"/portal/assignments/{aid}/resume", reason="Talked it through.")
    assert r.status_code == 303
    couple_page = html(client.get(r.headers["Location"]))
    assert "The program is running again" in couple_page
    assert '<span class="badge alert">Safety hold</span>' not in couple_page
    assert "Safety hold after a safety flag" in couple_page  # in the therapist's history
    view = api.call("GET", f"/api/v1/assignments/{aid}", world.therapist).get_json()
    assert view["on_hold"] is False and view["status"] == "active"
    assert [h["action"] for h in view["history"]] == ["assigned", "held", "resumed"]
    assert api.call("GET", "/api/v1/me/homework", world.partner).get_json()["status"] == "active"


def test_another_therapist_cannot_acknowledge(api: Api, client: FlaskClient, world: World) -> None:
    alert = alert_id(api, world)
    sign_in(client, world.other_therapist)
    assert post(client, f"/portal/alerts/{alert}/ack").status_code == 404
    assert len(api.call("GET", "/api/v1/alerts", world.therapist).get_json()) == 1


# --- privacy and audit ---------------------------------------------------------------

SECRET_REFLECTION = "SECRET-REFLECTION-7f3a"
SECRET_ANSWER = "SECRET-JOURNAL-ANSWER-91c2"
SHARED_REFLECTION = "shared-with-the-therapist-4d1e"


def _private_world(api: Api, world: World) -> str:
    aid = assignment_id(api, world)
    check_in(
        api,
        world.client,
        aid,
        answers={**SF_CALM, "anxiety": 9, "pain": 6},
        reflection=SECRET_REFLECTION,
        visibility="private",
    )
    check_in(
        api,
        world.client,
        aid,
        exercise="journal-touch-reflection",
        answers={"sensation_detail": SECRET_ANSWER, "distress": 1},
        reflection=SECRET_REFLECTION,
        visibility="private",
    )
    check_in(api, world.partner, aid, reflection=SHARED_REFLECTION)
    return aid


def _every_page(api: Api, client: FlaskClient, world: World) -> list[str]:
    couple = f"/portal/couples/{world.couple['id']}"
    paths = [*PAGES, couple, f"{couple}?page=2", "/portal/login"]
    pages = []
    for path in paths:
        r = client.get(path, follow_redirects=True)
        assert r.status_code == 200, path
        pages.append(html(r))
    return pages


def test_private_content_never_appears_on_any_page(
    api: Api, client: FlaskClient, world: World
) -> None:
    _private_world(api, world)
    sign_in(client, world.therapist)
    pages = _every_page(api, client, world)
    everything = "\n".join(pages)
    assert SECRET_REFLECTION not in everything
    assert SECRET_ANSWER not in everything
    # The therapist still sees that they happened, and the safety flag.
    couple_page = pages[2]
    assert couple_page.count("A private check-in") == 2
    assert '<span class="flag">pain</span>' in couple_page
    assert SHARED_REFLECTION in couple_page
    # The private ratings are in no chart and no suggestion (only the partner's 2s).
    assert "Anxiety <strong>9/10</strong>" not in couple_page
    assert "Recent mean anxiety: 9" not in couple_page


def test_only_private_check_ins_draw_no_ratings(
    api: Api, client: FlaskClient, world: World
) -> None:
    aid = assignment_id(api, world)
    check_in(api, world.client, aid, visibility="private", reflection=SECRET_REFLECTION)
    sign_in(client, world.therapist)
    page = html(client.get(f"/portal/couples/{world.couple['id']}"))
    assert page.count('data-chart="ratings"') == 0
    assert "Private check-ins never show their ratings" in page
    assert page.count('data-chart="adherence"') == 2


def test_reading_check_ins_is_audited_except_private_ones(
    app: Flask, api: Api, client: FlaskClient, world: World
) -> None:
    _private_world(api, world)
    sign_in(client, world.therapist)
    before = {e.id for e in audit(app, action="checkin.read")}
    client.get(f"/portal/couples/{world.couple['id']}")
    reads = [e for e in audit(app, action="checkin.read") if e.id not in before]
    assert len(reads) == 1
    assert reads[0].actor_id == world.therapist.id
    assert reads[0].couple_id == world.couple["id"]
    # Lists and alerts show no check-in content and audit nothing.
    client.get("/portal/")
    client.get("/portal/alerts")
    assert len(audit(app, action="checkin.read")) == len(before) + 1


def test_check_ins_page_through_newest_first(api: Api, client: FlaskClient, world: World) -> None:
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    aid = assign(api, world.therapist, world.couple["id"], start_date=yesterday)["id"]
    now = datetime.now(UTC).replace(microsecond=0)
    for n in range(21):
        check_in(
            api,
            world.client,
            aid,
            exercise="daily-appreciations",
            answers=APPRECIATION,
            occurred_at=(now - timedelta(minutes=n)).isoformat(),
            reflection=f"note number {n:02d}",
        )
    sign_in(client, world.therapist)
    first = html(client.get(f"/portal/couples/{world.couple['id']}"))
    second = html(client.get(f"/portal/couples/{world.couple['id']}?page=2"))
    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    item = re.compile(r'<li class="checkin[ "]')
    assert len(item.findall(first)) == 20 and len(item.findall(second)) == 1
    assert first.index("note number 00") < first.index("note number 19")
    assert "note number 20" in second and "note number 20" not in first
    assert client.get(f"/portal/couples/{world.couple['id']}?page=abc").status_code == 200
