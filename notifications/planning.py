"""Reminder planning: a pure function of settings, homework and time.

`plan_reminders(settings, homework, now)` answers "which reminders should this
partner get in the next 24 hours?". The server writes the answer to the outbox
(`Reminder` rows keyed by partner id + `PlannedReminder.key`), so planning again
plans nothing twice. No Flask, no database, no clock: `now` is an argument.

Decisions (PRODUCT.md "Reminders"):

* **Local wall-clock times.** A chosen time is a local time on a local date; it is
  turned into an instant with `zoneinfo` each day, so 20:00 stays 20:00 across DST.
* **Nonexistent time (spring-forward gap): moved forward by the gap's length.**
  02:30 in America/New_York on 2026-03-08 fires at 03:30 EDT, 02:15 on Lord Howe's
  30-minute gap fires at 02:45. This is RFC 5545 (iCalendar) behaviour and what
  `zoneinfo` does for `fold=0`: the time is read with the offset in force before
  the gap. The reminder keeps its key and `local_time` (the time the partner chose).
  If that lands on another slot's instant, only one reminder is planned (the
  earlier slot in date-then-time order keeps it).
* **Ambiguous time (fall-back overlap): fires once, at the first occurrence**
  (`fold=0`): 01:30 in New York on 2026-11-01 fires at 01:30 EDT, not again at EST.
* **Quiet hours: a slot inside them is skipped, not moved.** Moving slots to the
  end of quiet hours would stack several reminders at 07:00 on a lock screen the
  partner did not choose. Input validation refuses times inside quiet hours, so in
  practice only a DST-shifted slot is skipped. Quiet hours are `[start, end)` in
  local wall-clock time, may wrap midnight, and are checked at the instant the
  reminder actually fires.
* **Daily cap** counts per local date (the date the slot was chosen for) and keeps
  the earliest slots of the day. It is applied to the whole day, independent of
  `now`, so a later run never adds a slot an earlier run dropped.
* **Only while something is due**: nothing while the settings are paused, the
  assignment is paused/completed/on a safety hold (a hold holds the whole program for
  both partners, exactly as a pause does), or the partner's own weekly target for
  that local week (Monday 00:00 to Sunday 24:00) is met. A slot in a later week
  counts that week's remaining, so reminders resume on Monday.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import TypedDict
from zoneinfo import ZoneInfo, available_timezones

from notifications.texts import MAX_TEXT_LENGTH, forbidden_terms

log = logging.getLogger(__name__)

# API day names; the index is `date.weekday()` (0 = Monday).
DAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_DAYS: frozenset[int] = frozenset(range(7))

# 20:00 every day: early enough to do a 20-60 minute exercise the same evening.
# "Every day" rather than a fixed rota because reminders stop by themselves once the
# week's homework is done, so they only fall on "the days left".
DEFAULT_TIMES: tuple[time, ...] = (time(20, 0),)
# Quiet 23:00-07:00: partners often do the app late in the evening, so quiet hours
# must not start at 22:00 and swallow a 22:30 reminder; and nothing should light up
# a phone on a shared nightstand during the night.
DEFAULT_QUIET_START = time(23, 0)
DEFAULT_QUIET_END = time(7, 0)
DEFAULT_DAILY_CAP = 3
DEFAULT_HORIZON = timedelta(hours=24)

_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    # available_timezones() scans the disk, hence the cache. "localtime" and
    # "posixrules" are files describing the host, not IANA zones; "Factory" is a
    # placeholder zone; the system folder may also hold posix/ and right/ copies and
    # data files.
    not_zones = {"localtime", "posixrules", "Factory", "leapseconds", "tzdata.zi"}
    return frozenset(
        name
        for name in available_timezones()
        if name not in not_zones and not name.startswith(("posix/", "right/"))
    )


def is_valid_timezone(name: str) -> bool:
    """True if `name` is an IANA time zone key, e.g. "Europe/London" (links included)."""
    return name in _zone_names()


def week_start_of(day: date) -> date:
    """Return the Monday of the local week that contains `day`."""
    return day - timedelta(days=day.weekday())


def _format_time(value: time) -> str:
    return f"{value:%H:%M}"


@dataclass(frozen=True, slots=True)
class ReminderSettings:
    """One partner's reminder settings.

    `times` are local wall-clock times (naive, whole minutes); `days` are weekdays,
    0 = Monday; quiet hours are both set or both None and may wrap midnight.
    `daily_cap` is not part of the API: it is the server's limit per local day.
    """

    timezone: str
    times: tuple[time, ...] = DEFAULT_TIMES
    days: frozenset[int] = ALL_DAYS
    quiet_start: time | None = DEFAULT_QUIET_START
    quiet_end: time | None = DEFAULT_QUIET_END
    paused: bool = False
    discreet: bool = True
    text: str | None = None
    daily_cap: int = DEFAULT_DAILY_CAP

    def __post_init__(self) -> None:
        # Fail at construction, not in the worker at 20:00: the API validates input,
        # this guards against code paths that build settings by hand.
        if not is_valid_timezone(self.timezone):
            raise ValueError(f"unknown time zone {self.timezone!r}")
        for value in self.times:
            # Keys are minute-precise; a second or a tzinfo would make two slots
            # share a key or read the wrong offset.
            if value.tzinfo is not None or value.second or value.microsecond:
                raise ValueError(f"reminder time {value!r} must be a naive whole minute")
        if len(set(self.times)) != len(self.times):
            raise ValueError("reminder times must be distinct")
        if not self.days <= ALL_DAYS:
            raise ValueError("days must be weekday numbers 0 (Monday) to 6 (Sunday)")
        if (self.quiet_start is None) != (self.quiet_end is None):
            raise ValueError("quiet hours need both a start and an end")
        if self.quiet_start is not None and self.quiet_start == self.quiet_end:
            raise ValueError("quiet hours must not start and end at the same time")
        if self.daily_cap < 1:
            raise ValueError("daily_cap must be at least 1")


def default_settings(timezone: str) -> ReminderSettings:
    """Settings for a partner who has chosen nothing yet.

    20:00 every day, quiet hours 23:00-07:00, not paused, discreet, no own text,
    at most `DEFAULT_DAILY_CAP` reminders a day (see the constants for why).
    """
    return ReminderSettings(timezone=timezone)


@dataclass(frozen=True, slots=True)
class HomeworkState:
    """What the planner needs to know about one partner's own homework.

    The server fills it from the program engine in one pass:

    * `week_start`: the Monday of the partner's current local week, in the zone of
      their `ReminderSettings.timezone` (the same zone the homework week uses).
    * `remaining_this_week`: sessions still due this week — the sum over the
      partner's own exercises (not on hold) of `max(0, per_week - done_this_week)`.
      Only "> 0" matters to the planner.
    * `remaining_next_weeks`: the same for any later week, i.e. the current stage's
      weekly target with nothing done yet. 0 (the default) means "unknown, do not
      remind"; the next planning run will know more.
    * `active`: an assignment exists and its exercises are due: not paused, not on a
      safety hold, not completed. The server describes a held program exactly as a
      paused one (`active=False`), so a partner's reminders cannot tell the two apart.
    * `on_hold`: the program is on a safety hold; plans nothing, like `active=False`.

    The other partner's progress is never an input: reminders speak to each partner
    only about their own homework.
    """

    week_start: date
    remaining_this_week: int
    remaining_next_weeks: int = 0
    active: bool = True
    on_hold: bool = False

    def __post_init__(self) -> None:
        if self.week_start.weekday() != 0:
            raise ValueError(f"week_start {self.week_start} is not a Monday")
        if self.remaining_this_week < 0 or self.remaining_next_weeks < 0:
            raise ValueError("remaining counts cannot be negative")

    def remaining_in_week(self, week: date) -> int:
        """Sessions still due in the local week starting on Monday `week`."""
        if not self.active or self.on_hold:
            return 0
        if week == self.week_start:
            return self.remaining_this_week
        if week > self.week_start:
            return self.remaining_next_weeks
        # A week before the one the server described: nothing is known, stay quiet.
        return 0


# For partners with no assignment. date.min (0001-01-01) happens to be a Monday.
NO_HOMEWORK = HomeworkState(week_start=date.min, remaining_this_week=0, active=False)


@dataclass(frozen=True, slots=True)
class PlannedReminder:
    """One reminder to write to the outbox.

    `key` is `"<local_date>T<HH:MM>"` of the slot the partner chose (e.g.
    `"2026-03-29T20:00"`): the same slot always gets the same key, so the server can
    make `(partner_id, key)` unique. `local_date`/`local_time` are that slot;
    `send_at` (aware, UTC) is when it fires, which differs from the slot's wall time
    only when the slot fell into a DST gap.
    """

    key: str
    send_at: datetime
    local_date: date
    local_time: time


def _in_quiet_hours(start: time | None, end: time | None, local: time) -> bool:
    if start is None or end is None or start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end  # wraps midnight, e.g. 23:00-07:00


def is_quiet(settings: ReminderSettings, at: datetime) -> bool:
    """True if the aware instant `at` falls in the partner's local quiet hours.

    The dispatcher can use this to drop a late reminder rather than wake someone.
    """
    local = at.astimezone(ZoneInfo(settings.timezone)).time()
    return _in_quiet_hours(settings.quiet_start, settings.quiet_end, local)


def _day_slots(
    settings: ReminderSettings,
    homework: HomeworkState,
    zone: ZoneInfo,
    day: date,
    taken: set[datetime],
) -> list[PlannedReminder]:
    """All reminders of one local date, capped, whatever `now` is."""
    if day.weekday() not in settings.days:
        return []
    if homework.remaining_in_week(week_start_of(day)) <= 0:
        return []
    candidates: list[tuple[datetime, time]] = []
    for local_time in settings.times:
        # fold=0: a gap time is read with the pre-gap offset (moves forward by the
        # gap), an ambiguous time is its first occurrence. See the module docstring.
        send_at = datetime.combine(day, local_time, tzinfo=zone).astimezone(UTC)
        # Quiet hours are checked at the wall time the reminder really fires at.
        fires_at = send_at.astimezone(zone).time()
        if not _in_quiet_hours(settings.quiet_start, settings.quiet_end, fires_at):
            candidates.append((send_at, local_time))
    slots: list[PlannedReminder] = []
    for send_at, local_time in sorted(candidates):
        if len(slots) == settings.daily_cap:
            break
        if send_at in taken:
            continue
        taken.add(send_at)
        key = f"{day.isoformat()}T{_format_time(local_time)}"
        slots.append(PlannedReminder(key, send_at, day, local_time))
    return slots


def plan_reminders(
    settings: ReminderSettings,
    homework: HomeworkState,
    now: datetime,
    horizon: timedelta = DEFAULT_HORIZON,
) -> list[PlannedReminder]:
    """Return the reminders due in `(now, now + horizon]`, ordered by `send_at`.

    `now` must be timezone-aware; `horizon` is elapsed time (added in UTC, so 24
    hours stay 24 real hours across a DST change). Planning is deterministic: a later
    `now` yields the same reminders (same keys, same instants) for the part of the
    window both runs cover. See the module docstring for DST, quiet hours, the cap
    and when nothing is planned.
    """
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if horizon < timedelta(0):
        raise ValueError("horizon must not be negative")
    if settings.paused or not homework.active or homework.on_hold:
        return []
    zone = ZoneInfo(settings.timezone)
    start = now.astimezone(UTC)
    end = start + horizon
    # Slots only move forward (DST gaps), so none chosen after the window's last
    # local date can fire inside it; two days before its first date cover the
    # longest gap on record (Pacific/Apia skipped a whole day in 2011).
    day = start.astimezone(zone).date() - timedelta(days=2)
    last = end.astimezone(zone).date()
    taken: set[datetime] = set()
    planned: list[PlannedReminder] = []
    while day <= last:
        planned.extend(
            slot
            for slot in _day_slots(settings, homework, zone, day, taken)
            if start < slot.send_at <= end
        )
        day += timedelta(days=1)
    planned.sort(key=lambda slot: slot.send_at)
    return planned


def measure_reminder_at(settings: ReminderSettings, due_since: datetime) -> datetime | None:
    """When to remind a partner, once, of a questionnaire due since `due_since`: the first
    of their own reminder slots (their times, on their days, outside quiet hours) at or
    after it, within the week after; None while their reminders are paused. The server
    keys the reminder by the questionnaire's period, so it is one reminder, never a nag.
    """
    if due_since.utcoffset() is None:
        raise ValueError("due_since must be timezone-aware")
    if settings.paused:
        return None
    zone = ZoneInfo(settings.timezone)
    start = due_since.astimezone(UTC)
    day = start.astimezone(zone).date()
    for _ in range(8):
        if day.weekday() in settings.days:
            for local_time in sorted(settings.times):
                send_at = datetime.combine(day, local_time, tzinfo=zone).astimezone(UTC)
                fires_at = send_at.astimezone(zone).time()
                quiet = _in_quiet_hours(settings.quiet_start, settings.quiet_end, fires_at)
                if send_at >= start and not quiet:
                    return send_at
        day += timedelta(days=1)
    return None


# --- The API shape: GET/PUT /api/v1/me/reminder-settings -------------------------


class QuietHoursPayload(TypedDict):
    """`quiet_hours` in the API: local `HH:MM` times."""

    start: str
    end: str


class ReminderSettingsPayload(TypedDict):
    """The JSON body of GET/PUT /api/v1/me/reminder-settings."""

    timezone: str
    times: list[str]
    days: list[str]
    quiet_hours: QuietHoursPayload | None
    paused: bool
    discreet: bool
    text: str | None


class InvalidSettings(ValueError):
    """Reminder settings input that cannot be accepted; `errors` is field → messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("invalid reminder settings")
        self.errors = errors


