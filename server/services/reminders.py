"""Reminders: settings, planning into the outbox, inactivity nudges and the therapist's
alert pushes (devices are in `devices`, the dispatcher's side of the outbox in
`outbox`). Planning is batched: a fixed number of queries per chunk of
partners, whatever their number."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import String, any_, bindparam, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from exercises.program import CheckinRecord, homework, local_date, week_of
from notifications.dispatch import DEFAULT_MAX_LATE
from notifications.planning import (
    HomeworkState,
    InvalidSettings,
    PlannedReminder,
    ReminderSettings,
    default_settings,
    measure_reminder_at,
    plan_reminders,
    settings_from_api,
    settings_to_api,
)
from server.crypto import cipher
from server.db import new_id, utcnow
from server.errors import ValidationFailed
from server.extensions import db
from server.models import (
    ACTIVE,
    CLIENT,
    COMPLETED,
    PENDING,
    Assignment,
    CheckIn,
    Reminder,
    ReminderPlan,
    ReminderPreferences,
    ReplanRequest,
    User,
)
from server.services.assignments import frozen_program, is_running

log = logging.getLogger(__name__)

PLAN_HORIZON = timedelta(hours=24)
# A re-plan looks back this far for due reminders no longer wanted (older ones the
# dispatcher drops as late anyway).
DUE_LOOKBACK = DEFAULT_MAX_LATE
CHUNK = 1000
NUDGE_AFTER = timedelta(days=4)
INACTIVITY_ALERT_AFTER = timedelta(days=7)
NUDGE_TEXT = ("A gentle reminder", "Whenever you are ready, a few minutes for yourself.")
ALERT_TEXT = ("Tandem", "You have a new alert to look at.")
# A questionnaire is due: discreet (no clinical words), said once per period.
MEASURE_TEXT = ("A few questions", "A few short questions are waiting, whenever suits you.")


# --- settings ----------------------------------------------------------------------


def _hhmm(value: str | None) -> time | None:
    return time.fromisoformat(value) if value else None


def settings_from_row(row: ReminderPreferences | None, timezone: str) -> ReminderSettings:
    if row is None:
        return default_settings(timezone)
    return ReminderSettings(
        timezone=timezone,
        times=tuple(time.fromisoformat(t) for t in row.times),
        days=frozenset(row.days),
        quiet_start=_hhmm(row.quiet_start),
        quiet_end=_hhmm(row.quiet_end),
        paused=row.paused,
        discreet=row.discreet,
        text=cipher().decrypt(row.text_encrypted) if row.text_encrypted else None,
    )


def settings_for(user: User) -> ReminderSettings:
    return settings_from_row(db.session.get(ReminderPreferences, user.id), user.timezone)


def settings_view(user: User) -> dict[str, Any]:
    return dict(settings_to_api(settings_for(user)))


def update_settings(*, user: User, data: dict[str, Any]) -> dict[str, Any]:
    """Replace the caller's settings (fields left out keep their value) and ask for a
    re-plan (the worker's replan job; GET /me/reminders applies it at once)."""
    try:
        settings = settings_from_api(data, base=settings_for(user))
    except InvalidSettings as exc:
        raise ValidationFailed("Some settings are invalid.", errors=exc.errors) from None
    user.timezone = settings.timezone
    row = db.session.get(ReminderPreferences, user.id) or ReminderPreferences(user_id=user.id)
    row.times = [t.strftime("%H:%M") for t in sorted(settings.times)]
    row.days = sorted(settings.days)
    row.quiet_start = settings.quiet_start.strftime("%H:%M") if settings.quiet_start else None
    row.quiet_end = settings.quiet_end.strftime("%H:%M") if settings.quiet_end else None
    row.paused = settings.paused
    row.discreet = settings.discreet
    row.text_encrypted = cipher().encrypt(settings.text) if settings.text else None
    db.session.add(row)
    db.session.flush()
    from server.services.replans import request_replan

    request_replan([user.id])
    return dict(settings_to_api(settings))


# --- planning ----------------------------------------------------------------------


def _homework_state(
    partner: User,
    assignment: Assignment | None,
    records: list[CheckinRecord],
    tz: ZoneInfo,
    now: datetime,
) -> HomeworkState:
    week_start = week_of(now, tz).start
    # A safety hold stops every reminder of both partners, exactly as a pause does:
    # the state is the same, so the plan cannot tell them apart (privacy rule 4).
    if (
        assignment is None
        or not is_running(assignment)
        or local_date(now, tz) < assignment.start_date
    ):
        return HomeworkState(week_start=week_start, remaining_this_week=0, active=False)
    program = frozen_program(assignment)
    result = homework(
        program,
        assignment.stage_index,
        checkins=records,
        tz=tz,
        now=now,
        overrides=assignment.overrides,
    )
    return HomeworkState(
        week_start=week_start,
        remaining_this_week=sum(i.remaining for i in result.items),
        remaining_next_weeks=sum(i.per_week for i in result.items),
        active=True,
    )


class _Partner(NamedTuple):
    """A partner as the planner needs them (plain columns, no ORM entity)."""

    id: str
    timezone: str
    couple_id: str | None
    is_therapist: bool = False


_PARTNER = (User.id, User.timezone, User.couple_id)


class _Running:
    """An assignment as the planner needs it: plain columns; its frozen program is read
    (one row, once per program version and process) only when no cache holds it."""

    __slots__ = (
        "couple_id",
        "id",
        "on_hold",
        "overrides",
        "program_version_id",
        "stage_index",
        "start_date",
        "status",
    )

    def __init__(self, row: Any) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(row, name))

    @property
    def program(self) -> dict[str, Any]:
        return db.session.scalar(  # type: ignore[no-any-return]
            select(Assignment.program).where(Assignment.id == self.id)
        )


