"""The portal's blueprint, what every request shares, sign-in, and one couple's page.

The couples list is in `server.portal.couples`, the forms that act on a program in
`workflow`, the alerts inbox in `alerts`, account pages in `accounts` and `signins` (all
on this `blp`).
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from exercises.model import DECLINED_KEY
from server.db import utcnow
from server.errors import RETRY_AFTER, APIError, outage
from server.extensions import db, limiter
from server.models import COMPLETED, Assignment, CheckIn, Couple, User
from server.portal import charts
from server.portal.security import (
    WrongRole,
    add_security_headers,
    check_credentials,
    csrf_token,
    csrf_valid,
    form_email_key,
    page_number,
    safe_next,
    sign_in,
    sign_out,
    signed_in_therapist,
)
from server.services import alerts as alert_service
from server.services import assignments as assignment_service
from server.services.catalog import list_programs
from server.services.checkins import checkin_view, list_couple_checkins
from server.services.couples import (
    get_couple_for_therapist,
    invite_code,
)
from server.services.measures import couple_measure_series
from server.services.progress import couple_progress

log = logging.getLogger(__name__)

blp = Blueprint(
    "portal",
    __name__,
    url_prefix="/portal",
    template_folder="templates",
    static_folder="static",
)

PUBLIC_ENDPOINTS = (
    "portal.login",
    "portal.static",
    # server/portal/accounts.py: the pages the links in emails open
    "portal.verify_email",
    "portal.reset_password",
    "portal.forgot_password",
)
# Failed portal sign-ins count in the same buckets as the API's (`POST /api/v1/auth/token`,
# endpoint `auth.create_token`): one per account, one per address.
LOGIN_SCOPE = "auth.create_token"
MAX_COUPLES = 500
CHECKINS_PER_PAGE = 20
MAX_LABEL = 100

HISTORY_WORDS = {
    "assigned": "Program assigned",
    "advanced": "Moved on",
    "moved_back": "Moved back",
    "paused": "Paused",
    "resumed": "Resumed",
    "held": "Safety hold after a safety flag: the whole program paused for both partners",
    "completed": "Completed",
    "updated": "Weekly targets or your note changed",
}
VISIBILITY_WORDS = {
    "private": "Private",
    "therapist": "For the therapist",
    "couple": "Shared with the partner",
}
ERROR_WORDS = {
    400: ("This form has expired", "Reload the page and try again."),
    404: ("Not found", "There is nothing here, or it is not one of your couples."),
    405: ("Not allowed", "This page cannot be used that way."),
    413: ("Too large", "That was more than this form takes."),
    429: ("Too many attempts", "Wait a few minutes and try again."),
    503: ("Not available right now", "Tandem cannot reach its database; try again in a minute."),
}


# --- every request -------------------------------------------------------------------


@blp.before_request
def require_sign_in() -> Response | None:
    """Every page but sign-in needs a therapist's session; every form a CSRF token."""
    if request.endpoint not in PUBLIC_ENDPOINTS:
        therapist = signed_in_therapist()
        if therapist is None:
            wanted = request.full_path.rstrip("?") if request.method == "GET" else None
            return redirect(url_for("portal.login", next=wanted))
        g.therapist = therapist
    if request.method == "POST" and not csrf_valid():
        abort(400)
    return None


@blp.after_request
def security_headers(response: Response) -> Response:
    return add_security_headers(response)


@blp.context_processor
def helpers() -> dict[str, Any]:
    therapist: User | None = g.get("therapist")
    tz = ZoneInfo(therapist.timezone if therapist else "UTC")

    def when(instant: datetime | None) -> str:
        return "" if instant is None else f"{instant.astimezone(tz):%a %-d %b %Y, %H:%M}"

    def day(value: date | datetime | None) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = value.astimezone(tz).date()
        return f"{value:%a %-d %b %Y}"

    def alert_count() -> int:
        return len(alert_service.open_alerts(therapist=therapist)) if therapist else 0

    return {
        "csrf_token": csrf_token,
        "therapist": therapist,
        "when": when,
        "day": day,
        "alert_count": alert_count,
    }