def settings_to_api(settings: ReminderSettings) -> ReminderSettingsPayload:
    """Render settings in the API shape (times sorted, days in week order)."""
    quiet: QuietHoursPayload | None = None
    if settings.quiet_start is not None and settings.quiet_end is not None:
        quiet = {
            "start": _format_time(settings.quiet_start),
            "end": _format_time(settings.quiet_end),
        }
    return {
        "timezone": settings.timezone,
        "times": [_format_time(value) for value in sorted(settings.times)],
        "days": [DAY_NAMES[day] for day in sorted(settings.days)],
        "quiet_hours": quiet,
        "paused": settings.paused,
        "discreet": settings.discreet,
        "text": settings.text,
    }


def _parse_hhmm(value: object) -> time | None:
    if isinstance(value, str) and (match := _HHMM.fullmatch(value)):
        return time(int(match[1]), int(match[2]))
    return None


def _show(value: object) -> str:
    # Echo bad input back briefly: a client may send anything, of any size.
    shown = repr(value)
    return shown if len(shown) <= 30 else shown[:27] + "..."


class _Errors(dict[str, list[str]]):
    def add(self, field: str, message: str) -> None:
        self.setdefault(field, []).append(message)


def _parse_times(value: object, errors: _Errors, limit: int) -> tuple[time, ...] | None:
    if not isinstance(value, list) or not value:
        errors.add("times", 'Give a list of one or more local times, e.g. ["20:00"].')
        return None
    # More times than the daily cap could never all fire.
    if len(value) > limit:
        errors.add("times", f"No more than {limit} per day.")
    parsed: list[time] = []
    for item in value:
        parsed_time = _parse_hhmm(item)
        if parsed_time is None:
            errors.add("times", f"{_show(item)} is not a time in HH:MM (00:00 to 23:59).")
        elif parsed_time in parsed:
            errors.add("times", f"{item} is listed twice.")
        else:
            parsed.append(parsed_time)
    return tuple(sorted(parsed)) if "times" not in errors else None


