"""The program engine: weeks, this week's homework, and advancement suggestions.

Pure functions of a program (the frozen copy in an assignment), check-in records,
a time zone and `now`; nothing here reads the clock.

Time rules:
- A partner's week is their local Monday to Sunday, in their own time zone, so two
  partners in different zones can be in different weeks at the same instant.
- A check-in belongs to the local date (in the partner's zone) of its `occurred_at`.
  All instants are converted to UTC before they are compared or subtracted: Python
  compares two datetimes that share a `ZoneInfo` by wall clock, which is wrong in
  the repeated hour when clocks go back.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, NamedTuple

from exercises.model import READY_KEY, Criteria, Program, Stage

ALL_DAYS: frozenset[int] = frozenset(range(7))  # date.weekday(): 0 = Monday .. 6 = Sunday


@dataclass(frozen=True, slots=True)
class CheckinRecord:
    """What the engine needs of one check-in.

    `answers` is None when the caller may not see them (a private check-in counts as
    done but never enters a mean); `flags` are the safety flags it raised; `declined`
    marks a session that did not happen because one of the couple said "not tonight"
    (see `exercises.forms.is_declined`).

    A declined session is neither done nor missed: it does not count as done, and it
    takes one session off that week's target for the partner who recorded it, so
    saying no never shows as falling behind and never brings more reminders.
    """

    exercise: str
    occurred_at: datetime  # aware
    answers: Mapping[str, object] | None = None
    flags: frozenset[str] = frozenset()
    declined: bool = False


class Week(NamedTuple):
    """A local Monday-to-Sunday week; both dates inclusive."""

    start: date
    end: date

    def contains(self, day: date) -> bool:
        """Whether `day` falls in this week."""
        return self.start <= day <= self.end


def _utc(instant: datetime, name: str) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return instant.astimezone(UTC)


def local_date(instant: datetime, tz: tzinfo) -> date:
    """The local calendar date of an aware instant in `tz`."""
    return _utc(instant, "instant").astimezone(tz).date()


def week_of(now: datetime, tz: tzinfo) -> Week:
    """The local Monday-Sunday week containing `now` in `tz`."""
    today = local_date(now, tz)
    start = today - timedelta(days=today.weekday())
    return Week(start, start + timedelta(days=6))


def week_window_utc(week: Week, tz: tzinfo) -> tuple[datetime, datetime]:
    """A UTC interval `[start, end)` holding every instant whose local date is in `week`.

    Meant for fetching check-ins from the database; count them with the functions
    here, by local date: where clocks go back across midnight the window also holds
    a few instants of the neighbouring week.
    """

    def midnight(day: date, fold: int) -> datetime:
        return datetime.combine(day, time(0, fold=fold), tzinfo=tz).astimezone(UTC)

    # fold=0 is the first instant of a day both when midnight is repeated (its first
    # pass) and when it is skipped (zoneinfo reads it with the offset before the gap,
    # which is the instant of the jump). The week ends at the later of the two
    # readings of the next midnight: its second pass, or the jump.
    after = week.end + timedelta(days=1)
    return midnight(week.start, 0), max(midnight(after, 0), midnight(after, 1))


# --- homework ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HomeworkItem:
    """One exercise of this week's homework for one partner (own check-ins only)."""

    exercise: str
    per_week: int  # the target after overrides
    done_this_week: int
    done_today: int
    remaining: int  # max(0, per_week - done_this_week - declined_this_week)
    due_today_count: int  # sessions still to do today (see `homework`)
    due_today: bool
    declined_this_week: int = 0  # sessions declined ("not tonight"): not done, not missed


