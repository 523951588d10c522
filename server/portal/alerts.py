"""The alerts inbox: open safety and inactivity alerts, and acknowledging one.

Acknowledging records that the therapist read the alert; it never resumes exercises.
Lifting a safety hold is its own form ("Resume exercises", `server.portal.workflow`)
and asks for its own reason.
"""

from __future__ import annotations

from flask import Response, flash, g, redirect, render_template, request, url_for

from server.portal.security import safe_next
from server.portal.views import MAX_COUPLES, blp
from server.services import alerts as alert_service
from server.services.couples import list_couples


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