def _parse_days(value: object, errors: _Errors) -> frozenset[int] | None:
    if not isinstance(value, list) or not value:
        errors.add("days", 'Give a list of one or more days, e.g. ["mon", "thu"].')
        return None
    days: set[int] = set()
    for item in value:
        if not isinstance(item, str) or item not in DAY_NAMES:
            errors.add("days", f"{_show(item)} is not one of {', '.join(DAY_NAMES)}.")
        elif DAY_NAMES.index(item) in days:
            errors.add("days", f"{item} is listed twice.")
        else:
            days.add(DAY_NAMES.index(item))
    return frozenset(days) if "days" not in errors else None


def _parse_quiet_hours(value: object, errors: _Errors) -> tuple[time | None, time | None]:
    if value is None:
        return None, None
    if not isinstance(value, Mapping):
        errors.add("quiet_hours", 'Give {"start": "HH:MM", "end": "HH:MM"} or null.')
        return None, None
    start, end = _parse_hhmm(value.get("start")), _parse_hhmm(value.get("end"))
    if start is None or end is None:
        errors.add("quiet_hours", "start and end must both be times in HH:MM.")
    elif start == end:
        errors.add("quiet_hours", "start and end must differ (use null for no quiet hours).")
    return start, end


def _parse_text(value: object, errors: _Errors) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.add("text", "Must be a string or null.")
        return None
    text = value.strip()
    if len(text) > MAX_TEXT_LENGTH:
        errors.add("text", f"At most {MAX_TEXT_LENGTH} characters.")
    # Control characters (newlines included) render unpredictably on lock screens.
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        errors.add("text", "Must be a single line without control characters.")
    # A blank text means "no own wording": the default text is used again.
    return text or None