@dataclass(frozen=True, slots=True)
class Homework:
    """A partner's homework for the week containing `now`."""

    stage_index: int
    today: date
    week: Week
    items: tuple[HomeworkItem, ...]

    @property
    def due_today(self) -> bool:
        """Whether anything is due today."""
        return any(item.due_today for item in self.items)

    @property
    def remaining(self) -> int:
        """Sessions left to reach this week's targets."""
        return sum(item.remaining for item in self.items)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (dates as ISO strings)."""
        return {
            "stage_index": self.stage_index,
            "today": self.today.isoformat(),
            "week": {"start": self.week.start.isoformat(), "end": self.week.end.isoformat()},
            "items": [
                {
                    "exercise": i.exercise,
                    "per_week": i.per_week,
                    "done_this_week": i.done_this_week,
                    "done_today": i.done_today,
                    "remaining": i.remaining,
                    "due_today_count": i.due_today_count,
                    "due_today": i.due_today,
                    "declined_this_week": i.declined_this_week,
                }
                for i in self.items
            ],
        }


def targets(stage: Stage, overrides: Mapping[str, int] | None = None) -> dict[str, int]:
    """Weekly target per exercise of `stage` after overrides (0 = skipped).

    Overrides for exercises that are not in the stage are ignored: an assignment
    keeps its overrides across stages.
    """
    overrides = overrides or {}
    out: dict[str, int] = {}
    for item in stage.items:
        target = overrides.get(item.exercise, item.per_week)
        if isinstance(target, bool) or not isinstance(target, int) or target < 0:
            raise ValueError(f"override for {item.exercise!r} must be a whole number >= 0")
        out[item.exercise] = target
    return out


def homework(
    program: Program,
    stage_index: int,
    *,
    checkins: Iterable[CheckinRecord],
    tz: tzinfo,
    now: datetime,
    overrides: Mapping[str, int] | None = None,
    allowed_days: frozenset[int] = ALL_DAYS,
) -> Homework:
    """This week's homework for one partner at `now`, from their OWN check-ins.

    For each exercise of the stage (skipped ones, target 0, are left out):
    `done_this_week` counts check-ins whose local date falls in the local week, except
    declined sessions, which are counted in `declined_this_week` and excuse one session
    each: `remaining` is what is left of the target after both.
    `due_today_count` is 0 when today is not an allowed day (the partner's chosen
    days) or the target is met; otherwise what was left at the start of today is
    spread evenly over the allowed days left in the week, today included, rounding
    up, minus what was already done today, never more than `remaining`. Spacing
    sessions out (e.g. Mon/Wed/Fri) is done by choosing the allowed days.
    """
    if not allowed_days <= ALL_DAYS:
        raise ValueError("allowed_days must be weekday numbers 0 (Monday) to 6 (Sunday)")
    stage = program.stage(stage_index)
    wanted = targets(stage, overrides)
    today = local_date(now, tz)
    week = week_of(now, tz)

    done_week: dict[str, int] = dict.fromkeys(wanted, 0)
    done_today: dict[str, int] = dict.fromkeys(wanted, 0)
    declined_week: dict[str, int] = dict.fromkeys(wanted, 0)
    declined_today: dict[str, int] = dict.fromkeys(wanted, 0)
    for record in checkins:
        if record.exercise not in wanted:
            continue
        day = local_date(record.occurred_at, tz)
        if week.contains(day):
            week_count, today_count = (
                (declined_week, declined_today) if record.declined else (done_week, done_today)
            )
            week_count[record.exercise] += 1
            if day == today:
                today_count[record.exercise] += 1

    # Allowed days from today to Sunday, today included.
    days_left = sum(1 for d in range(today.weekday(), 7) if d in allowed_days)
    items: list[HomeworkItem] = []
    for slug, target in wanted.items():
        if target == 0:
            continue
        settled = done_week[slug] + declined_week[slug]
        settled_today = done_today[slug] + declined_today[slug]
        remaining = max(0, target - settled)
        due = 0
        if remaining and today.weekday() in allowed_days:
            left_this_morning = max(0, target - (settled - settled_today))
            share = math.ceil(left_this_morning / days_left)
            due = min(max(0, share - settled_today), remaining)
        items.append(
            HomeworkItem(
                slug,
                target,
                done_week[slug],
                done_today[slug],
                remaining,
                due,
                due > 0,
                declined_this_week=declined_week[slug],
            )
        )
    return Homework(stage_index, today, week, tuple(items))


# --- advancement ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PartnerStatus:
    """One partner's standing against a stage's criteria."""

    sessions: int  # check-ins counted at this stage (private ones too)
    means: dict[str, float | None]  # scale key -> mean of visible recent answers
    ready_to_move_on: bool | None  # latest visible answer, None if never answered
    flags: frozenset[str]  # safety flags raised in the recent check-ins
    met: bool


@dataclass(frozen=True, slots=True)
class Suggestion:
    """Whether a stage's criteria suggest moving on. Only a suggestion: the therapist decides.

    `action` is "advance" (criteria met, a next stage exists), "complete" (criteria
    met at the last stage) or "hold" (not yet; `reasons` says why).
    """

    stage_index: int
    action: str
    ready: bool
    reasons: tuple[str, ...]
    partners: dict[str, PartnerStatus]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict for the therapist's progress view."""
        return {
            "stage_index": self.stage_index,
            "action": self.action,
            "ready": self.ready,
            "reasons": list(self.reasons),
            "partners": {
                name: {
                    "sessions": s.sessions,
                    "means": dict(s.means),
                    "ready_to_move_on": s.ready_to_move_on,
                    "flags": sorted(s.flags),
                    "met": s.met,
                }
                for name, s in self.partners.items()
            },
        }


def _fmt(number: float) -> str:
    return f"{number:.1f}".removesuffix(".0")


