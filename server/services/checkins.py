"""Check-ins: recording them (idempotently, validated, safety first) and showing each
caller exactly what the privacy rules allow."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from exercises.forms import flags_from_answers, partner_hidden_keys, validate_answers
from exercises.model import Exercise
from exercises.program import local_date
from server.crypto import cipher
from server.db import is_id, utcnow
from server.errors import Conflict, NotFound, ValidationFailed
from server.extensions import db
from server.models import COMPLETED, FLAGS, Alert, Assignment, CheckIn, Couple, User
from server.services.assignments import (
    frozen_exercise,
    frozen_exercises,
    frozen_program,
    hold_for_safety,
)
from server.services.audit import record_event
from server.services.couples import get_couple_for_therapist

log = logging.getLogger(__name__)

FUTURE_TOLERANCE = timedelta(minutes=5)
MAX_REFLECTION = 10_000

CRISIS_GUIDANCE = {
    "message": (
        "Thank you for telling us. Your therapist has been told, and the exercises you do "
        "together are paused until they have looked at it. You can stop any exercise at "
        "any time."
    ),
    "pain": (
        "If something hurts, stop. Don't push through pain. If the pain is strong, lasts, or "
        "comes back, talk to a doctor; for pain in the genitals or pelvis a pelvic-floor "
        "physiotherapist can help too."
    ),
    "emergency": (
        "Tandem is not an emergency service. If you are in danger or might hurt yourself, "
        "call your local emergency number now (112 in Europe, 911 in North America)."
    ),
}


# --- the fingerprint that tells an offline retry from a different check-in -----------
#
# `checkins.body_hash` holds a keyed fingerprint (HMAC-SHA256, `DataCipher.fingerprint`)
# of the check-in's canonical form, never a plain digest: free text is in it, and a plain
# SHA-256 would let a copy of the database confirm a guessed reflection (privacy rule 7).
# The canonical form is built from what the check-in *means*, so it can be rebuilt from
# the stored row (answers, the decrypted text, the flags raised) by `tandem keys rotate`
# and by migration 0005, which recompute every fingerprint with the newest key:
#
# - `occurred_at` as a UTC instant, `visibility` with its default filled in;
# - all answers (ratings, choices and text, as sent, nulls included);
# - the reflection, "" and absent counting as none;
# - the flags *raised*: those sent as true plus those the answers raise (as stored).
#
# So a retry that differs only in how it says the same thing (a flag sent that its
# answers raise anyway, `"stop": false` instead of leaving it out, `+02:00` instead of
# `Z` for the same instant) is the same check-in (200); anything else is 409.


def fingerprint_text(
    *,
    checkin_id: str,
    assignment_id: str,
    exercise: str,
    occurred_at: datetime,
    answers: dict[str, Any],
    reflection: str | None,
    visibility: str,
    flags: Iterable[str],
) -> str:
    """The canonical form of a check-in that its fingerprint is the HMAC of."""
    canonical = {
        "id": checkin_id,
        "assignment_id": assignment_id,
        "exercise": exercise,
        "occurred_at": occurred_at.astimezone(UTC).isoformat(),
        "answers": answers,
        "reflection": reflection or None,
        "visibility": visibility,
        "flags": sorted(set(flags)),
    }
    return json.dumps(
        canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str
    )


def sent_flags(body: dict[str, Any]) -> set[str]:
    """The flags a check-in request sends as raised."""
    return {name for name, raised in (body.get("flags") or {}).items() if raised}


def body_hash(body: dict[str, Any], flags: Iterable[str]) -> str:
    """The fingerprint of a check-in request (`flags`: all it raises), newest key."""
    return cipher().fingerprint(_body_text(body, flags))


def stored_body_hash(
    *,
    checkin_id: str,
    assignment_id: str,
    exercise: str,
    occurred_at: datetime,
    answers: dict[str, Any],
    text_encrypted: str | None,
    visibility: str,
    flags: Iterable[str],
) -> str:
    """The fingerprint of a stored check-in, recomputed with the newest key (rotation,
    migration). Raises ValueError if its text cannot be decrypted."""
    secret = json.loads(cipher().decrypt(text_encrypted)) if text_encrypted else {}
    return cipher().fingerprint(
        fingerprint_text(
            checkin_id=checkin_id,
            assignment_id=assignment_id,
            exercise=exercise,
            occurred_at=occurred_at,
            answers={**(answers or {}), **(secret.get("answers") or {})},
            reflection=secret.get("reflection"),
            visibility=visibility,
            flags=flags,
        )
    )


def _body_text(body: dict[str, Any], flags: Iterable[str]) -> str:
    return fingerprint_text(
        checkin_id=body["id"],
        assignment_id=body["assignment_id"],
        exercise=body["exercise"],
        occurred_at=body["occurred_at"],
        answers=body.get("answers") or {},
        reflection=body.get("reflection"),
        visibility=body.get("visibility") or "therapist",
        flags=flags,
    )


def _same_checkin(existing: CheckIn, body: dict[str, Any]) -> bool:
    """Whether `body` is a retry of `existing`: the flags its answers raise come from the
    exercise form frozen with the stored check-in's assignment."""
    raised = sent_flags(body)
    answers = body.get("answers") or {}
    assignment = db.session.get(Assignment, existing.assignment_id)
    slug = body["exercise"]
    if (
        assignment is not None
        and slug in frozen_exercises(assignment)
        and isinstance(answers, dict)
    ):
        raised |= flags_from_answers(frozen_exercise(assignment, slug).form, answers)
    return cipher().fingerprint_matches(_body_text(body, raised), existing.body_hash)