def _times_in_quiet_hours(
    times: tuple[time, ...], start: time | None, end: time | None
) -> list[str]:
    # A chosen time inside quiet hours would be skipped every day: refuse it rather
    # than let the partner wonder why that reminder never comes.
    if start is None or end is None:
        return []
    span = f"{_format_time(start)} to {_format_time(end)}"
    return [
        f"{_format_time(value)} falls within quiet hours ({span}) and would never be sent."
        for value in times
        if _in_quiet_hours(start, end, value)
    ]


def settings_from_api(data: object, base: ReminderSettings | None = None) -> ReminderSettings:
    """Build settings from an API body, or raise `InvalidSettings` (field → messages).

    Fields missing from `data` keep their value in `base` (the partner's current
    settings); without `base`, `timezone` is required and the rest default as in
    `default_settings`. Unknown fields are ignored, so a client can send back what
    GET returned even after fields are added to it. Cross-field rules: no chosen time
    may fall inside quiet hours (it would never fire), and with `discreet` on, the
    partner's own text must pass `texts.is_discreet`.
    """
    errors = _Errors()
    if not isinstance(data, Mapping):
        raise InvalidSettings({"_schema": ["Expected a JSON object."]})

    timezone = base.timezone if base is not None else None
    if "timezone" in data:
        value = data["timezone"]
        if isinstance(value, str) and is_valid_timezone(value):
            timezone = value
        else:
            errors.add("timezone", 'Not a known IANA time zone, e.g. "Europe/London".')
            timezone = None
    elif timezone is None:
        errors.add("timezone", "Missing data for required field.")
    # With a bad time zone, keep validating the rest so every problem shows at once.
    current = base if base is not None else default_settings(timezone or "UTC")

    if "times" in data:
        times = _parse_times(data["times"], errors, limit=current.daily_cap)
    else:
        times = current.times
    days = _parse_days(data["days"], errors) if "days" in data else current.days
    quiet_start, quiet_end = current.quiet_start, current.quiet_end
    if "quiet_hours" in data:
        quiet_start, quiet_end = _parse_quiet_hours(data["quiet_hours"], errors)
    flags: dict[str, bool] = {"paused": current.paused, "discreet": current.discreet}
    for name in flags:
        if name in data:
            if isinstance(data[name], bool):
                flags[name] = data[name]
            else:
                errors.add(name, "Must be true or false.")
    text = _parse_text(data["text"], errors) if "text" in data else current.text

    if times is not None and "quiet_hours" not in errors:
        for message in _times_in_quiet_hours(times, quiet_start, quiet_end):
            errors.add("times" if "times" in data else "quiet_hours", message)
    if flags["discreet"] and text and "text" not in errors:
        terms = forbidden_terms(text)
        if terms:
            errors.add(
                "text",
                f"Not discreet on a lock screen: {', '.join(terms)}. "
                "Choose other words or turn discreet off.",
            )

    if errors or timezone is None or times is None or days is None:
        raise InvalidSettings(dict(errors))
    return ReminderSettings(
        timezone=timezone,
        times=times,
        days=days,
        quiet_start=quiet_start,
        quiet_end=quiet_end,
        paused=flags["paused"],
        discreet=flags["discreet"],
        text=text,
        daily_cap=current.daily_cap,
    )


def validate_settings(data: object, base: ReminderSettings | None = None) -> dict[str, list[str]]:
    """Return field → messages for an API body; empty when `settings_from_api` accepts it."""
    try:
        settings_from_api(data, base)
    except InvalidSettings as exc:
        return exc.errors
    return {}