def _assess(
    name: str, records: Sequence[CheckinRecord], criteria: Criteria
) -> tuple[PartnerStatus, list[str]]:
    """One partner's status and the criteria they do not meet yet (as sentences)."""
    unmet: list[str] = []
    window = criteria.mean_of_last
    # A declined session did not happen: it is not a session, has no ratings and says
    # nothing about readiness. Its safety flags still count (below).
    held = [r for r in records if not r.declined]
    if len(held) < criteria.min_sessions:
        unmet.append(
            f"{name} has logged {len(held)} of {criteria.min_sessions} sessions at this stage."
        )
    visible = [r.answers for r in held if r.answers is not None]
    means: dict[str, float | None] = {}
    for key in {**criteria.max_mean, **criteria.min_mean}:
        values: list[float] = []
        for answers in visible:
            value = answers.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                values.append(float(value))
        recent = values[-window:] if window else values
        means[key] = sum(recent) / len(recent) if recent else None
    for key, bound in criteria.max_mean.items():
        mean = means[key]
        if mean is None:
            unmet.append(f"{name} has no {key} ratings at this stage yet.")
        elif mean > bound:
            unmet.append(
                f"{name}'s recent mean {key} is {_fmt(mean)}; "
                f"this stage asks for {_fmt(bound)} or lower."
            )
    for key, bound in criteria.min_mean.items():
        mean = means[key]
        if mean is None:
            if key not in criteria.max_mean:
                unmet.append(f"{name} has no {key} ratings at this stage yet.")
        elif mean < bound:
            unmet.append(
                f"{name}'s recent mean {key} is {_fmt(mean)}; "
                f"this stage asks for {_fmt(bound)} or higher."
            )
    for key, share in criteria.min_yes_share.items():
        said = [a.get(key) for a in visible if isinstance(a.get(key), bool)]
        said = said[-window:] if window else said
        if not said:
            unmet.append(f"{name} has not answered {key} at this stage yet.")
        elif sum(1 for v in said if v) / len(said) < share:
            unmet.append(
                f"{name} answered yes to {key} in {sum(1 for v in said if v)} of "
                f"{len(said)} recent sessions; this stage asks for at least {share:.0%}."
            )
    ready: bool | None = None
    for answers in reversed(visible):  # the latest visible answer counts
        value = answers.get(READY_KEY)
        if isinstance(value, bool):
            ready = value
            break
    if criteria.require_ready and ready is not True:
        unmet.append(f"{name} has not said they feel ready to move on.")
    recent_records = records[-window:] if window else records
    flags = frozenset(flag for r in recent_records for flag in r.flags)
    if flags:
        unmet.append(
            f"{name} raised a safety flag ({', '.join(sorted(flags))}) in a recent check-in; "
            "review it before moving on."
        )
    status = PartnerStatus(len(held), means, ready, flags, not unmet)
    return status, unmet


def suggest_advancement(
    program: Program,
    stage_index: int,
    per_partner: Mapping[str, Sequence[CheckinRecord]],
    *,
    started_at: datetime,
    now: datetime,
) -> Suggestion:
    """Suggest whether the couple could move on from `stage_index` (the therapist decides).

    `per_partner` maps a label used in the reasons (a name or id) to that partner's
    check-ins; only those for this stage's exercises (or the criteria's `exercise`)
    made at or after `started_at` (when the stage began) count. The stage must have
    lasted `min_weeks` weeks of elapsed time, each partner must meet the criteria
    (see `Criteria`), and no recent check-in may carry a safety flag. A stage without
    criteria needs only the time and the absence of flags.
    """
    stage = program.stage(stage_index)
    start, current = _utc(started_at, "started_at"), _utc(now, "now")
    criteria = stage.criteria or Criteria()
    considered = {criteria.exercise} if criteria.exercise else set(stage.exercise_slugs)

    reasons: list[str] = []
    elapsed = current - start
    if elapsed < timedelta(weeks=stage.min_weeks):
        weeks = "week" if stage.min_weeks == 1 else "weeks"
        reasons.append(
            f"The couple has been at this stage for {elapsed.days} days; "
            f"it asks for at least {stage.min_weeks} {weeks}."
        )
    if not per_partner:
        reasons.append("There are no partners' check-ins to assess.")
    partners: dict[str, PartnerStatus] = {}
    for name, records in per_partner.items():
        counted = sorted(
            (
                r
                for r in records
                if r.exercise in considered and _utc(r.occurred_at, "occurred_at") >= start
            ),
            key=lambda r: _utc(r.occurred_at, "occurred_at"),
        )
        partners[name], unmet = _assess(name, counted, criteria)
        reasons.extend(unmet)

    ready = not reasons
    last = stage_index == len(program.stages)
    if ready:
        action = "complete" if last else "advance"
        reasons.append(
            "This stage's criteria are met; moving on is the therapist's decision."
            if stage.criteria
            else "This stage asks only for time at it; moving on is the therapist's decision."
        )
        if last:
            reasons.append("This is the last stage: the program can be marked complete.")
    else:
        action = "hold"
    return Suggestion(stage_index, action, ready, tuple(reasons), partners)