def _split_answers(
    exercise: Exercise, answers: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Ratings and choices (stored as they are) apart from free text (stored encrypted)."""
    text_keys = {q.key for q in exercise.form if q.type == "text"}
    plain = {k: v for k, v in answers.items() if k not in text_keys}
    text = {k: v for k, v in answers.items() if k in text_keys}
    return plain, text


def record_checkin(*, author: User, body: dict[str, Any]) -> tuple[CheckIn, bool, list[str]]:
    """Store a check-in; returns (check-in, created, flags raised).

    Same id and same body again answers the stored check-in (an offline retry); same id
    with a different body is a conflict. A retry is answered even when the body would
    no longer be accepted (the stage moved on, the program completed): the id is looked
    up before any refusal, and a new check-in's INSERT finds a stored one by itself, so
    the common case (a new, valid check-in) needs no lookup.
    """
    try:
        checkin, flags = _new_checkin(author, body)
    except (ValidationFailed, Conflict):
        existing = db.session.get(CheckIn, body["id"]) if is_id(body["id"]) else None
        if existing is not None:
            return _replay(existing, author, body), False, []
        raise
    # Two identical requests racing, or a retry: the primary key lets exactly one in.
    if not _insert_new(checkin):
        existing = db.session.get(CheckIn, body["id"], populate_existing=True)
        if existing is None:
            raise Conflict("This check-in is being recorded; try again.", code="checkin_busy")
        return _replay(existing, author, body), False, []
    if flags:
        assignment = db.session.get(Assignment, checkin.assignment_id)
        assert assignment is not None  # read by _new_checkin in this transaction
        raise_safety_alert(checkin=checkin, assignment=assignment, author=author)
    else:
        # Once the week's target is met, pending reminders for it are cancelled.
        from server.services.replans import request_replan

        request_replan([author.id])
    return checkin, True, flags


def _new_checkin(author: User, body: dict[str, Any]) -> tuple[CheckIn, list[str]]:
    """The check-in `body` describes, validated against the author's assignment (not
    stored), and the flags it raises; ValidationFailed or Conflict when refused."""
    assignment = _writable_assignment(author, body["assignment_id"])
    program = frozen_program(assignment)
    stage = program.stage(assignment.stage_index)
    slug = body["exercise"]
    if slug not in stage.exercise_slugs:
        raise ValidationFailed(
            "This exercise is not part of the current stage.",
            errors={"exercise": [f"{slug!r} is not in stage {stage.index} of this program."]},
        )
    exercise = frozen_exercise(assignment, slug)
    occurred_at: datetime = body["occurred_at"]
    now = utcnow()
    errors: dict[str, list[str]] = {}
    if occurred_at > now + FUTURE_TOLERANCE:
        errors["occurred_at"] = ["Must not be in the future."]
    elif local_date(occurred_at, ZoneInfo(author.timezone)) < assignment.start_date:
        errors["occurred_at"] = ["Must not be before the assignment started."]
    answers = body.get("answers") or {}
    for key, messages in validate_answers(exercise.form, answers).items():
        errors[f"answers.{key}"] = messages
    if errors:
        raise ValidationFailed("The check-in is not valid.", errors=errors)

    flags = sorted(sent_flags(body) | set(flags_from_answers(exercise.form, answers)))
    plain, text = _split_answers(exercise, answers)
    reflection = body.get("reflection")
    secret = {"answers": text, "reflection": reflection} if (text or reflection) else None
    checkin = CheckIn(
        id=body["id"],
        assignment_id=assignment.id,
        couple_id=assignment.couple_id,
        author_id=author.id,
        exercise=slug,
        stage_index=assignment.stage_index,
        occurred_at=occurred_at,
        recorded_at=now,
        answers=plain,
        text_encrypted=cipher().encrypt(json.dumps(secret)) if secret else None,
        visibility=body.get("visibility") or "therapist",
        flags=flags,
        body_hash=body_hash(body, flags),
    )
    return checkin, flags


def _insert_new(checkin: CheckIn) -> bool:
    """INSERT the check-in unless its id exists (one statement, no savepoint): False
    when a twin got there first. On PostgreSQL a twin still in flight is waited for;
    once it has committed, its row is visible to the caller's next statement."""
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    values = {column.key: getattr(checkin, column.key) for column in _CHECKIN_COLUMNS}
    inserted = db.session.execute(
        insert(_CHECKINS)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(_CHECKINS.c.id)
    ).first()
    return inserted is not None