def _error_page(status: int, detail: str | None = None) -> tuple[str, int]:
    title, text = ERROR_WORDS.get(status, ("Something went wrong", "Please try again."))
    return render_template(
        "portal/error.html", status=status, title=title, detail=detail or text
    ), status


@blp.errorhandler(APIError)
def service_error(error: APIError) -> tuple[str, int]:
    return _error_page(error.status, error.detail)


@blp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> Response | tuple[str, int]:
    if outage(error) is not None:  # the database or Redis went away (server/errors.py)
        return (*_error_page(503), {"Retry-After": RETRY_AFTER})
    status = error.code or 500
    if status == 429 and request.endpoint == "portal.login":
        return _login_page("Too many attempts. Wait a few minutes and try again.", 429)
    if status >= 500:
        log.error("portal error %s", status)
    return _error_page(status)


@blp.errorhandler(Exception)
def unexpected_error(error: Exception) -> tuple[str, int]:
    if outage(error) is not None:  # the database or Redis went away (server/errors.py)
        return (*_error_page(503), {"Retry-After": RETRY_AFTER})
    log.exception("unhandled exception in the portal")
    db.session.rollback()
    return _error_page(500)


def _see(endpoint: str, anchor: str = "", **values: Any) -> Response:
    """Post/redirect/get: answer a form with 303 to the page to show."""
    return redirect(url_for(endpoint, **values) + anchor, code=303)


# --- sign-in -------------------------------------------------------------------------


def _failed_sign_in(response: Response) -> bool:
    return response.status_code in (401, 403)


def _login_page(error: str | None = None, status: int = 200) -> tuple[str, int]:
    return render_template(
        "portal/login.html",
        error=error,
        email=request.form.get("email", "")[:254],
        next=safe_next(request.values.get("next")),
    ), status


@blp.route("/login", methods=["GET", "POST"])
@limiter.shared_limit(
    "10 per 15 minutes",
    scope=LOGIN_SCOPE,
    key_func=form_email_key,
    deduct_when=_failed_sign_in,
    methods=["POST"],
)
@limiter.shared_limit(
    "100 per 15 minutes", scope=LOGIN_SCOPE, deduct_when=_failed_sign_in, methods=["POST"]
)
def login() -> Response | tuple[str, int]:
    """Sign in with email and password (therapists only)."""
    if request.method == "GET":
        if signed_in_therapist() is not None:
            return redirect(url_for("portal.couples"))
        return _login_page()
    try:
        user = check_credentials(request.form.get("email", ""), request.form.get("password", ""))
    except WrongRole:
        return _login_page(
            "The portal is for therapists. Partners use the Tandem app on their phone.", 403
        )
    if user is None:
        return _login_page("The email or password is not correct.", 401)
    sign_in(user)
    return redirect(safe_next(request.form.get("next")) or url_for("portal.couples"), code=303)


@blp.route("/logout", methods=["POST"])
def logout() -> Response:
    """Sign out: this login stops working at once."""
    sign_out()
    flash("You have signed out.", "success")
    return _see("portal.login")


# --- one couple ---------------------------------------------------------------------


def _answers(view: dict[str, Any], exercise: dict[str, Any] | None) -> dict[str, list[Any]]:
    """A check-in's answers in the form's order: ratings (short), written answers, and the
    rest (yes/no and choices) as (question, answer)."""
    answers = view["answers"] or {}
    form = (exercise or {}).get("form", [])
    asked = {q["key"] for q in form}
    questions = [q for q in form if q["key"] in answers] + [
        {"key": k, "label": k.replace("_", " ").capitalize(), "type": "?"}
        for k in answers
        if k not in asked
    ]
    out: dict[str, list[Any]] = {"ratings": [], "written": [], "other": []}
    for question in questions:
        key, value = question["key"], answers[question["key"]]
        if question["type"] == "scale" and isinstance(value, int | float):
            name = key.replace("_", " ").capitalize()
            if key.endswith("_minutes"):
                out["ratings"].append((name.removesuffix(" minutes"), f"{value} min"))
            else:
                out["ratings"].append((name, f"{value}/{question.get('max', '')}"))
        elif question["type"] == "text":
            out["written"].append((question["label"], str(value)))
        elif isinstance(value, bool):
            out["other"].append((question["label"], "Yes" if value else "No"))
        elif isinstance(value, list):
            out["other"].append((question["label"], ", ".join(map(str, value)) or "None"))
        else:
            out["other"].append((question["label"], str(value)))
    return out


