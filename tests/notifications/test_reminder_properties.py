"""Property tests for plan_reminders: zones, instants near DST changes and week edges.

The expected reminders are computed by an oracle that does not use `fold`: it finds
the UTC instants whose local wall time is the chosen slot by trying every offset the
zone uses around it, and for a nonexistent slot reads it with the pre-gap offset.
"""

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from notifications.planning import (
    HomeworkState,
    PlannedReminder,
    ReminderSettings,
    plan_reminders,
    week_start_of,
)

ZONES = (
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",  # 30-minute DST
    "Pacific/Chatham",  # +12:45 / +13:45
    "America/St_Johns",  # -3:30 / -2:30
    "America/Santiago",  # changes at midnight: 00:00 itself can be missing
    "America/Havana",  # changes at midnight too
    "Africa/Casablanca",  # goes back and forth around Ramadan
    "Australia/Sydney",
    "Asia/Kolkata",  # no DST, +5:30
    "UTC",
)
YEARS = (2025, 2028)  # transitions searched in [2025-01-01, 2028-01-01)

# Times around typical transitions, plus the day's edges.
EDGE_TIMES = [
    *(time(hour, minute) for hour in range(4) for minute in (0, 15, 30, 45)),
    time(20, 0),
    time(23, 30),
    time(23, 59),
]
LOCAL_TIMES = st.one_of(
    st.sampled_from(EDGE_TIMES), st.builds(time, st.integers(0, 23), st.integers(0, 59))
)


@cache
def transitions(zone: str) -> tuple[datetime, ...]:
    """UTC instants (to the minute) where the zone's offset changes, within YEARS."""
    tz = ZoneInfo(zone)
    found: list[datetime] = []
    at, end = (datetime(year, 1, 1, tzinfo=UTC) for year in YEARS)
    step = timedelta(hours=6)
    while at < end:
        lo, hi = at, at + step
        if lo.astimezone(tz).utcoffset() != hi.astimezone(tz).utcoffset():
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                same = mid.astimezone(tz).utcoffset() == lo.astimezone(tz).utcoffset()
                lo, hi = (mid, hi) if same else (lo, mid)
            found.append(hi)
        at += step
    return tuple(found)


@st.composite
def instants(draw: st.DrawFn) -> tuple[str, datetime]:
    """A zone and an aware `now` near a DST change, near a local week edge, or anywhere."""
    zone = draw(st.sampled_from(ZONES))
    tz = ZoneInfo(zone)
    near = draw(st.sampled_from(["transition", "week_edge", "anywhere"]))
    if near == "transition" and transitions(zone):
        base = draw(st.sampled_from(transitions(zone)))
    elif near == "week_edge":
        monday = date(2025, 1, 6) + timedelta(weeks=draw(st.integers(0, 150)))
        base = datetime.combine(monday, time(0), tzinfo=tz).astimezone(UTC)
    else:
        base = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=draw(st.integers(0, 1000)))
    shift = timedelta(
        minutes=draw(st.integers(-3 * 24 * 60, 3 * 24 * 60)), seconds=draw(st.integers(0, 59))
    )
    # Express `now` in some zone: only the instant may matter. (Tests add the horizon
    # in UTC: adding to a zoned datetime is wall-clock arithmetic.)
    return zone, (base + shift).astimezone(ZoneInfo(draw(st.sampled_from(ZONES))))