_CHECKINS = CheckIn.__table__
_CHECKIN_COLUMNS = tuple(_CHECKINS.columns)


def _replay(existing: CheckIn, author: User, body: dict[str, Any]) -> CheckIn:
    if existing.author_id != author.id or not _same_checkin(existing, body):
        raise Conflict(
            "A different check-in with this id already exists.", code="checkin_id_conflict"
        )
    return existing


def _writable_assignment(author: User, assignment_id: str) -> Assignment:
    assignment = None
    if is_id(assignment_id):
        assignment = db.session.get(Assignment, assignment_id)
    if assignment is None or assignment.couple_id != author.couple_id:
        raise ValidationFailed(
            "Unknown assignment.", errors={"assignment_id": ["No such assignment of yours."]}
        )
    if assignment.status == COMPLETED:
        raise Conflict(
            "This program is completed; it takes no more check-ins.", code="assignment_completed"
        )
    return assignment


def raise_safety_alert(*, checkin: CheckIn, assignment: Assignment, author: User) -> Alert:
    """Tell the therapist at once and hold the couple's whole program (both partners)."""
    alert = Alert(
        couple_id=assignment.couple_id,
        partner_id=author.id,
        kind="safety",
        flags=list(checkin.flags),
        checkin_id=checkin.id,
    )
    db.session.add(alert)
    hold_for_safety(assignment=assignment, raised_by=author)
    db.session.flush()
    from server.services.reminders import notify_therapist

    therapist_id = db.session.scalar(
        select(Couple.therapist_id).where(Couple.id == assignment.couple_id)
    )
    if therapist_id:
        notify_therapist(therapist_id=therapist_id, alert_id=alert.id)
    log.info("safety alert %s raised for couple %s", alert.id, assignment.couple_id)
    return alert


# --- reading -------------------------------------------------------------------------


def _decrypted(checkin: CheckIn) -> tuple[dict[str, Any], str | None]:
    answers = dict(checkin.answers)
    reflection = None
    if checkin.text_encrypted:
        secret = json.loads(cipher().decrypt(checkin.text_encrypted))
        answers.update(secret.get("answers") or {})
        reflection = secret.get("reflection")
    return answers, reflection


def _safety_keys(checkin: CheckIn, exercises: dict[str, Any]) -> frozenset[str]:
    """Answers the partner never reads: those that could reveal a safety flag, and the
    therapist-only ones such as "ready to move on" (privacy rule 4)."""
    return partner_hidden_keys(exercises.get(checkin.exercise, {}).get("form", []))


def sees_content(checkin: CheckIn, viewer: User) -> bool:
    if viewer.id == checkin.author_id:
        return True
    if viewer.is_therapist:
        return checkin.visibility in ("therapist", "couple")
    return checkin.visibility == "couple"