def _checkin_page(therapist: User, couple: Couple, page: int) -> dict[str, Any]:
    rows, total = list_couple_checkins(
        therapist=therapist,
        couple_id=couple.id,
        offset=(page - 1) * CHECKINS_PER_PAGE,
        limit=CHECKINS_PER_PAGE,
    )
    exercises = {
        a.id: assignment_service.frozen_exercises(a)
        for a in assignment_service.list_assignments(therapist=therapist, couple_id=couple.id)
    }
    names = {p.id: p.name for p in couple.partners}
    items = []
    for checkin in rows:
        catalog = exercises.get(checkin.assignment_id, {})
        view = checkin_view(checkin, therapist, catalog)
        exercise = catalog.get(checkin.exercise)
        items.append(
            {
                "id": checkin.id,
                "author": names.get(checkin.author_id, "A former partner"),
                "exercise": exercise["title"] if exercise else checkin.exercise,
                "occurred_at": checkin.occurred_at,
                "visibility": VISIBILITY_WORDS.get(view["visibility"], view["visibility"]),
                "private": view["answers"] is None,
                "flags": [flag for flag, raised in view["flags"].items() if raised],
                "answers": _answers(view, exercise),
                "reflection": view["reflection"],
            }
        )
    pages = max(1, -(-total // CHECKINS_PER_PAGE))
    return {"entries": items, "total": total, "page": page, "pages": pages}


def _history(progress: dict[str, Any], couple: Couple, therapist: User) -> list[dict[str, Any]]:
    names = {p.id: p.name for p in couple.partners}
    names[therapist.id] = "You"
    entries = []
    for event in reversed(progress["history"]):
        what = HISTORY_WORDS.get(event["action"], event["action"].capitalize())
        if event["action"] == "advanced":
            what = f"Moved from stage {event['from_stage']} to stage {event['to_stage']}"
        elif event["action"] == "moved_back":
            what = f"Moved back from stage {event['from_stage']} to stage {event['to_stage']}"
        entries.append(
            {
                "at": event["at"],
                "what": what,
                "who": names.get(event["actor_id"], "Someone"),
                "reason": event.get("reason"),
                "action": event["action"],
            }
        )
    return entries


def _sessions_since(assignment: Assignment, partner_ids: list[str]) -> dict[tuple[str, str], int]:
    """(partner, exercise) → sessions logged since the stage began, counted as the
    suggestion counts them: private ones too, declined ones not."""
    counts: dict[tuple[str, str], int] = {}
    for author_id, exercise, answers, visibility in db.session.execute(
        select(CheckIn.author_id, CheckIn.exercise, CheckIn.answers, CheckIn.visibility).where(
            CheckIn.assignment_id == assignment.id,
            CheckIn.author_id.in_(partner_ids),
            CheckIn.occurred_at >= assignment.stage_started_at,
        )
    ):
        if visibility != "private" and (answers or {}).get(DECLINED_KEY) is True:
            continue
        counts[(author_id, exercise)] = counts.get((author_id, exercise), 0) + 1
    return counts


def _paused_since(view: dict[str, Any] | None) -> datetime | None:
    """When the program was paused or held: its latest `paused` or `held` entry."""
    if view is None or view["status"] != "paused":
        return None
    stops = [e["at"] for e in view["history"] if e["action"] in ("paused", "held")]
    return stops[-1] if stops else None


def _measure_charts(couple: Couple, therapist: User) -> list[dict[str, Any]]:
    """One chart per questionnaire, both partners' lines on it (audited read)."""
    series = couple_measure_series(couple_id=couple.id, reader=therapist, now=utcnow())
    names = {p.id: p.name for p in couple.partners}
    return charts.measure_charts(series, names)


@blp.get("/couples/<couple_id>")
def couple(couple_id: str) -> str:
    """One couple: program and stage, charts per partner, suggestion, check-ins, actions."""
    therapist = g.therapist
    couple = get_couple_for_therapist(therapist=therapist, couple_id=couple_id)
    progress = couple_progress(therapist=therapist, couple_id=couple.id)
    assignment = assignment_service.current_assignment(couple_id=couple.id)
    view = None
    stage_rows: list[dict[str, Any]] = []
    stage_info: dict[str, Any] = {}
    rating_groups: list[tuple[str, list[tuple[str, str]]]] = []
    if assignment is not None:
        view = assignment_service.assignment_view(
            assignment, viewer=therapist, therapist_id=therapist.id
        )
        exercises = assignment_service.frozen_exercises(assignment)
        rating_groups = charts.rating_key_groups(
            exercises,
            charts.rating_keys(exercises, [w for p in progress["partners"] for w in p["weeks"]]),
        )
        this_week = [
            {i["exercise"]: i for i in (p["weeks"][-1]["items"] if p["weeks"] else [])}
            for p in progress["partners"]
        ]
        at_stage = _sessions_since(assignment, [p["id"] for p in progress["partners"]])
        for entry in (view["stage"] or {}).get("exercises", []):
            slug = entry["exercise"]
            stage_rows.append(
                {
                    "slug": slug,
                    "title": exercises[slug]["title"],
                    "joint": exercises[slug]["joint"],
                    "per_week": assignment.overrides.get(slug, entry["per_week"]),
                    "done": [w.get(slug, {}).get("done", 0) for w in this_week],
                    "at_stage": [at_stage.get((p["id"], slug), 0) for p in progress["partners"]],
                }
            )
        if view["stage"]:
            limits = assignment_service.stage_limits(view["stage"], exercises)
            criteria = view["stage"].get("criteria") or {}
            counted = criteria.get("exercise")
            stage_info = {
                "includes": limits[0],
                "off_limits": limits[1],
                "started_at": assignment.stage_started_at,
                "min_sessions": criteria.get("min_sessions") or 0,
                "counted": exercises[counted]["title"] if counted in exercises else None,
            }
    suggestion = progress["suggestion"]
    partners = []
    standing = list((suggestion or {}).get("partners", {}).values())
    for index, partner in enumerate(progress["partners"]):
        partners.append(
            {
                "id": partner["id"],
                "name": partner["name"],
                "timezone": partner["timezone"],
                "adherence": charts.adherence_chart(partner["weeks"]),
                "ratings": [
                    (direction, charts.ratings_chart(partner["weeks"], keys))
                    for direction, keys in rating_groups
                ],
                "standing": standing[index] if index < len(standing) else None,
            }
        )
    now = utcnow()
    invites = [
        {
            "slot": invite.slot,
            "status": invite.status_at(now),
            "code": invite_code(invite) if invite.status_at(now) == "pending" else None,
            "expires_at": invite.expires_at,
        }
        for invite in couple.invites
        if invite.accepted_at is None
    ]
    open_alerts = [
        a for a in alert_service.open_alerts(therapist=therapist) if a.couple_id == couple.id
    ]
    checkins = _checkin_page(therapist, couple, page_number(request.args.get("page")))
    running = assignment is not None and assignment.status != COMPLETED
    return render_template(
        "portal/couple.html",
        couple=couple,
        progress=progress,
        assignment=assignment,
        view=view,
        stage_rows=stage_rows,
        stages=len(assignment_service.frozen_program_data(assignment)["stages"])
        if assignment
        else 0,
        partners=partners,
        suggestion=suggestion,
        history=_history(progress, couple, therapist),
        invites=invites,
        joined_slots={i.slot for i in couple.invites if i.accepted_at is not None},
        stage_info=stage_info,
        paused_since=_paused_since(view),
        measures=_measure_charts(couple, therapist),
        open_alerts=open_alerts,
        names={p.id: p.name for p in couple.partners},
        checkins=checkins,
        programs=[] if running else list_programs(user=therapist),
        running=running,
        today=now.astimezone(ZoneInfo(therapist.timezone)).date(),
    )