_ASSIGNMENT = (
    Assignment.id,
    Assignment.couple_id,
    Assignment.program_version_id,
    Assignment.stage_index,
    Assignment.status,
    Assignment.on_hold,
    Assignment.start_date,
    Assignment.overrides,
)
_PREFS = (
    ReminderPreferences.user_id,
    ReminderPreferences.times,
    ReminderPreferences.days,
    ReminderPreferences.quiet_start,
    ReminderPreferences.quiet_end,
    ReminderPreferences.paused,
    ReminderPreferences.discreet,
    ReminderPreferences.text_encrypted,
)


def _in(column: Any, values: Iterable[str]) -> Any:
    """`column IN values`; on PostgreSQL `= ANY(array)`: one parameter, so the driver
    neither renders nor parses a thousand placeholders per statement."""
    if db.engine.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(String)))
    return column.in_(list(values))


def _partners(user_ids: Sequence[str]) -> list[_Partner]:
    return [
        _Partner(*row)
        for row in db.session.execute(
            select(*_PARTNER).where(_in(User.id, user_ids), User.role == CLIENT)
        )
    ]


def replan_users(
    user_ids: Sequence[str], *, now: datetime | None = None, due_since: datetime | None = None
) -> int:
    """Re-plan these partners' next 24 hours: new slots added, stale pending ones
    cancelled (never sent). With `due_since`, pending reminders already due (sent at or
    after `due_since`, not yet claimed) that the new plan no longer has are cancelled
    too — the replan job and the dispatcher's check pass it. Returns how many reminders
    were added."""
    now = now or utcnow()
    added = 0
    for start in range(0, len(user_ids), CHUNK):
        chunk = list(user_ids[start : start + CHUNK])
        added += _plan_chunk(_partners(chunk), now, due_since=due_since)
    return added


def cancel_unwanted_due(user_ids: Sequence[str], *, now: datetime) -> None:
    """Cancel these partners' pending reminders due in the last DUE_LOOKBACK that their
    plan, computed now, no longer has (the week's target met, settings paused, a time
    removed); nothing else changes (the replan job re-plans the rest)."""
    for start in range(0, len(user_ids), CHUNK):
        chunk = list(user_ids[start : start + CHUNK])
        _plan_chunk(_partners(chunk), now, due_since=now - DUE_LOOKBACK, due_only=True)


