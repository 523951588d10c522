"""The portal's pages: sign-in, couples, one couple, alerts, and the forms that act."""

from __future__ import annotations

import logging
from collections.abc import Callable
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
from sqlalchemy import func, select
from werkzeug.exceptions import HTTPException

from server.db import utcnow
from server.errors import RETRY_AFTER, APIError, Conflict, ValidationFailed, outage
from server.extensions import db, limiter
from server.models import COMPLETED, Assignment, CheckIn, Couple, User
from server.portal import charts
from server.portal.security import (
    WrongRole,
    add_security_headers,
    check_credentials,
    csrf_token,
    csrf_valid,
    form_date,
    form_email_key,
    page_number,
    safe_next,
    sign_in,
    sign_out,
    signed_in_therapist,
    whole_number,
)
from server.services import alerts as alert_service
from server.services import assignments as assignment_service
from server.services.catalog import list_programs
from server.services.checkins import checkin_view, list_couple_checkins
from server.services.couples import (
    create_couple,
    get_couple_for_therapist,
    invite_code,
    list_couples,
)
from server.services.progress import couple_progress, couple_summaries

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
MAX_REASON = 2000
MAX_LABEL = 100

ACTIONS: dict[str, tuple[Callable[..., Assignment], str]] = {
    "advance": (assignment_service.advance_stage, "Moved to the next stage."),
    "pause": (assignment_service.pause_assignment, "The program is paused."),
    "resume": (
        assignment_service.resume_assignment,
        "The program is running again: both partners see their homework and get reminders.",
    ),
    "complete": (assignment_service.complete_assignment, "The program is marked complete."),
}
HISTORY_WORDS = {
    "assigned": "Program assigned",
    "advanced": "Moved on",
    "paused": "Paused",
    "resumed": "Resumed",
    "held": "Safety hold after a safety flag: the whole program paused for both partners",
    "completed": "Completed",
    "updated": "Weekly targets or note changed",
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


# --- couples -------------------------------------------------------------------------


def _couple_extras(couple_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Program and stage titles and the last check-in of each couple, in two queries.

    (What `couple_summaries` does not carry yet; it belongs there.)
    """
    extras: dict[str, dict[str, Any]] = {
        cid: {"program": None, "stage_title": None, "stages": 0, "last_checkin": None}
        for cid in couple_ids
    }
    if not couple_ids:
        return extras
    for assignment in db.session.scalars(
        select(Assignment).where(
            Assignment.couple_id.in_(couple_ids), Assignment.status != COMPLETED
        )
    ):
        program = assignment_service.frozen_program_data(assignment)
        stage = next((s for s in program["stages"] if s["index"] == assignment.stage_index), None)
        extras[assignment.couple_id].update(
            program=program["title"],
            stage_title=stage["title"] if stage else None,
            stages=len(program["stages"]),
        )
    for couple_id, last in db.session.execute(
        select(CheckIn.couple_id, func.max(CheckIn.occurred_at))
        .where(CheckIn.couple_id.in_(couple_ids))
        .group_by(CheckIn.couple_id)
    ):
        extras[couple_id]["last_checkin"] = last
    return extras


def _attention(row: dict[str, Any]) -> tuple[Any, ...]:
    """Who needs attention first: open alerts, then a pause, then low adherence."""
    summary = row["summary"]
    adherence = summary["adherence_this_week"]
    return (
        -summary["open_alerts"],
        summary["status"] != "paused" and not summary.get("on_hold"),
        adherence if adherence is not None else 2.0,
        row["couple"].label.lower(),
    )


@blp.get("/")
def couples() -> str:
    """The therapist's couples at a glance, who needs attention first."""
    therapist = g.therapist
    items, _ = list_couples(therapist=therapist, limit=MAX_COUPLES)
    summaries = couple_summaries(items)
    extras = _couple_extras([c.id for c in items])
    now = utcnow()
    rows = [
        {
            "couple": couple,
            "summary": summaries[couple.id],
            **extras[couple.id],
            "days_since": (now - extras[couple.id]["last_checkin"]).days
            if extras[couple.id]["last_checkin"]
            else None,
        }
        for couple in items
    ]
    rows.sort(key=_attention)
    return render_template("portal/couples.html", rows=rows, max_label=MAX_LABEL)


@blp.post("/couples")
def new_couple() -> Response:
    """Create a couple; its page shows the two invite codes to hand out."""
    label = request.form.get("label", "").strip()
    if not 1 <= len(label) <= MAX_LABEL:
        flash(f"Give the couple a name of 1 to {MAX_LABEL} characters.", "error")
        return _see("portal.couples")
    couple = create_couple(therapist=g.therapist, label=label)
    flash("Couple created. Give each partner their invite code.", "success")
    return _see("portal.couple", couple_id=couple.id)


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


@blp.get("/couples/<couple_id>")
def couple(couple_id: str) -> str:
    """One couple: program and stage, charts per partner, suggestion, check-ins, actions."""
    therapist = g.therapist
    couple = get_couple_for_therapist(therapist=therapist, couple_id=couple_id)
    progress = couple_progress(therapist=therapist, couple_id=couple.id)
    assignment = assignment_service.current_assignment(couple_id=couple.id)
    view = None
    stage_rows: list[dict[str, Any]] = []
    rating_keys: list[tuple[str, str]] = []
    if assignment is not None:
        view = assignment_service.assignment_view(
            assignment, viewer=therapist, therapist_id=therapist.id
        )
        exercises = assignment_service.frozen_exercises(assignment)
        rating_keys = charts.rating_keys(
            exercises, [w for p in progress["partners"] for w in p["weeks"]]
        )
        this_week = [
            {i["exercise"]: i for i in (p["weeks"][-1]["items"] if p["weeks"] else [])}
            for p in progress["partners"]
        ]
        for entry in (view["stage"] or {}).get("exercises", []):
            slug = entry["exercise"]
            stage_rows.append(
                {
                    "slug": slug,
                    "title": exercises[slug]["title"],
                    "joint": exercises[slug]["joint"],
                    "per_week": assignment.overrides.get(slug, entry["per_week"]),
                    "done": [w.get(slug, {}).get("done", 0) for w in this_week],
                }
            )
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
                "ratings": charts.ratings_chart(partner["weeks"], rating_keys),
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
        open_alerts=open_alerts,
        names={p.id: p.name for p in couple.partners},
        checkins=checkins,
        programs=[] if running else list_programs(user=therapist),
        running=running,
        today=now.astimezone(ZoneInfo(therapist.timezone)).date(),
    )


# --- acting on an assignment ---------------------------------------------------------


def _reason() -> str | None:
    reason = request.form.get("reason", "").strip()
    if len(reason) > MAX_REASON:
        raise ValidationFailed(f"Keep the reason under {MAX_REASON} characters.")
    return reason or None


@blp.post("/couples/<couple_id>/assignments")
def assign(couple_id: str) -> Response:
    """Give the couple a program from the catalog (or one of the therapist's own)."""
    couple = get_couple_for_therapist(therapist=g.therapist, couple_id=couple_id)
    raw_date = request.form.get("start_date", "").strip()
    try:
        start_date = form_date(raw_date) if raw_date else None
    except ValueError:
        flash("The start date is not a date.", "error")
        return _see("portal.couple", "#program", couple_id=couple.id)
    try:
        assignment_service.assign_program(
            therapist=g.therapist,
            couple_id=couple.id,
            program_slug=request.form.get("program", "")[:64],
            start_date=start_date,
        )
    except (Conflict, ValidationFailed) as error:
        db.session.rollback()
        flash(error.detail, "error")
    else:
        flash("Program assigned. Both partners see stage 1 in their app.", "success")
    return _see("portal.couple", "#program", couple_id=couple.id)


def change_assignment(assignment_id: str, action: str) -> Response:
    """Advance, pause, resume or complete the assignment, with an optional reason."""
    assignment = assignment_service.get_assignment_for(
        user=g.therapist, assignment_id=assignment_id
    )
    couple_id = assignment.couple_id
    change, done = ACTIONS[action]
    try:
        change(therapist=g.therapist, assignment_id=assignment.id, reason=_reason())
    except (Conflict, ValidationFailed) as error:
        db.session.rollback()
        flash(error.detail, "error")
    else:
        flash(done, "success")
    return _see("portal.couple", "#program", couple_id=couple_id)


for _action in ACTIONS:
    blp.add_url_rule(
        f"/assignments/<assignment_id>/{_action}",
        endpoint=f"assignment_{_action}",
        view_func=change_assignment,
        methods=["POST"],
        defaults={"action": _action},
    )


@blp.post("/assignments/<assignment_id>/targets")
def targets(assignment_id: str) -> Response:
    """Adjust this stage's weekly targets (0 skips an exercise)."""
    assignment = assignment_service.get_assignment_for(
        user=g.therapist, assignment_id=assignment_id
    )
    couple_id = assignment.couple_id
    overrides: dict[str, dict[str, int]] = {}
    for name, value in request.form.items():
        if name.startswith("per_week-") and value.strip():
            per_week = whole_number(value, maximum=10**6)
            if per_week is None:
                flash("Weekly targets are whole numbers.", "error")
                return _see("portal.couple", "#program", couple_id=couple_id)
            overrides[name.removeprefix("per_week-")[:64]] = {"per_week": per_week}
    try:
        assignment_service.update_assignment(
            therapist=g.therapist, assignment_id=assignment.id, overrides=overrides, note=None
        )
    except (Conflict, ValidationFailed) as error:
        db.session.rollback()
        messages = [m for ms in (error.errors or {}).values() for m in ms]
        flash(" ".join([error.detail, *messages]), "error")
    else:
        flash("Weekly targets saved.", "success")
    return _see("portal.couple", "#program", couple_id=couple_id)


# --- alerts --------------------------------------------------------------------------


@blp.get("/alerts")
def alerts() -> str:
    """Open safety and inactivity alerts, oldest first, and which couples are on hold."""
    therapist = g.therapist
    items = sorted(
        alert_service.open_alerts(therapist=therapist), key=lambda a: (a.created_at, a.id)
    )
    couples = {c.id: c for c in list_couples(therapist=therapist, limit=MAX_COUPLES)[0]}
    names = {p.id: p.name for c in couples.values() for p in c.partners}
    held = alert_service.held_assignments(sorted({a.couple_id for a in items}))
    return render_template(
        "portal/alerts.html", alerts=items, couples=couples, names=names, held=held
    )


@blp.post("/alerts/<alert_id>/ack")
def acknowledge(alert_id: str) -> Response:
    """Mark an alert seen. It never resumes exercises: that is its own act (resume)."""
    alert = alert_service.acknowledge_alert(therapist=g.therapist, alert_id=alert_id)
    if alert_service.held_assignments([alert.couple_id]):
        flash(
            "Alert acknowledged. This does not resume exercises: the program stays "
            "paused for both partners until you resume it.",
            "success",
        )
    else:
        flash("Alert acknowledged.", "success")
    target = safe_next(request.form.get("next"))
    return redirect(target or url_for("portal.alerts"), code=303)
