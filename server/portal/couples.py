"""The couples list (who needs attention first, `?q=` to find one by its label, pages of
25, a marker for a reliable worsening on a questionnaire) and adding a couple."""

from __future__ import annotations

from typing import Any

from flask import Response, flash, g, render_template, request
from sqlalchemy import func, select

from server.db import utcnow
from server.extensions import db
from server.models import COMPLETED, Assignment, CheckIn, Couple, MeasureResponse
from server.portal import charts
from server.portal.security import page_number
from server.portal.views import MAX_COUPLES, MAX_LABEL, _see, blp
from server.services import assignments as assignment_service
from server.services.audit import record_event
from server.services.couples import create_couple, list_couples
from server.services.measures import measures_catalog
from server.services.progress import couple_summaries

COUPLES_PER_PAGE = 25


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


def _reliable_worsening(couple_ids: list[str]) -> dict[str, list[str]]:
    """Couple id → titles of the questionnaires on which a partner's latest score is
    worse than their first by at least the measure's reliable change, in one query."""
    if not couple_ids:
        return {}
    catalog = measures_catalog()
    first_last: dict[tuple[str, str, str], list[int]] = {}
    for couple_id, author_id, measure, score in db.session.execute(
        select(
            MeasureResponse.couple_id,
            MeasureResponse.author_id,
            MeasureResponse.measure,
            MeasureResponse.score,
        )
        .where(MeasureResponse.couple_id.in_(couple_ids))
        .order_by(MeasureResponse.completed_at, MeasureResponse.id)
    ):
        scores = first_last.setdefault((couple_id, author_id, measure), [score, score])
        scores[1] = score
    out: dict[str, list[str]] = {}
    for (couple_id, _, slug), (first, last) in first_last.items():
        measure = catalog.get(slug)
        if measure is None or measure.reliable_change is None:
            continue
        if charts.worsened(first, last, measure.direction, measure.reliable_change.points):
            titles = out.setdefault(couple_id, [])
            if measure.title not in titles:
                titles.append(measure.title)
    return out


def _matches(couple: Couple, query: str) -> bool:
    """Whether the couple's label contains `query`, ignoring case."""
    return query.casefold() in couple.label.casefold()


@blp.get("/")
def couples() -> str:
    """The therapist's couples at a glance, who needs attention first; `?q=` finds a
    couple by its label (any case), `?page=` pages through them."""
    therapist = g.therapist
    query = request.args.get("q", "").strip()[:MAX_LABEL]
    items, total = list_couples(therapist=therapist, limit=MAX_COUPLES)
    if query:
        items = [c for c in items if _matches(c, query)]
    summaries = couple_summaries(items)
    extras = _couple_extras([c.id for c in items])
    worsening = _reliable_worsening([c.id for c in items])
    for couple_id in worsening:  # a marker is read from responses' scores (rule 6)
        record_event(
            actor_id=therapist.id,
            action="measures.read",
            object_type="couple",
            object_id=couple_id,
            couple_id=couple_id,
            detail={"view": "couples list marker"},
        )
    now = utcnow()
    rows = [
        {
            "couple": couple,
            "summary": summaries[couple.id],
            **extras[couple.id],
            "days_since": (now - extras[couple.id]["last_checkin"]).days
            if extras[couple.id]["last_checkin"]
            else None,
            "worsening": worsening.get(couple.id, []),
        }
        for couple in items
    ]
    rows.sort(key=_attention)
    pages = max(1, -(-len(rows) // COUPLES_PER_PAGE))
    page = min(page_number(request.args.get("page")), pages)
    shown = rows[(page - 1) * COUPLES_PER_PAGE : page * COUPLES_PER_PAGE]
    return render_template(
        "portal/couples.html",
        rows=shown,
        matched=len(rows),
        total=total,
        query=query,
        page=page,
        pages=pages,
        max_label=MAX_LABEL,
    )


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