def plan_all(*, now: datetime) -> int:
    """Plan every partner's reminders for the 24 hours after `now`, chunk by chunk.

    Only partners with work to do are loaded: never planned (or planned at a later
    `now`), a candidate slot of theirs entering the window (`ReminderPlan.next_slot_at`),
    a pending replan request, or a questionnaire schedule (due dates move with time).
    Everyone else's plan for the window is already in the outbox: nothing else changes
    with time alone, and every change of input writes a replan request."""
    from server.models import MeasureSchedule

    horizon_end = now + PLAN_HORIZON
    plan = ReminderPlan
    needs_work = or_(
        plan.user_id.is_(None),
        plan.planned_at > now,
        plan.next_slot_at <= horizon_end,
        User.couple_id.in_(select(MeasureSchedule.couple_id)),
        select(ReplanRequest.user_id).where(ReplanRequest.user_id == User.id).exists(),
    )
    added = 0
    last = ""
    while True:
        partners = [
            _Partner(*row)
            for row in db.session.execute(
                select(*_PARTNER)
                .outerjoin(plan, plan.user_id == User.id)
                .where(User.role == CLIENT, User.couple_id.is_not(None), User.id > last)
                .where(needs_work)
                .order_by(User.id)
                .limit(CHUNK)
            )
        ]
        if not partners:
            return added
        added += _plan_chunk(partners, now)
        db.session.commit()
        last = partners[-1].id


_SETTINGS: dict[tuple[Any, ...], ReminderSettings] = {}
_SLOTS: dict[tuple[Any, ...], tuple[PlannedReminder, ...]] = {}


def _settings(row: Any, timezone: str) -> ReminderSettings:
    """`settings_from_row`, shared between partners with the same settings."""
    if row is None:
        key: tuple[Any, ...] = (timezone,)
    else:
        key = (
            timezone,
            tuple(row.times),
            tuple(row.days),
            row.quiet_start,
            row.quiet_end,
            row.paused,
            row.discreet,
            row.text_encrypted,
        )
    found = _SETTINGS.get(key)
    if found is None:
        if len(_SETTINGS) > 20_000:
            _SETTINGS.clear()
        found = _SETTINGS[key] = settings_from_row(row, timezone)
    return found


def _slots(
    settings: ReminderSettings, state: HomeworkState, start: datetime, end: datetime
) -> tuple[PlannedReminder, ...]:
    """`plan_reminders` over (start, end], shared between partners whose plan is the
    same: it depends on the settings and only on whether something is due this week
    and in later weeks."""
    key = (
        settings,
        state.week_start,
        state.remaining_this_week > 0,
        state.remaining_next_weeks > 0,
        state.active and not state.on_hold,
        start,
        end,
    )
    found = _SLOTS.get(key)
    if found is None:
        if len(_SLOTS) > 20_000:
            _SLOTS.clear()
        found = _SLOTS[key] = tuple(plan_reminders(settings, state, start, end - start))
    return found


def _next_slot_after(settings: ReminderSettings, after: datetime) -> datetime | None:
    """An instant no later than the first slot of these settings after `after`, whatever
    is due (homework, the days, quiet hours and the daily cap only ever remove slots):
    the first of their times after `after` on the local day before, of or after it (a
    slot's instant is computed as the planner does, DST gaps included). None while the
    settings are paused (changing them writes a replan request)."""
    if settings.paused:
        return None
    zone = ZoneInfo(settings.timezone)
    day = after.astimezone(zone).date()
    found: datetime | None = None
    for offset in (-1, 0, 1):
        for local_time in settings.times:
            at = datetime.combine(day + timedelta(days=offset), local_time, tzinfo=zone)
            at = at.astimezone(UTC)
            if at > after and (found is None or at < found):
                found = at
    return found


_HOMEWORK: dict[tuple[Any, ...], tuple[int, int]] = {}


def _remaining(
    assignment: _Running, records: list[CheckinRecord], tz: ZoneInfo, now: datetime
) -> tuple[int, int]:
    """(remaining this week, weekly target) from the program engine; shared between
    partners of the same program, stage, overrides and zone with no recent check-in."""
    key: tuple[Any, ...] | None = None
    if not records:
        overrides = tuple(sorted((assignment.overrides or {}).items()))
        key = (assignment.program_version_id, assignment.stage_index, overrides, tz, now)
        found = _HOMEWORK.get(key)
        if found is not None:
            return found
    result = homework(
        frozen_program(assignment),  # type: ignore[arg-type]
        assignment.stage_index,
        checkins=records,
        tz=tz,
        now=now,
        overrides=assignment.overrides,
    )
    value = (sum(i.remaining for i in result.items), sum(i.per_week for i in result.items))
    if key is not None:
        if len(_HOMEWORK) > 20_000:
            _HOMEWORK.clear()
        _HOMEWORK[key] = value
    return value


