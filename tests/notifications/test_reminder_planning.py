"""Table tests for notifications.planning.plan_reminders."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from notifications.planning import (
    DEFAULT_HORIZON,
    NO_HOMEWORK,
    HomeworkState,
    PlannedReminder,
    ReminderSettings,
    default_settings,
    is_quiet,
    plan_reminders,
    week_start_of,
)


def settings(zone: str, *times: str, **overrides: object) -> ReminderSettings:
    """Settings with the given HH:MM times and, unless overridden, no quiet hours."""
    fields: dict[str, object] = {"quiet_start": None, "quiet_end": None, "daily_cap": 10}
    fields.update(overrides)
    parsed = tuple(time.fromisoformat(value) for value in times)
    return ReminderSettings(zone, parsed, **fields)  # type: ignore[arg-type]


def due(day: date, this_week: int = 1, next_weeks: int = 1) -> HomeworkState:
    """Homework with sessions due in the week of `day` and in later weeks."""
    return HomeworkState(week_start_of(day), this_week, next_weeks)


def plan_days(
    conf: ReminderSettings, first: date, days: int = 1, homework: HomeworkState | None = None
) -> list[PlannedReminder]:
    """Plan every slot of `days` local dates starting at `first` (local midnights)."""
    zone = ZoneInfo(conf.timezone)
    start, end = (
        datetime.combine(first + timedelta(days=n), time(0), tzinfo=zone).astimezone(UTC)
        - timedelta(seconds=1)
        for n in (0, days)
    )
    return plan_reminders(conf, homework or due(first), start, horizon=end - start)


def keys(planned: list[PlannedReminder]) -> list[str]:
    return [reminder.key for reminder in planned]


# zone, chosen local time, local date, expected UTC instant, expected local wall time
DST_CASES = [
    # America/New_York: gap 02:00 -> 03:00 on 2026-03-08, overlap 01:00-02:00 on 2026-11-01.
    ("America/New_York", "20:00", "2026-03-07", "2026-03-08T01:00", "20:00"),
    ("America/New_York", "02:30", "2026-03-08", "2026-03-08T07:30", "03:30"),
    ("America/New_York", "02:00", "2026-03-08", "2026-03-08T07:00", "03:00"),
    ("America/New_York", "03:00", "2026-03-08", "2026-03-08T07:00", "03:00"),
    ("America/New_York", "20:00", "2026-03-08", "2026-03-09T00:00", "20:00"),
    ("America/New_York", "01:30", "2026-11-01", "2026-11-01T05:30", "01:30"),
    ("America/New_York", "01:00", "2026-11-01", "2026-11-01T05:00", "01:00"),
    ("America/New_York", "02:00", "2026-11-01", "2026-11-01T07:00", "02:00"),
    # Europe/London: gap 01:00 -> 02:00 on 2026-03-29, overlap 01:00-02:00 on 2026-10-25.
    ("Europe/London", "01:30", "2026-03-29", "2026-03-29T01:30", "02:30"),
    ("Europe/London", "20:00", "2026-03-29", "2026-03-29T19:00", "20:00"),
    ("Europe/London", "01:30", "2026-10-25", "2026-10-25T00:30", "01:30"),
    ("Europe/London", "20:00", "2026-10-25", "2026-10-25T20:00", "20:00"),
    # Australia/Lord_Howe, 30-minute DST: gap 02:00 -> 02:30 on 2026-10-04,
    # overlap 01:30-02:00 on 2026-04-05.
    ("Australia/Lord_Howe", "02:15", "2026-10-04", "2026-10-03T15:45", "02:45"),
    ("Australia/Lord_Howe", "02:30", "2026-10-04", "2026-10-03T15:30", "02:30"),
    ("Australia/Lord_Howe", "01:45", "2026-04-05", "2026-04-04T14:45", "01:45"),
    ("Australia/Lord_Howe", "20:00", "2026-04-05", "2026-04-05T09:30", "20:00"),
    # Pacific/Chatham, +12:45/+13:45: gap 02:45 -> 03:45 on 2026-09-27,
    # overlap 02:45-03:45 on 2026-04-05.
    ("Pacific/Chatham", "03:00", "2026-09-27", "2026-09-26T14:15", "04:00"),
    ("Pacific/Chatham", "03:45", "2026-09-27", "2026-09-26T14:00", "03:45"),
    ("Pacific/Chatham", "03:00", "2026-04-05", "2026-04-04T13:15", "03:00"),
    ("Pacific/Chatham", "20:00", "2026-04-05", "2026-04-05T07:15", "20:00"),
]


@pytest.mark.parametrize(("zone", "chosen", "day", "utc", "wall"), DST_CASES)
def test_local_times_across_dst(zone: str, chosen: str, day: str, utc: str, wall: str) -> None:
    local_date = date.fromisoformat(day)
    planned = plan_days(settings(zone, chosen), local_date)

    [reminder] = [r for r in planned if r.local_date == local_date]
    assert reminder.key == f"{day}T{chosen}"
    assert reminder.local_time == time.fromisoformat(chosen)
    assert reminder.send_at == datetime.fromisoformat(utc).replace(tzinfo=UTC)
    assert f"{reminder.send_at.astimezone(ZoneInfo(zone)):%H:%M}" == wall


@pytest.mark.parametrize(
    ("zone", "chosen", "day"),
    [
        ("America/New_York", "01:30", "2026-11-01"),
        ("Europe/London", "01:15", "2026-10-25"),
        ("Australia/Lord_Howe", "01:30", "2026-04-05"),
        ("Pacific/Chatham", "03:30", "2026-04-05"),
    ],
)
def test_ambiguous_time_fires_once_at_first_occurrence(zone: str, chosen: str, day: str) -> None:
    tz = ZoneInfo(zone)
    local_date = date.fromisoformat(day)
    planned = plan_days(settings(zone, chosen), local_date - timedelta(days=1), days=3)

    on_day = [r for r in planned if r.local_date == local_date]
    first = datetime.combine(local_date, time.fromisoformat(chosen), tzinfo=tz)
    second = first.replace(fold=1)
    assert first.astimezone(UTC) != second.astimezone(UTC)  # really ambiguous
    assert [r.send_at for r in on_day] == [first.astimezone(UTC)]


def test_gap_slot_meeting_a_real_slot_is_sent_once() -> None:
    # 02:30 does not exist on 2026-03-08 and moves to 03:30, where 03:30 already is.
    planned = plan_days(settings("America/New_York", "02:30", "03:30"), date(2026, 3, 8))

    assert keys(planned) == ["2026-03-08T02:30"]
    assert planned[0].send_at == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)


def test_a_skipped_calendar_day_never_sends_twice() -> None:
    # Pacific/Apia jumped from 2011-12-29 24:00 to 2011-12-31 00:00 (UTC-10 -> UTC+14):
    # the 30th's 20:00 lands on the 31st's 20:00.
    planned = plan_days(settings("Pacific/Apia", "20:00"), date(2011, 12, 29), days=3)

    assert keys(planned) == ["2011-12-29T20:00", "2011-12-30T20:00"]
    assert len({r.send_at for r in planned}) == len(planned)


@pytest.mark.parametrize(
    ("quiet", "expected"),
    [
        # Wrapping midnight: [22:30, 07:00) is quiet, both ends exact.
        (("22:30", "07:00"), ["07:00", "12:00", "22:29"]),
        # Same day: [13:00, 14:00).
        (("13:00", "14:00"), ["00:00", "06:59", "07:00", "12:00", "22:29", "22:30", "23:59"]),
        (None, ["00:00", "06:59", "07:00", "12:00", "22:29", "22:30", "23:59"]),
    ],
)
def test_quiet_hours_skip_slots(quiet: tuple[str, str] | None, expected: list[str]) -> None:
    start, end = (time.fromisoformat(t) for t in quiet) if quiet else (None, None)
    times = ("00:00", "06:59", "07:00", "12:00", "22:29", "22:30", "23:59")
    conf = settings("Europe/London", *times, quiet_start=start, quiet_end=end)

    planned = plan_days(conf, date(2026, 6, 10))

    assert [f"{r.local_time:%H:%M}" for r in planned] == expected


def test_quiet_hours_apply_to_the_time_a_gap_slot_really_fires() -> None:
    conf = settings("America/New_York", "02:30", quiet_start=time(3, 0), quiet_end=time(6, 0))
    # On 2026-03-08 02:30 would fire at 03:30, inside quiet hours: skipped. Next day fine.
    planned = plan_days(conf, date(2026, 3, 8), days=2)

    assert keys(planned) == ["2026-03-09T02:30"]


def test_is_quiet_reads_local_time() -> None:
    conf = default_settings("America/New_York")  # quiet 23:00-07:00
    assert is_quiet(conf, datetime(2026, 7, 1, 8, 0, tzinfo=UTC))  # 04:00 EDT
    assert not is_quiet(conf, datetime(2026, 7, 1, 11, 0, tzinfo=UTC))  # 07:00 EDT
    assert is_quiet(conf, datetime(2026, 7, 2, 3, 0, tzinfo=UTC))  # 23:00 EDT


def test_only_selected_weekdays() -> None:
    conf = settings("Europe/London", "20:00", days=frozenset({0, 3}))  # Mon, Thu
    planned = plan_days(conf, date(2026, 6, 8), days=7, homework=due(date(2026, 6, 8), 5))

    assert keys(planned) == ["2026-06-08T20:00", "2026-06-11T20:00"]


def test_daily_cap_keeps_the_earliest_slots_whatever_now_is() -> None:
    conf = settings("Europe/London", "08:00", "12:00", "16:00", "20:00", daily_cap=3)
    day = date(2026, 6, 10)

    assert keys(plan_days(conf, day)) == [
        "2026-06-10T08:00",
        "2026-06-10T12:00",
        "2026-06-10T16:00",
    ]
    # Planning again at 10:00 must not let 20:00 in: the cap is per day, not per run.
    ten = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)  # 10:00 BST
    assert keys(plan_reminders(conf, due(day), ten, timedelta(hours=12))) == [
        "2026-06-10T12:00",
        "2026-06-10T16:00",
    ]


def test_weekly_target_met_stops_reminders_until_next_week() -> None:
    conf = settings("America/New_York", "20:00")
    # Saturday 2026-03-07 to Tuesday 2026-03-10; the week of 2026-03-02 is done.
    homework = HomeworkState(date(2026, 3, 2), remaining_this_week=0, remaining_next_weeks=2)

    planned = plan_days(conf, date(2026, 3, 7), days=4, homework=homework)

    assert keys(planned) == ["2026-03-09T20:00", "2026-03-10T20:00"]


def test_next_week_unknown_means_no_reminders_after_sunday() -> None:
    conf = settings("America/New_York", "20:00")
    homework = HomeworkState(date(2026, 3, 2), remaining_this_week=1)  # next weeks: 0

    planned = plan_days(conf, date(2026, 3, 7), days=4, homework=homework)

    assert keys(planned) == ["2026-03-07T20:00", "2026-03-08T20:00"]


@pytest.mark.parametrize(
    ("this_week", "next_weeks", "expected"),
    [
        (1, 0, ["2026-06-07T23:59"]),
        (0, 1, ["2026-06-08T00:00"]),
        (1, 1, ["2026-06-07T23:59", "2026-06-08T00:00"]),
        (0, 0, []),
    ],
)
def test_week_boundary_is_local_monday_midnight(
    this_week: int, next_weeks: int, expected: list[str]
) -> None:
    # Chatham's Monday 00:00 is Sunday 11:15 UTC: the week must be the local one.
    conf = settings("Pacific/Chatham", "00:00", "23:59")
    homework = HomeworkState(date(2026, 6, 1), this_week, next_weeks)
    now = datetime(2026, 6, 7, 11, 0, tzinfo=UTC)  # Sunday 23:45 local

    planned = plan_reminders(conf, homework, now, timedelta(hours=1))

    assert keys(planned) == expected


def test_homework_starting_next_week_plans_nothing_before_it() -> None:
    # A state describing next week (e.g. assignment starting Monday): nothing this week.
    homework = HomeworkState(date(2026, 6, 15), remaining_this_week=2)
    planned = plan_days(settings("Europe/London", "20:00"), date(2026, 6, 13), 4, homework)

    assert keys(planned) == ["2026-06-15T20:00", "2026-06-16T20:00"]


@pytest.mark.parametrize(
    ("conf", "homework"),
    [
        (settings("Europe/London", "20:00", paused=True), due(date(2026, 6, 10))),
        (settings("Europe/London", "20:00"), HomeworkState(date(2026, 6, 8), 2, 2, active=False)),
        (settings("Europe/London", "20:00"), HomeworkState(date(2026, 6, 8), 2, 2, on_hold=True)),
        (settings("Europe/London", "20:00"), NO_HOMEWORK),
        (settings("Europe/London", "20:00", days=frozenset()), due(date(2026, 6, 10))),
    ],
    ids=["settings-paused", "assignment-paused", "on-hold", "no-assignment", "no-days"],
)
def test_nothing_planned(conf: ReminderSettings, homework: HomeworkState) -> None:
    assert plan_days(conf, date(2026, 6, 10), days=7, homework=homework) == []


def test_window_excludes_now_and_includes_its_end() -> None:
    conf = settings("UTC", "08:00", "20:00")
    at_eight = datetime(2026, 6, 10, 8, 0, tzinfo=UTC)
    homework = due(date(2026, 6, 10))

    assert keys(plan_reminders(conf, homework, at_eight, timedelta(hours=12))) == [
        "2026-06-10T20:00"
    ]
    assert plan_reminders(conf, homework, at_eight, timedelta(0)) == []


def test_default_horizon_is_24_hours() -> None:
    conf = settings("UTC", "08:00")
    planned = plan_reminders(conf, due(date(2026, 6, 10)), datetime(2026, 6, 10, 8, tzinfo=UTC))

    assert keys(planned) == ["2026-06-11T08:00"]  # exactly now + 24 h, included
    assert timedelta(hours=24) == DEFAULT_HORIZON


def test_planning_again_later_yields_the_same_reminders() -> None:
    conf = settings("America/New_York", "01:30", "02:30", "08:00", "20:00", daily_cap=3)
    homework = due(date(2026, 3, 7), 1, 1)
    first_now = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)
    first = plan_reminders(conf, homework, first_now)

    for hours in range(1, 25):
        later_now = first_now + timedelta(hours=hours)
        later = plan_reminders(conf, homework, later_now)
        overlap = [r for r in later if r.send_at <= first_now + DEFAULT_HORIZON]
        assert overlap == [r for r in first if r.send_at > later_now]
        assert set(keys(overlap)) <= set(keys(first))


def test_now_in_any_zone_means_the_same_instant() -> None:
    conf = settings("Europe/London", "20:00")
    homework = due(date(2026, 6, 10))
    utc_now = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)

    assert plan_reminders(conf, homework, utc_now) == plan_reminders(
        conf, homework, utc_now.astimezone(ZoneInfo("Asia/Tokyo"))
    )


def test_send_at_is_utc() -> None:
    [reminder] = plan_days(settings("Asia/Kolkata", "20:00"), date(2026, 6, 10))
    assert reminder.send_at.tzinfo is UTC
    assert reminder.send_at == datetime(2026, 6, 10, 14, 30, tzinfo=UTC)


def test_naive_now_and_negative_horizon_are_refused() -> None:
    conf = default_settings("UTC")
    homework = due(date(2026, 6, 10))
    with pytest.raises(ValueError, match="aware"):
        plan_reminders(conf, homework, datetime(2026, 6, 10, 12, 0))
    with pytest.raises(ValueError, match="negative"):
        plan_reminders(conf, homework, datetime(2026, 6, 10, tzinfo=UTC), timedelta(hours=-1))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "time zone"),
        ({"timezone": "localtime"}, "time zone"),
        ({"times": (time(20, 0, 30),)}, "whole minute"),
        ({"times": (time(20, 0, tzinfo=UTC),)}, "naive"),
        ({"times": (time(20, 0), time(20, 0))}, "distinct"),
        ({"days": frozenset({7})}, "weekday"),
        ({"quiet_start": time(22, 0), "quiet_end": None}, "both"),
        ({"quiet_start": time(22, 0), "quiet_end": time(22, 0)}, "same time"),
        ({"daily_cap": 0}, "daily_cap"),
    ],
)
def test_settings_invariants(fields: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"timezone": "UTC"}
    with pytest.raises(ValueError, match=message):
        ReminderSettings(**(base | fields))  # type: ignore[arg-type]


def test_homework_state_invariants() -> None:
    with pytest.raises(ValueError, match="Monday"):
        HomeworkState(date(2026, 6, 10), 1)
    with pytest.raises(ValueError, match="negative"):
        HomeworkState(date(2026, 6, 8), -1)
    assert NO_HOMEWORK.remaining_in_week(date(2026, 6, 8)) == 0


def test_default_settings() -> None:
    conf = default_settings("Europe/Berlin")

    assert conf.timezone == "Europe/Berlin"
    assert conf.times == (time(20, 0),)
    assert conf.days == frozenset(range(7))
    assert (conf.quiet_start, conf.quiet_end) == (time(23, 0), time(7, 0))
    assert not conf.paused
    assert conf.discreet
    assert conf.text is None
    assert conf.daily_cap == 3
    # The default time itself must be able to fire.
    assert keys(plan_days(conf, date(2026, 6, 10))) == ["2026-06-10T20:00"]
