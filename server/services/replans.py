"""Re-planning as an event: whatever changes a partner's reminder inputs (a check-in,
their settings, an assignment change, a questionnaire schedule) writes a
`replan_requests` row in its own transaction, and the worker's "replan" job (every
2 s) re-plans the partners it names and deletes the rows in one transaction, so a
crash loses nothing and a request costs the request one INSERT, not a plan.

Two places do not wait for the job:

* the dispatcher (`apply_due_replans`, first thing in `SqlOutbox.claim`): a partner
  with a pending request and a reminder due now is re-planned before the claim, so a
  reminder for something already done (the week's target met, settings paused) is
  cancelled, never sent. One query when there is nothing to do.
* `GET /me/reminders` (`apply_own_request`): the caller's own pending request is
  applied first, so a partner who just checked in or changed settings reads the new
  plan (read-your-writes).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from server.db import utcnow
from server.extensions import db
from server.models import CLIENT, PENDING, Reminder, ReplanRequest, User

# Partners the replan job takes per transaction.
BATCH = 1000


def _insert() -> Any:
    return pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert


def request_replan(user_ids: Iterable[str], *, now: datetime | None = None) -> None:
    """Ask for these partners' reminders to be re-planned, in the caller's transaction:
    one INSERT (a partner already waiting keeps their row)."""
    ids = sorted(set(user_ids))
    if not ids:
        return
    at = now or utcnow()
    statement = _insert()(ReplanRequest).values([{"user_id": i, "requested_at": at} for i in ids])
    db.session.execute(statement.on_conflict_do_nothing(index_elements=["user_id"]))


def request_replan_couple(couple_id: str, *, now: datetime | None = None) -> None:
    """`request_replan` for both partners of a couple: one INSERT … SELECT."""
    at = now or utcnow()
    partners = select(User.id, literal(at, type_=ReplanRequest.requested_at.type)).where(
        User.couple_id == couple_id, User.role == CLIENT
    )
    statement = _insert()(ReplanRequest).from_select(["user_id", "requested_at"], partners)
    db.session.execute(statement.on_conflict_do_nothing(index_elements=["user_id"]))


def replan_after_change(assignment: Any) -> None:
    """An assignment changed (stage, targets, pause, hold, resume, completion): both
    partners' reminders are re-planned by the job; and when the program stops (a pause,
    a safety hold, completion) their pending homework reminders are cancelled at once,
    in this transaction, whatever their time: a hold stops every reminder immediately
    and looks exactly like a pause (the same rows, the same reason)."""
    from server.services.assignments import is_running

    request_replan_couple(assignment.couple_id)
    if not is_running(assignment):
        partners = select(User.id).where(
            User.couple_id == assignment.couple_id, User.role == CLIENT
        )
        now = utcnow()
        db.session.execute(
            update(Reminder)
            .where(
                Reminder.user_id.in_(partners.scalar_subquery()),
                Reminder.kind == "reminder",
                Reminder.status == PENDING,
            )
            .values(status="cancelled", error="no longer due", updated_at=now)
            .execution_options(synchronize_session=False)
        )


def _take(which: Select[tuple[str]], *, wait: bool) -> list[str]:
    """Delete the requests `which` selects and return their user ids (one statement).
    PostgreSQL: rows another transaction holds are skipped (`wait=False`, the job: it
    takes others) or waited for (`wait=True`: that transaction re-plans them, and once
    it commits the caller sees its plan). SQLite has one writer: no locks to skip."""
    if db.engine.dialect.name == "postgresql":
        which = which.with_for_update(skip_locked=not wait)
    return list(
        db.session.scalars(
            delete(ReplanRequest)
            .where(ReplanRequest.user_id.in_(which.scalar_subquery()))
            .returning(ReplanRequest.user_id)
            .execution_options(synchronize_session=False)
        )
    )


def replan_pass(*, now: datetime | None = None, batch: int = BATCH) -> dict[str, int]:
    """The worker's "replan" job: take requests a batch at a time (oldest first),
    re-plan those partners and commit, until none are left."""
    from server.services.reminders import DUE_LOOKBACK, replan_users

    now = now or utcnow()
    partners = added = 0
    while True:
        ids = _take(
            select(ReplanRequest.user_id).order_by(ReplanRequest.requested_at).limit(batch),
            wait=False,
        )
        if not ids:
            db.session.commit()
            return {"replanned": partners, "planned": added}
        added += replan_users(ids, now=now, due_since=now - DUE_LOOKBACK)
        db.session.commit()
        partners += len(ids)
        if len(ids) < batch:
            return {"replanned": partners, "planned": added}


def apply_due_replans(*, now: datetime) -> int:
    """Before the dispatcher claims: for the partners who have a pending request AND a
    reminder due at `now`, cancel the due reminders their plan (computed now) no longer
    has, so the claim that follows never takes a reminder for something already done.
    The requests stay for the replan job (which re-plans the rest). One query when
    there is nothing to do; the caller commits (the claim does). Returns how many
    partners were checked."""
    from server.services.reminders import cancel_unwanted_due

    ids = list(
        db.session.scalars(
            select(ReplanRequest.user_id).where(
                select(Reminder.id)
                .where(
                    Reminder.user_id == ReplanRequest.user_id,
                    Reminder.status == PENDING,
                    Reminder.kind == "reminder",
                    Reminder.next_attempt_at <= now,
                )
                .exists()
            )
        )
    )
    if ids:
        cancel_unwanted_due(ids, now=now)
    return len(ids)


def apply_own_request(user_id: str, *, now: datetime | None = None) -> bool:
    """Read-your-writes: re-plan `user_id` now if a request of theirs is pending."""
    from server.services.reminders import DUE_LOOKBACK, replan_users

    waiting = select(ReplanRequest.user_id).where(ReplanRequest.user_id == user_id)
    if db.session.scalar(waiting) is None:
        return False
    now = now or utcnow()
    ids = _take(waiting, wait=True)
    if ids:
        replan_users(ids, now=now, due_since=now - DUE_LOOKBACK)
    return bool(ids)


def backlog(*, now: datetime | None = None) -> tuple[int, float]:
    """How many requests wait, and the oldest one's age in seconds (0 when none)."""
    from sqlalchemy import func

    count, oldest = db.session.execute(
        select(func.count(), func.min(ReplanRequest.requested_at))
    ).one()
    if not count or oldest is None:
        return 0, 0.0
    return int(count), max(0.0, ((now or utcnow()) - oldest).total_seconds())