def _state(
    assignment: _Running | None, records: list[CheckinRecord], tz: ZoneInfo, now: datetime
) -> HomeworkState:
    """`_homework_state` for the planner's plain rows (the same rules)."""
    week_start = week_of(now, tz).start
    if (
        assignment is None
        or not is_running(assignment)  # type: ignore[arg-type]
        or local_date(now, tz) < assignment.start_date
    ):
        return HomeworkState(week_start=week_start, remaining_this_week=0, active=False)
    this_week, per_week = _remaining(assignment, records, tz, now)
    return HomeworkState(
        week_start=week_start,
        remaining_this_week=this_week,
        remaining_next_weeks=per_week,
        active=True,
    )


def _plan_chunk(
    users: Sequence[_Partner],
    now: datetime,
    due_since: datetime | None = None,
    due_only: bool = False,
) -> int:
    """Plan a chunk of partners with a fixed number of queries of plain rows. With
    `due_since`, pending reminders in (due_since, now] are checked as well: one the plan
    no longer has is cancelled (none is added or moved there); `due_only` does only
    that (the dispatcher's check before a claim: nothing added, nothing else touched).
    Records how far each partner is planned (`ReminderPlan`)."""
    user_ids = [u.id for u in users]
    if not user_ids:
        return 0
    assignments: dict[str, _Running] = {}
    couple_ids = {u.couple_id for u in users if u.couple_id}
    for row in db.session.execute(
        select(*_ASSIGNMENT)
        .where(_in(Assignment.couple_id, couple_ids), Assignment.status != COMPLETED)
        .order_by(Assignment.created_at)
    ):
        assignments[row.couple_id] = _Running(row)
    since = now - timedelta(days=8)
    records: dict[str, list[CheckinRecord]] = defaultdict(list)
    for author_id, exercise, occurred_at in db.session.execute(
        select(CheckIn.author_id, CheckIn.exercise, CheckIn.occurred_at).where(
            _in(CheckIn.author_id, user_ids), CheckIn.occurred_at >= since
        )
    ):
        records[author_id].append(CheckinRecord(exercise=exercise, occurred_at=occurred_at))
    prefs = {
        row.user_id: row
        for row in db.session.execute(
            select(*_PREFS).where(_in(ReminderPreferences.user_id, user_ids))
        )
    }
    horizon_end = now + PLAN_HORIZON
    start = due_since if due_since is not None and due_since < now else now
    planned: dict[str, dict[str, Any]] = {}
    settings_of: dict[str, ReminderSettings] = {}
    marks: list[dict[str, Any]] = []
    # Due reminders the plan no longer has are cancelled from this local date on: the
    # current week's (the state speaks for no earlier week), any while nothing is due.
    cancel_due_from: dict[str, str] = {}
    for user in users:
        tz = ZoneInfo(user.timezone)
        settings = settings_of[user.id] = _settings(prefs.get(user.id), user.timezone)
        state = _state(assignments.get(user.couple_id or ""), records.get(user.id, []), tz, now)
        quiet = settings.paused or not state.active
        cancel_due_from[user.id] = "" if quiet else state.week_start.isoformat()
        if not due_only:
            next_slot = _next_slot_after(settings, horizon_end)
            assignment = assignments.get(user.couple_id or "")
            if next_slot is not None and assignment is not None and not state.active:
                # A program that starts later: its first day's slots are due then.
                begins = datetime.combine(assignment.start_date, time.min, tzinfo=tz)
                if begins > now:
                    next_slot = min(next_slot, begins.astimezone(UTC))
            marks.append({"user_id": user.id, "planned_at": now, "next_slot_at": next_slot})
        for slot in _slots(settings, state, start, horizon_end):
            key = f"{user.id}:{slot.key}"
            planned[key] = {
                "id": new_id(),
                "user_id": user.id,
                "key": key,
                "kind": "reminder",
                "send_at": slot.send_at,
                "next_attempt_at": slot.send_at,
                "local_date": slot.local_date.isoformat(),
                "local_time": slot.local_time.strftime("%H:%M"),
                "status": PENDING,
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
    # Stale: pending slots in the window that the new plan no longer has (cancelled,
    # never sent). Moved: slots the plan has again (after a resume) or at another instant
    # (the partner moved to another time zone) are pending again, at the new instant.
    stale: list[str] = []
    known: set[str] = set()
    for row_id, user_id, key, status, send_at, day in db.session.execute(
        select(
            Reminder.id,
            Reminder.user_id,
            Reminder.key,
            Reminder.status,
            Reminder.send_at,
            Reminder.local_date,
        ).where(
            _in(Reminder.user_id, user_ids),
            Reminder.kind == "reminder",
            Reminder.send_at > start,
            Reminder.send_at <= (now if due_only else horizon_end),
        )
    ):
        known.add(key)
        if send_at <= now:
            # Due already: cancelled if no longer wanted, never moved or revived.
            if status == PENDING and key not in planned and (day or "") >= cancel_due_from[user_id]:
                stale.append(row_id)
            continue
        if status not in (PENDING, "cancelled"):
            continue  # on its way, sent or given up: never planned again
        wanted = planned.get(key)
        if wanted is None:
            if status == PENDING:
                stale.append(row_id)
        elif status == "cancelled" or send_at != wanted["send_at"]:
            db.session.execute(
                update(Reminder)
                .where(Reminder.id == row_id)
                .values(
                    status=PENDING,
                    error=None,
                    send_at=wanted["send_at"],
                    next_attempt_at=wanted["send_at"],
                    updated_at=now,
                )
            )
    if stale:
        db.session.execute(
            update(Reminder)
            .where(Reminder.id.in_(stale), Reminder.status == PENDING)
            .values(status="cancelled", error="no longer due", updated_at=now)
        )
    if due_only:
        return 0
    _mark_planned(marks)
    # Only keys the window does not hold yet are sent to the database (a pass that
    # plans nothing new writes nothing); the unique key still guards against races.
    added = _insert_slots(
        [row for key, row in planned.items() if key not in known and row["send_at"] > now], now
    )
    return added + _insert_new(
        list(_measure_reminders(list(users), settings_of, now, horizon_end).values())
    )


_MARK_PLANNED = text(
    "INSERT INTO reminder_plans (user_id, planned_at, next_slot_at)"
    " SELECT u, :now, n FROM unnest(CAST(:users AS varchar[]), CAST(:nexts AS timestamptz[]))"
    " AS x(u, n)"
    " ON CONFLICT (user_id) DO UPDATE"
    " SET planned_at = excluded.planned_at, next_slot_at = excluded.next_slot_at"
)


def _mark_planned(marks: list[dict[str, Any]]) -> None:
    """Upsert how far these partners are planned (all at the same `planned_at`): one
    statement (on PostgreSQL of two arrays, as `_insert_slots`)."""
    if not marks:
        return
    if db.engine.dialect.name == "postgresql":
        db.session.execute(
            _MARK_PLANNED,
            {
                "now": marks[0]["planned_at"],
                "users": [m["user_id"] for m in marks],
                "nexts": [m["next_slot_at"] for m in marks],
            },
        )
        return
    insert: Any = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    statement = insert(ReminderPlan.__table__).values(marks)
    db.session.execute(
        statement.on_conflict_do_update(
            index_elements=["user_id"],
            set_={
                "planned_at": statement.excluded.planned_at,
                "next_slot_at": statement.excluded.next_slot_at,
            },
        )
    )


def _measure_reminders(
    users: list[_Partner],
    settings_of: dict[str, ReminderSettings],
    now: datetime,
    horizon_end: datetime,
) -> dict[str, dict[str, Any]]:
    """One reminder per partner, due questionnaire and period (its key names the
    period), at the partner's first reminder slot once it is due. Kind `measure`: the
    homework plan's stale-slot logic never touches it; answering cancels it."""
    from server.services.measures import due_for_users, reminder_key

    rows: dict[str, dict[str, Any]] = {}
    due_by_user = due_for_users(users, now)  # type: ignore[arg-type]
    for user in users:
        if not due_by_user.get(user.id):
            continue
        settings = settings_of[user.id]
        for measure, since in due_by_user[user.id]:
            send_at = measure_reminder_at(settings, since)
            # Not yet in the window; or a slot long gone (the worker was down): a reminder
            # a day late would only nag, the questionnaire waits in the app anyway.
            if send_at is None or send_at > horizon_end or send_at < now - PLAN_HORIZON:
                continue
            key = reminder_key(user.id, measure, since)
            local = send_at.astimezone(ZoneInfo(user.timezone))
            rows[key] = {
                "id": new_id(),
                "user_id": user.id,
                "key": key,
                "kind": "measure",
                "send_at": send_at,
                "next_attempt_at": send_at,
                "local_date": local.date().isoformat(),
                "local_time": local.strftime("%H:%M"),
                "status": PENDING,
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
                "payload": {
                    "title": MEASURE_TEXT[0],
                    "body": MEASURE_TEXT[1],
                    "screen": "measures",
                },
            }
    return rows


_INSERT_SLOTS = text(
    "INSERT INTO reminders (id, user_id, key, kind, send_at, next_attempt_at, local_date,"
    " local_time, status, attempts, created_at, updated_at)"
    " SELECT i, u, k, 'reminder', s, s, d, t, 'pending', 0, :now, :now"
    " FROM unnest(CAST(:ids AS varchar[]), CAST(:users AS varchar[]), CAST(:keys AS varchar[]),"
    " CAST(:sends AS timestamptz[]), CAST(:dates AS varchar[]), CAST(:times AS varchar[]))"
    " AS x(i, u, k, s, d, t)"
    " ON CONFLICT (key) DO NOTHING"
)


def _insert_slots(rows: list[dict[str, Any]], now: datetime) -> int:
    """`_insert_new` for planned homework slots. On PostgreSQL one statement of six
    arrays (a multi-row VALUES of 12,000 parameters costs the driver more to parse than
    the database to run)."""
    if not rows or db.engine.dialect.name != "postgresql":
        return _insert_new(rows)
    result = db.session.execute(
        _INSERT_SLOTS,
        {
            "now": now,
            "ids": [r["id"] for r in rows],
            "users": [r["user_id"] for r in rows],
            "keys": [r["key"] for r in rows],
            "sends": [r["send_at"] for r in rows],
            "dates": [r["local_date"] for r in rows],
            "times": [r["local_time"] for r in rows],
        },
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _insert_new(rows: list[dict[str, Any]]) -> int:
    """Insert outbox rows whose key is new; existing keys (any status) are left alone,
    so planning twice plans nothing twice — even when two planners run at once."""
    if not rows:
        return 0
    insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    table = Reminder.__table__
    statement = insert(table).on_conflict_do_nothing(index_elements=["key"])
    result = db.session.execute(statement.returning(table.c.id), rows)
    return len(result.all())


def enqueue_push(
    *,
    user_id: str,
    key: str,
    kind: str,
    title: str,
    body: str,
    screen: str,
    now: datetime | None = None,
) -> int:
    """Put a one-off push (a nudge, an alert) in the outbox, due now; 0 if `key` was
    already there."""
    now = now or utcnow()
    return _insert_new(
        [
            {
                "id": new_id(),
                "user_id": user_id,
                "key": key,
                "kind": kind,
                "send_at": now,
                "next_attempt_at": now,
                "status": PENDING,
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
                "payload": {"title": title, "body": body, "screen": screen},
            }
        ]
    )


def list_reminders(*, user: User, start: date, end: date) -> list[Reminder]:
    """The caller's reminders whose local date is in [start, end], any status."""
    tz = ZoneInfo(user.timezone)
    lo = datetime.combine(start, time.min, tzinfo=tz)
    hi = datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz)
    return list(
        db.session.scalars(
            select(Reminder)
            .where(Reminder.user_id == user.id, Reminder.send_at >= lo, Reminder.send_at < hi)
            .order_by(Reminder.send_at, Reminder.key)
        )
    )


# --- inactivity --------------------------------------------------------------------


def scan_inactivity(*, now: datetime) -> dict[str, int]:
    """A gentle nudge to a partner with nothing logged for NUDGE_AFTER while homework is
    due, and an alert for the therapist after INACTIVITY_ALERT_AFTER; once per quiet
    spell. Never tells a partner anything about the other."""
    from server.models import Alert, Couple

    nudges = alerts = 0
    rows = db.session.execute(
        select(User, Assignment, Couple.therapist_id)
        .join(Assignment, Assignment.couple_id == User.couple_id)
        .join(Couple, Couple.id == User.couple_id)
        .where(User.role == CLIENT, Assignment.status == ACTIVE, Assignment.on_hold.is_(False))
    ).all()
    if not rows:
        return {"nudges": 0, "alerts": 0}
    last_seen = dict(
        db.session.execute(
            select(CheckIn.author_id, func.max(CheckIn.occurred_at))
            .where(CheckIn.author_id.in_([u.id for u, _, _ in rows]))
            .group_by(CheckIn.author_id)
        ).all()
    )
    open_inactivity = set(
        db.session.scalars(
            select(Alert.partner_id).where(
                Alert.kind == "inactivity", Alert.acknowledged_at.is_(None)
            )
        )
    )
    recent: dict[str, list[CheckinRecord]] = defaultdict(list)
    for author_id, exercise, occurred_at in db.session.execute(
        select(CheckIn.author_id, CheckIn.exercise, CheckIn.occurred_at).where(
            CheckIn.author_id.in_([u.id for u, _, _ in rows]),
            CheckIn.occurred_at >= now - timedelta(days=8),
        )
    ):
        recent[author_id].append(CheckinRecord(exercise=exercise, occurred_at=occurred_at))
    for user, assignment, therapist_id in rows:
        tz = ZoneInfo(user.timezone)
        started = datetime.combine(assignment.start_date, time.min, tzinfo=tz)
        since = max(filter(None, [last_seen.get(user.id), started, assignment.created_at]))
        idle = now - since
        spell = since.astimezone(tz).date().isoformat()
        if idle >= NUDGE_AFTER:
            state = _homework_state(user, assignment, recent[user.id], tz, now)
            if state.remaining_this_week > 0:
                nudges += enqueue_push(
                    user_id=user.id,
                    key=f"{user.id}:nudge:{spell}",
                    kind="nudge",
                    title=NUDGE_TEXT[0],
                    body=NUDGE_TEXT[1],
                    screen="homework",
                    now=now,
                )
        if idle >= INACTIVITY_ALERT_AFTER and user.id not in open_inactivity:
            alert = Alert(
                couple_id=user.couple_id,
                partner_id=user.id,
                kind="inactivity",
                flags=[],
                created_at=now,
            )
            db.session.add(alert)
            db.session.flush()
            notify_therapist(therapist_id=therapist_id, alert_id=alert.id, now=now)
            open_inactivity.add(user.id)
            alerts += 1
    db.session.commit()
    return {"nudges": nudges, "alerts": alerts}


def notify_therapist(*, therapist_id: str, alert_id: str, now: datetime | None = None) -> None:
    """A discreet push to the therapist's devices about a new alert.

    Every alert push says the same thing ("a new alert to look at"), so while one is
    still waiting in the outbox another would only repeat it: alerts raised together
    (both partners flagging one joint session, a flagged check-in and a risk answer)
    share that one push. Once it has gone, the next alert pushes again.
    """
    waiting = db.session.scalar(
        select(Reminder.id)
        .where(
            Reminder.user_id == therapist_id,
            Reminder.kind == "alert",
            Reminder.status == PENDING,
        )
        .limit(1)
    )
    if waiting is not None:
        log.info("alert %s shares the therapist's pending alert push", alert_id)
        return
    enqueue_push(
        user_id=therapist_id,
        key=f"alert:{alert_id}",
        kind="alert",
        title=ALERT_TEXT[0],
        body=ALERT_TEXT[1],
        screen="alerts",
        now=now,
    )


def local_today(user: User, now: datetime | None = None) -> date:
    return local_date(now or utcnow(), ZoneInfo(user.timezone))