def checkin_view(
    checkin: CheckIn, viewer: User, exercises: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What `viewer` may see of a check-in (callers have checked that they may see it).

    - the author: everything;
    - the therapist: everything, except answers and reflection of a `private` one;
      safety flags always;
    - the partner (only `couple` ones): answers and reflection, but never flags, nor
      the answers that raise them, nor therapist-only answers (privacy rule 4).
    """
    view: dict[str, Any] = {
        "id": checkin.id,
        "assignment_id": checkin.assignment_id,
        "exercise": checkin.exercise,
        "author_id": checkin.author_id,
        "occurred_at": checkin.occurred_at,
        "recorded_at": checkin.recorded_at,
        "visibility": checkin.visibility,
        "answers": None,
        "reflection": None,
        "flags": {flag: flag in checkin.flags for flag in FLAGS},
    }
    if sees_content(checkin, viewer):
        view["answers"], view["reflection"] = _decrypted(checkin)
    if not viewer.is_therapist and viewer.id != checkin.author_id:
        view["flags"] = {}
        hidden = _safety_keys(checkin, exercises or {})
        view["answers"] = {k: v for k, v in (view["answers"] or {}).items() if k not in hidden}
    return view


def get_checkin_for(*, viewer: User, checkin_id: str) -> tuple[CheckIn, dict[str, Any]]:
    """One check-in for `viewer`, or 404 exactly as if it did not exist."""
    if not is_id(checkin_id):
        raise NotFound("No such check-in.")
    row = db.session.execute(
        select(CheckIn, Couple.therapist_id, Assignment.exercises)
        .join(Couple, Couple.id == CheckIn.couple_id)
        .join(Assignment, Assignment.id == CheckIn.assignment_id)
        .where(CheckIn.id == checkin_id)
    ).one_or_none()
    if row is None:
        raise NotFound("No such check-in.")
    checkin, therapist_id, exercises = row
    if viewer.id == checkin.author_id:
        return checkin, exercises
    if viewer.is_therapist and viewer.id == therapist_id:
        audit_reads([checkin], viewer)
        return checkin, exercises
    if (
        not viewer.is_therapist
        and viewer.couple_id == checkin.couple_id
        and checkin.visibility == "couple"
    ):
        return checkin, exercises
    raise NotFound("No such check-in.")


def audit_reads(checkins: Iterable[CheckIn], therapist: User) -> None:
    """Privacy rule 6: every therapist read of check-in content is audited."""
    for checkin in checkins:
        if sees_content(checkin, therapist):
            record_event(
                actor_id=therapist.id,
                action="checkin.read",
                object_type="checkin",
                object_id=checkin.id,
                couple_id=checkin.couple_id,
            )


def list_own_checkins(*, author: User, offset: int, limit: int) -> tuple[list[CheckIn], int]:
    total = db.session.scalar(
        select(func.count()).select_from(CheckIn).where(CheckIn.author_id == author.id)
    )
    rows = db.session.scalars(
        select(CheckIn)
        .where(CheckIn.author_id == author.id)
        .order_by(CheckIn.occurred_at.desc(), CheckIn.id)
        .offset(offset)
        .limit(limit)
    )
    return list(rows), int(total or 0)


def list_couple_checkins(
    *, therapist: User, couple_id: str, offset: int, limit: int
) -> tuple[list[CheckIn], int]:
    """The couple's check-ins for their therapist (content per visibility), newest first."""
    couple = get_couple_for_therapist(therapist=therapist, couple_id=couple_id)
    total = db.session.scalar(
        select(func.count()).select_from(CheckIn).where(CheckIn.couple_id == couple.id)
    )
    rows = list(
        db.session.scalars(
            select(CheckIn)
            .where(CheckIn.couple_id == couple.id)
            .order_by(CheckIn.occurred_at.desc(), CheckIn.id)
            .offset(offset)
            .limit(limit)
        )
    )
    audit_reads(rows, therapist)
    return rows, int(total or 0)


def list_shared_checkins(
    *, partner: User, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """The other partner's check-ins shared with the couple (`visibility: couple`), newest
    first, as the partner may see them: no flags, no answers that raise one, no
    therapist-only answers (`checkin_view`). Nothing else of the other's is counted."""
    if partner.is_therapist or partner.couple_id is None:
        return [], 0
    shared = (
        CheckIn.couple_id == partner.couple_id,
        CheckIn.author_id != partner.id,
        CheckIn.visibility == "couple",
    )
    total = db.session.scalar(select(func.count()).select_from(CheckIn).where(*shared))
    rows = db.session.execute(
        select(CheckIn, Assignment.exercises)
        .join(Assignment, Assignment.id == CheckIn.assignment_id)
        .where(*shared)
        .order_by(CheckIn.occurred_at.desc(), CheckIn.id)
        .offset(offset)
        .limit(limit)
    )
    views = [checkin_view(checkin, partner, exercises) for checkin, exercises in rows]
    return views, int(total or 0)