@st.composite
def reminder_settings(draw: st.DrawFn, zone: str) -> ReminderSettings:
    times = draw(st.lists(LOCAL_TIMES, min_size=1, max_size=5, unique=True))
    quiet = draw(
        st.none() | st.tuples(LOCAL_TIMES, LOCAL_TIMES).filter(lambda pair: pair[0] != pair[1])
    )
    return ReminderSettings(
        timezone=zone,
        times=tuple(times),
        days=draw(st.frozensets(st.integers(0, 6))),
        quiet_start=quiet[0] if quiet else None,
        quiet_end=quiet[1] if quiet else None,
        daily_cap=draw(st.integers(1, 5)),
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[ReminderSettings, HomeworkState, datetime, timedelta]:
    zone, now = draw(instants())
    local_today = now.astimezone(ZoneInfo(zone)).date()
    homework = HomeworkState(
        week_start=week_start_of(local_today),
        remaining_this_week=draw(st.integers(0, 2)),
        remaining_next_weeks=draw(st.integers(0, 2)),
    )
    horizon = timedelta(minutes=draw(st.integers(0, 4 * 24 * 60)))
    return draw(reminder_settings(zone)), homework, now, horizon


# --- the oracle -------------------------------------------------------------------


def expected_instant(zone: str, day: date, chosen: time) -> datetime:
    """When the slot (day, chosen) should fire, worked out without `fold`."""
    tz = ZoneInfo(zone)
    nominal = datetime.combine(day, chosen)
    as_utc = nominal.replace(tzinfo=UTC)
    # Every offset in force within 18 hours of the slot (one transition at most).
    offsets = {
        (as_utc + timedelta(minutes=30 * k)).astimezone(tz).utcoffset() or timedelta(0)
        for k in range(-36, 37)
    }
    candidates = [as_utc - offset for offset in offsets]
    real = [c for c in candidates if c.astimezone(tz).replace(tzinfo=None) == nominal]
    if real:
        return min(real)  # ambiguous: the first occurrence
    # Nonexistent: clocks jumped forward over it, so the pre-gap offset is the smaller.
    return as_utc - min(offsets)


def in_quiet_hours(conf: ReminderSettings, local: time) -> bool:
    if conf.quiet_start is None or conf.quiet_end is None:
        return False

    def minutes(value: time) -> int:
        return value.hour * 60 + value.minute

    start = minutes(conf.quiet_start)
    # [start, end) on a 24-hour circle, wrapping midnight or not.
    return (minutes(local) - start) % 1440 < (minutes(conf.quiet_end) - start) % 1440


def remaining(homework: HomeworkState, day: date) -> int:
    monday = day - timedelta(days=day.weekday())
    if monday == homework.week_start:
        return homework.remaining_this_week
    return homework.remaining_next_weeks if monday > homework.week_start else 0


def expected_instants(
    conf: ReminderSettings, homework: HomeworkState, now: datetime, horizon: timedelta
) -> set[datetime]:
    tz = ZoneInfo(conf.timezone)
    found: set[datetime] = set()
    end = now.astimezone(UTC) + horizon
    day = now.astimezone(tz).date() - timedelta(days=1)
    while day <= end.astimezone(tz).date():
        if day.weekday() in conf.days and remaining(homework, day) > 0:
            fire = {expected_instant(conf.timezone, day, chosen) for chosen in conf.times}
            allowed = sorted(i for i in fire if not in_quiet_hours(conf, i.astimezone(tz).time()))
            found.update(i for i in allowed[: conf.daily_cap] if now < i <= end)
        day += timedelta(days=1)
    return found


# --- properties -------------------------------------------------------------------


def check_reminder(conf: ReminderSettings, homework: HomeworkState, r: PlannedReminder) -> None:
    tz = ZoneInfo(conf.timezone)
    assert r.key == f"{r.local_date.isoformat()}T{r.local_time:%H:%M}"
    assert r.local_time in conf.times
    assert r.send_at.tzinfo is UTC
    # The key's slot maps back to the instant: exactly, or moved forward over a gap.
    assert r.send_at == expected_instant(conf.timezone, r.local_date, r.local_time)
    fires = r.send_at.astimezone(tz).replace(tzinfo=None)
    moved = fires - datetime.combine(r.local_date, r.local_time)
    assert timedelta(0) <= moved <= timedelta(hours=1)
    assert not in_quiet_hours(conf, fires.time())
    assert r.local_date.weekday() in conf.days
    assert remaining(homework, r.local_date) > 0


@given(cases())
@settings(max_examples=500, deadline=None)
def test_planned_reminders_keep_every_rule(
    case: tuple[ReminderSettings, HomeworkState, datetime, timedelta],
) -> None:
    conf, homework, now, horizon = case
    planned = plan_reminders(conf, homework, now, horizon)
    send_at = [r.send_at for r in planned]
    end = now.astimezone(UTC) + horizon

    assert send_at == sorted(send_at)
    assert all(now < s <= end for s in send_at)
    assert len({r.key for r in planned}) == len(planned)
    assert len(set(send_at)) == len(planned)
    for reminder in planned:
        check_reminder(conf, homework, reminder)
    assert max(Counter(r.local_date for r in planned).values(), default=0) <= conf.daily_cap
    # Nothing missing either.
    assert set(send_at) == expected_instants(conf, homework, now, horizon)


@given(cases(), st.floats(0, 1))
@settings(max_examples=300, deadline=None)
def test_planning_later_repeats_the_same_reminders(
    case: tuple[ReminderSettings, HomeworkState, datetime, timedelta], fraction: float
) -> None:
    conf, homework, now, horizon = case
    now = now.astimezone(UTC)
    later = now + horizon * fraction
    first = plan_reminders(conf, homework, now, horizon)
    second = plan_reminders(conf, homework, later, horizon)

    overlap = [r for r in second if r.send_at <= now + horizon]
    assert overlap == [r for r in first if r.send_at > later]
