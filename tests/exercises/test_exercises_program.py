"""The program engine: local weeks, weekly homework and advancement suggestions.

Table tests pin the rules; hypothesis properties check them over time zones with odd
offsets and daylight-saving changes (including ones at midnight), week boundaries and
check-ins at the exact instant of a change.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exercises.catalog import Catalog
from exercises.model import Criteria, Program, Stage, StageItem
from exercises.program import (
    CheckinRecord,
    Week,
    homework,
    local_date,
    suggest_advancement,
    week_of,
    week_window_utc,
)

NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")

PROGRAM = Program(
    slug="test",
    version=1,
    title="Test",
    summary="",
    stages=(
        Stage(
            1, "One", "", (StageItem("touch", 3), StageItem("talk", 1)), min_weeks=2,
            criteria=Criteria(min_sessions=3, exercise="touch", max_mean={"anxiety": 4},
                              mean_of_last=3, require_ready=True),
        ),
        Stage(2, "Two", "", (StageItem("touch", 2),), min_weeks=1),
    ),
)  # fmt: skip


def local(text: str, tz: ZoneInfo = NY, fold: int = 0) -> datetime:
    """An aware datetime from local wall-clock text like '2026-03-11 20:00'."""
    return datetime.fromisoformat(text).replace(tzinfo=tz, fold=fold)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def rec(exercise: str, at: datetime, answers: dict[str, Any] | None = None,
        flags: frozenset[str] = frozenset()) -> CheckinRecord:  # fmt: skip
    return CheckinRecord(exercise, at, answers, flags)


# --- weeks ---------------------------------------------------------------------------


def test_calendar_assumptions() -> None:
    assert date(2026, 3, 8).strftime("%a") == "Sun"  # US clocks go forward
    assert date(2026, 3, 9).strftime("%a") == "Mon"
    assert date(2026, 11, 1).strftime("%a") == "Sun"  # US clocks go back


@pytest.mark.parametrize(
    ("zone", "when", "expected"),
    [
        ("America/New_York", "2026-03-15 23:30", Week(date(2026, 3, 9), date(2026, 3, 15))),
        ("America/New_York", "2026-03-16 00:30", Week(date(2026, 3, 16), date(2026, 3, 22))),
        ("America/New_York", "2026-03-08 01:59", Week(date(2026, 3, 2), date(2026, 3, 8))),
        ("America/New_York", "2026-03-08 03:00", Week(date(2026, 3, 2), date(2026, 3, 8))),
        ("Pacific/Chatham", "2026-04-05 23:30", Week(date(2026, 3, 30), date(2026, 4, 5))),
        ("Pacific/Chatham", "2026-04-06 00:30", Week(date(2026, 4, 6), date(2026, 4, 12))),
        ("Asia/Kolkata", "2026-01-04 23:59", Week(date(2025, 12, 29), date(2026, 1, 4))),
        ("Asia/Kolkata", "2026-01-05 00:00", Week(date(2026, 1, 5), date(2026, 1, 11))),
        ("Australia/Lord_Howe", "2026-04-05 01:45", Week(date(2026, 3, 30), date(2026, 4, 5))),
    ],
)
def test_week_of_is_local_monday_to_sunday(zone: str, when: str, expected: Week) -> None:
    assert week_of(local(when, ZoneInfo(zone)), ZoneInfo(zone)) == expected


def test_partners_in_different_zones_have_different_weeks_at_the_same_instant() -> None:
    instant = utc("2026-03-16 03:30")  # Sunday 23:30 in New York, Monday 03:30 in London
    assert week_of(instant, NY) == Week(date(2026, 3, 9), date(2026, 3, 15))
    assert week_of(instant, LONDON) == Week(date(2026, 3, 16), date(2026, 3, 22))
    # ...and their homework counts the same check-in in different weeks.
    checkin = [rec("touch", instant)]
    now = instant + timedelta(minutes=10)
    ny = homework(PROGRAM, 1, checkins=checkin, tz=NY, now=now)
    london = homework(PROGRAM, 1, checkins=checkin, tz=LONDON, now=now)
    assert ny.items[0].done_this_week == 1
    assert london.items[0].done_this_week == 1
    assert ny.week != london.week
    later = utc("2026-03-16 05:00")  # 01:00 Monday in New York: the check-in is last week's
    assert homework(PROGRAM, 1, checkins=checkin, tz=NY, now=later).items[0].done_this_week == 0
    assert homework(PROGRAM, 1, checkins=checkin, tz=LONDON, now=later).items[0].done_this_week == 1


def test_week_window_when_monday_midnight_does_not_exist() -> None:
    # Sao Paulo, 1997-10-06: clocks jumped from Sunday 23:59:59 to Monday 01:00.
    tz = ZoneInfo("America/Sao_Paulo")
    week = week_of(utc("1997-10-08 12:00"), tz)
    assert week == Week(date(1997, 10, 6), date(1997, 10, 12))
    start, end = week_window_utc(week, tz)
    assert start == utc("1997-10-06 03:00")
    assert local_date(start - timedelta(microseconds=1), tz) == date(1997, 10, 5)
    assert local_date(start, tz) == date(1997, 10, 6)
    assert end == utc("1997-10-13 02:00")  # the next Monday is an ordinary one


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        week_of(datetime(2026, 3, 11, 20, 0), NY)
    with pytest.raises(ValueError, match="timezone-aware"):
        homework(PROGRAM, 1, checkins=[rec("touch", datetime(2026, 3, 11))], tz=NY,
                 now=local("2026-03-11 20:00"))  # fmt: skip


# --- homework: table -----------------------------------------------------------------

WED = "2026-03-11 20:00"  # week of Mon 9 - Sun 15 March 2026, New York
SUN = "2026-03-15 12:00"
TUE = "2026-03-10 12:00"
MWF = frozenset({0, 2, 4})


def summary(now: str, checkins: list[tuple[str, str]], **kwargs: Any) -> dict[str, tuple[int, ...]]:
    """exercise -> (per_week, done_this_week, done_today, remaining, due_today_count)."""
    result = homework(
        PROGRAM, 1, checkins=[rec(ex, local(at)) for ex, at in checkins], tz=NY, now=local(now),
        **kwargs,
    )  # fmt: skip
    for item in result.items:
        assert item.due_today == (item.due_today_count > 0)
    return {
        i.exercise: (i.per_week, i.done_this_week, i.done_today, i.remaining, i.due_today_count)
        for i in result.items
    }


@pytest.mark.parametrize(
    ("now", "checkins", "kwargs", "expected"),
    [
        # 3 left over Wed..Sun (5 days): one today; 1 left over 5 days: one today
        (WED, [], {}, {"touch": (3, 0, 0, 3, 1), "talk": (1, 0, 0, 1, 1)}),
        (WED, [("touch", "2026-03-09 10:00")], {}, {"touch": (3, 1, 0, 2, 1), "talk": (1, 0, 0, 1, 1)}),
        # done today already covers today's share
        (WED, [("touch", "2026-03-11 08:00")], {}, {"touch": (3, 1, 1, 2, 0), "talk": (1, 0, 0, 1, 1)}),
        (WED, [("touch", "2026-03-09 10:00"), ("touch", "2026-03-10 10:00"),
               ("touch", "2026-03-11 10:00"), ("talk", "2026-03-10 09:00")], {},
         {"touch": (3, 3, 1, 0, 0), "talk": (1, 1, 0, 0, 0)}),
        (WED, [("touch", "2026-03-09 10:00")] * 4, {}, {"touch": (3, 4, 0, 0, 0), "talk": (1, 0, 0, 1, 1)}),
        # Sunday: everything left is due today, minus what was done today
        (SUN, [], {}, {"touch": (3, 0, 0, 3, 3), "talk": (1, 0, 0, 1, 1)}),
        (SUN, [("touch", "2026-03-15 09:00")], {}, {"touch": (3, 1, 1, 2, 2), "talk": (1, 0, 0, 1, 1)}),
        # Mon/Wed/Fri: on Wednesday 3 left over 2 days -> 2 today
        (WED, [], {"allowed_days": MWF}, {"touch": (3, 0, 0, 3, 2), "talk": (1, 0, 0, 1, 1)}),
        (WED, [("touch", "2026-03-09 10:00")], {"allowed_days": MWF},
         {"touch": (3, 1, 0, 2, 1), "talk": (1, 0, 0, 1, 1)}),
        # Tuesday is not an allowed day: nothing due, the target stands
        (TUE, [], {"allowed_days": MWF}, {"touch": (3, 0, 0, 3, 0), "talk": (1, 0, 0, 1, 0)}),
        (WED, [], {"allowed_days": frozenset()}, {"touch": (3, 0, 0, 3, 0), "talk": (1, 0, 0, 1, 0)}),
        # overrides: 0 skips an exercise; unknown slugs are ignored
        (WED, [], {"overrides": {"touch": 0, "talk": 2}}, {"talk": (2, 0, 0, 2, 1)}),
        (WED, [], {"overrides": {"elsewhere": 5}}, {"touch": (3, 0, 0, 3, 1), "talk": (1, 0, 0, 1, 1)}),
        # last week's Sunday 23:30 does not count; this Monday 00:30 does
        (WED, [("touch", "2026-03-08 23:30"), ("touch", "2026-03-09 00:30")], {},
         {"touch": (3, 1, 0, 2, 1), "talk": (1, 0, 0, 1, 1)}),
        # check-ins of other exercises are not counted
        (WED, [("journal", "2026-03-10 10:00")], {}, {"touch": (3, 0, 0, 3, 1), "talk": (1, 0, 0, 1, 1)}),
        # next week's check-in (clock skew) does not count for this week
        (SUN, [("touch", "2026-03-16 00:10")], {}, {"touch": (3, 0, 0, 3, 3), "talk": (1, 0, 0, 1, 1)}),
    ],
)  # fmt: skip
def test_homework_table(
    now: str, checkins: list[tuple[str, str]], kwargs: dict[str, Any],
    expected: dict[str, tuple[int, ...]],
) -> None:  # fmt: skip
    assert summary(now, checkins, **kwargs) == expected


def test_homework_shape() -> None:
    result = homework(PROGRAM, 1, checkins=[], tz=NY, now=local(WED))
    assert result.today == date(2026, 3, 11)
    assert result.week == Week(date(2026, 3, 9), date(2026, 3, 15))
    assert result.stage_index == 1
    assert result.due_today
    assert result.remaining == 4
    data = json.loads(json.dumps(result.to_dict()))
    assert data["week"] == {"start": "2026-03-09", "end": "2026-03-15"}
    assert data["items"][0] == {
        "exercise": "touch", "per_week": 3, "done_this_week": 0, "done_today": 0,
        "remaining": 3, "due_today_count": 1, "due_today": True, "declined_this_week": 0,
    }  # fmt: skip


def test_homework_counts_both_sides_of_the_spring_gap() -> None:
    # 2026-03-08 in New York: 01:59 EST, then 03:00 EDT. Both are Sunday the 8th.
    checkins = [rec("touch", utc("2026-03-08 06:59")), rec("touch", utc("2026-03-08 07:00")),
                rec("touch", utc("2026-03-09 04:00"))]  # Monday 00:00 EDT: next week  # fmt: skip
    sunday = homework(PROGRAM, 1, checkins=checkins, tz=NY, now=local("2026-03-08 12:00"))
    assert sunday.week == Week(date(2026, 3, 2), date(2026, 3, 8))
    assert (sunday.items[0].done_this_week, sunday.items[0].done_today) == (2, 2)
    monday = homework(PROGRAM, 1, checkins=checkins, tz=NY, now=utc("2026-03-09 04:00"))
    assert (monday.items[0].done_this_week, monday.items[0].done_today) == (1, 1)


def test_homework_counts_both_passes_of_the_repeated_hour() -> None:
    # 2026-11-01 in New York: 01:30 happens twice (EDT, then EST). Same Sunday.
    first, second = local("2026-11-01 01:30", fold=0), local("2026-11-01 01:30", fold=1)
    assert second - first == timedelta(0)  # the trap: same tzinfo compares wall clocks
    assert second.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=1)
    checkins = [rec("touch", first), rec("touch", second), rec("touch", utc("2026-11-02 05:00"))]
    result = homework(PROGRAM, 1, checkins=checkins, tz=NY, now=utc("2026-11-01 07:00"))
    assert result.today == date(2026, 11, 1)
    assert (result.items[0].done_this_week, result.items[0].done_today) == (2, 2)


def test_homework_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="no stage 3"):
        homework(PROGRAM, 3, checkins=[], tz=NY, now=local(WED))
    with pytest.raises(ValueError, match="no stage 0"):
        homework(PROGRAM, 0, checkins=[], tz=NY, now=local(WED))
    with pytest.raises(ValueError, match="override"):
        homework(PROGRAM, 1, checkins=[], tz=NY, now=local(WED), overrides={"touch": -1})
    with pytest.raises(ValueError, match="override"):
        homework(PROGRAM, 1, checkins=[], tz=NY, now=local(WED), overrides={"touch": True})
    with pytest.raises(ValueError, match="allowed_days"):
        homework(PROGRAM, 1, checkins=[], tz=NY, now=local(WED), allowed_days=frozenset({7}))


# --- homework and weeks: properties --------------------------------------------------

ZONE_NAMES = sorted(
    {
        "UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Pacific/Chatham",
        "Asia/Kolkata", "America/Sao_Paulo", "America/Havana", "Asia/Beirut",
        "America/Santiago", "Africa/Casablanca", "America/St_Johns", "Asia/Kathmandu",
        "Pacific/Kiritimati", "Pacific/Pago_Pago", "Pacific/Apia", "Europe/Dublin",
    }
    & available_timezones()
)  # fmt: skip
zones = st.sampled_from(ZONE_NAMES).map(ZoneInfo)
START, END = datetime(1995, 1, 1, tzinfo=UTC), datetime(2037, 12, 31, tzinfo=UTC)


@cache
def transitions(zone: ZoneInfo) -> tuple[datetime, ...]:
    """Every UTC instant in START..END at which `zone`'s offset changes."""
    found: list[datetime] = []
    step = timedelta(days=1)
    t, offset = START, START.astimezone(zone).utcoffset()
    while t < END:
        nxt = t + step
        if nxt.astimezone(zone).utcoffset() != offset:
            lo, hi = t, nxt
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                lo, hi = (mid, hi) if mid.astimezone(zone).utcoffset() == offset else (lo, mid)
            found.append(hi)
            offset = nxt.astimezone(zone).utcoffset()
        t = nxt
    return tuple(found)


@st.composite
def zone_and_instant(draw: st.DrawFn) -> tuple[ZoneInfo, datetime]:
    """A zone and an instant: anywhere, near a local midnight, or near an offset change."""
    zone = draw(zones)
    how = draw(st.sampled_from(["anywhere", "midnight", "transition"]))
    changes = transitions(zone)
    if how == "transition" and changes:
        base = draw(st.sampled_from(changes))
        return zone, base + timedelta(seconds=draw(st.integers(-7200, 7200)))
    if how == "midnight":
        day = draw(st.dates(date(1995, 1, 2), date(2037, 12, 30)))
        base = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
        return zone, base + timedelta(minutes=draw(st.integers(-90, 90)))
    seconds = draw(st.integers(0, int((END - START).total_seconds())))
    return zone, START + timedelta(seconds=seconds)


@settings(max_examples=300, deadline=None)
@given(zone_and_instant())
def test_week_properties(case: tuple[ZoneInfo, datetime]) -> None:
    zone, instant = case
    week = week_of(instant, zone)
    today = instant.astimezone(zone).date()
    assert week.start.weekday() == 0
    assert week.end - week.start == timedelta(days=6)
    assert week.contains(today)
    assert week.start.isocalendar()[:2] == today.isocalendar()[:2]  # an independent oracle
    start, end = week_window_utc(week, zone)
    assert start <= instant < end
    assert local_date(start - timedelta(microseconds=1), zone) < week.start
    assert local_date(start, zone) == week.start
    assert local_date(end - timedelta(microseconds=1), zone) == week.end
    assert local_date(end, zone) > week.end
    assert end - start <= timedelta(days=7, hours=2)


@st.composite
def homework_cases(draw: st.DrawFn) -> dict[str, Any]:
    zone, now = draw(zone_and_instant())
    offsets = st.integers(-10 * 86400, 86400)
    checkins = [
        rec(
            draw(st.sampled_from(["touch", "talk", "other"])),
            now + timedelta(seconds=draw(offsets)),
        )
        for _ in range(draw(st.integers(0, 12)))
    ]
    # some check-ins exactly at, or either side of, an offset change
    for change in transitions(zone)[:: max(1, len(transitions(zone)) // 5)]:
        if abs(change - now) < timedelta(days=8):
            checkins += [rec("touch", change), rec("touch", change - timedelta(microseconds=1))]
    return {
        "zone": zone,
        "now": now,
        "checkins": checkins,
        "allowed": frozenset(draw(st.sets(st.integers(0, 6)))),
        "overrides": draw(st.dictionaries(st.sampled_from(["touch", "talk"]), st.integers(0, 14))),
    }


@settings(max_examples=300, deadline=None)
@given(homework_cases())
def test_homework_properties(case: dict[str, Any]) -> None:
    zone, now, checkins = case["zone"], case["now"], case["checkins"]
    result = homework(PROGRAM, 1, checkins=checkins, tz=zone, now=now,
                      allowed_days=case["allowed"], overrides=case["overrides"])  # fmt: skip
    today = now.astimezone(zone).date()
    assert result.today == today
    assert result.week.contains(today)
    targets = {"touch": 3, "talk": 1} | case["overrides"]
    assert [i.exercise for i in result.items] == [s for s in ("touch", "talk") if targets[s]]
    for item in result.items:
        mine = [c for c in checkins if c.exercise == item.exercise]
        dates = [c.occurred_at.astimezone(zone).date() for c in mine]
        assert item.per_week == targets[item.exercise]
        assert item.done_this_week <= len(mine)
        assert item.done_this_week == sum(
            d.isocalendar()[:2] == today.isocalendar()[:2] for d in dates
        )
        assert item.done_today == dates.count(today)
        assert item.remaining == max(0, item.per_week - item.done_this_week)
        assert 0 <= item.due_today_count <= item.remaining
        assert item.due_today == (item.due_today_count > 0)
        if today.weekday() not in case["allowed"]:
            assert item.due_today_count == 0
        elif item.remaining and not item.done_today:
            assert item.due_today_count >= 1


@settings(max_examples=200, deadline=None)
@given(
    zone=zones.filter(lambda z: z.key != "Pacific/Apia"),  # Apia skipped a whole day in 2011
    monday=st.dates(date(2000, 1, 3), date(2037, 12, 21)).map(
        lambda d: d - timedelta(days=d.weekday())
    ),
    target=st.integers(1, 14),
    allowed=st.sets(st.integers(0, 6), min_size=1).map(frozenset),
)
def test_doing_what_is_due_each_day_meets_the_target_evenly(
    zone: ZoneInfo, monday: date, target: int, allowed: frozenset[int]
) -> None:
    program = Program("p", 1, "P", "", (Stage(1, "S", "", (StageItem("touch", target),)),))
    done: list[CheckinRecord] = []
    per_day: list[int] = []
    for offset in range(7):
        day = monday + timedelta(days=offset)
        noon = datetime.combine(day, time(12), tzinfo=zone)
        (item,) = homework(program, 1, checkins=done, tz=zone, now=noon, allowed_days=allowed).items
        if day.weekday() in allowed:
            per_day.append(item.due_today_count)
        else:
            assert item.due_today_count == 0
        done += [rec("touch", noon + timedelta(minutes=n + 1)) for n in range(item.due_today_count)]
    assert len(done) == target
    assert per_day == sorted(per_day, reverse=True)  # never more later in the week
    assert per_day[0] == math.ceil(target / len(allowed))


# --- advancement ---------------------------------------------------------------------

STARTED = utc("2026-03-02 15:00")
LATER = STARTED + timedelta(weeks=2, hours=1)


def good(
    n: int, anxiety: int = 2, ready: bool = True, start: datetime = STARTED
) -> list[CheckinRecord]:
    return [
        rec("touch", start + timedelta(days=i + 1), {"anxiety": anxiety, "ready_to_move_on": ready})
        for i in range(n)
    ]


def test_suggests_advancing_when_both_partners_meet_the_criteria() -> None:
    result = suggest_advancement(
        PROGRAM, 1, {"Alex": good(4), "Sam": good(3)}, started_at=STARTED, now=LATER
    )
    assert result.ready
    assert result.action == "advance"
    assert result.reasons == (
        "This stage's criteria are met; moving on is the therapist's decision.",
    )
    assert result.partners["Alex"].sessions == 4
    assert result.partners["Alex"].means == {"anxiety": 2.0}
    assert result.partners["Sam"].ready_to_move_on is True
    assert json.loads(json.dumps(result.to_dict()))["partners"]["Sam"]["met"] is True


@pytest.mark.parametrize(
    ("alex", "sam", "now", "reason"),
    [
        (good(4), good(4), STARTED + timedelta(days=13),
         "The couple has been at this stage for 13 days; it asks for at least 2 weeks."),
        (good(2), good(4), LATER, "Alex has logged 2 of 3 sessions at this stage."),
        (good(4, anxiety=6), good(4), LATER,
         "Alex's recent mean anxiety is 6; this stage asks for 4 or lower."),
        (good(4), good(4, ready=False), LATER, "Sam has not said they feel ready to move on."),
        (good(4), [rec("touch", STARTED + timedelta(days=1), {"ready_to_move_on": True})] * 4, LATER,
         "Sam has no anxiety ratings at this stage yet."),
        ([*good(3), rec("touch", STARTED + timedelta(days=9), {"anxiety": 1,
         "ready_to_move_on": True}, frozenset({"pain"}))], good(4), LATER,
         "Alex raised a safety flag (pain) in a recent check-in; review it before moving on."),
    ],
)  # fmt: skip
def test_holds_with_a_reason(
    alex: list[CheckinRecord], sam: list[CheckinRecord], now: datetime, reason: str
) -> None:
    result = suggest_advancement(
        PROGRAM, 1, {"Alex": alex, "Sam": sam}, started_at=STARTED, now=now
    )
    assert not result.ready
    assert result.action == "hold"
    assert result.reasons == (reason,)


def test_mean_is_over_the_latest_answers_only() -> None:
    # Early anxious sessions do not hold a couple back once the recent ones are calm.
    early = good(3, anxiety=9)
    late = good(3, anxiety=2, start=STARTED + timedelta(days=5))
    result = suggest_advancement(PROGRAM, 1, {"Alex": early + late}, started_at=STARTED, now=LATER)
    assert result.partners["Alex"].means == {"anxiety": 2.0}
    assert result.ready


def test_private_checkins_count_as_sessions_but_not_in_means() -> None:
    visible = good(1, anxiety=3)
    private = [rec("touch", STARTED + timedelta(days=3 + i)) for i in range(3)]
    result = suggest_advancement(
        PROGRAM, 1, {"Alex": visible + private}, started_at=STARTED, now=LATER
    )
    status = result.partners["Alex"]
    assert status.sessions == 4
    assert status.means == {"anxiety": 3.0}
    assert status.ready_to_move_on is True  # the latest *visible* answer
    assert result.ready


def test_latest_ready_answer_wins() -> None:
    records = good(3, ready=True) + good(1, ready=False, start=STARTED + timedelta(days=5))
    result = suggest_advancement(PROGRAM, 1, {"Alex": records}, started_at=STARTED, now=LATER)
    assert result.partners["Alex"].ready_to_move_on is False
    assert not result.ready


def test_only_this_stage_and_exercise_count() -> None:
    before = good(4, start=STARTED - timedelta(days=10))  # from before the stage began
    other = [rec("talk", STARTED + timedelta(days=1), {"anxiety": 0, "ready_to_move_on": True})] * 4
    result = suggest_advancement(
        PROGRAM, 1, {"Alex": before + other}, started_at=STARTED, now=LATER
    )
    assert result.partners["Alex"].sessions == 0
    assert "Alex has logged 0 of 3 sessions at this stage." in result.reasons


def test_stage_start_is_compared_as_an_instant_not_a_wall_clock() -> None:
    # Started at 01:10 EST (the second 01:10 of 2026-11-01); a check-in at 01:50 EDT
    # came 20 minutes *before* that, though its wall clock reads later.
    started = local("2026-11-01 01:10", fold=1)
    earlier = local("2026-11-01 01:50", fold=0)
    assert earlier > started  # what naive comparison would conclude
    records = [rec("touch", earlier, {"anxiety": 0, "ready_to_move_on": True})]
    result = suggest_advancement(PROGRAM, 1, {"Alex": records}, started_at=started,
                                 now=started + timedelta(weeks=3))  # fmt: skip
    assert result.partners["Alex"].sessions == 0


def test_last_stage_suggests_completing() -> None:
    result = suggest_advancement(PROGRAM, 2, {"Alex": [], "Sam": []}, started_at=STARTED, now=LATER)
    assert result.ready
    assert result.action == "complete"
    assert result.reasons == (
        "This stage asks only for time at it; moving on is the therapist's decision.",
        "This is the last stage: the program can be marked complete.",
    )


def test_without_partners_nothing_is_suggested() -> None:
    result = suggest_advancement(PROGRAM, 2, {}, started_at=STARTED, now=LATER)
    assert result.action == "hold"
    assert result.reasons == ("There are no partners' check-ins to assess.",)


def test_min_mean_criteria() -> None:
    stage = Stage(1, "Talk", "", (StageItem("talk", 1),), min_weeks=0,
                  criteria=Criteria(min_mean={"felt_heard": 6}))  # fmt: skip
    program = Program("p", 1, "P", "", (stage, replace(stage, index=2)))
    heard = [rec("talk", STARTED + timedelta(days=1), {"felt_heard": 7})]
    unheard = [rec("talk", STARTED + timedelta(days=1), {"felt_heard": 3})]
    assert suggest_advancement(program, 1, {"A": heard}, started_at=STARTED, now=LATER).ready
    result = suggest_advancement(program, 1, {"A": unheard}, started_at=STARTED, now=LATER)
    assert result.reasons == ("A's recent mean felt_heard is 3; this stage asks for 6 or higher.",)


def test_catalog_course_suggestion_end_to_end(catalog: Catalog) -> None:
    course = catalog.program("sensate-focus-course")
    answers = {"anxiety": 2, "pain": 0, "refocused": True, "ready_to_move_on": True}
    records = [
        rec("sf-1-nongenital-touch", STARTED + timedelta(days=2 * i + 1), answers) for i in range(4)
    ]
    stage = 1 + next(
        i for i, s in enumerate(course.stages) if "sf-1-nongenital-touch" in s.exercise_slugs
    )
    result = suggest_advancement(
        course, stage, {"A": records, "B": records}, started_at=STARTED, now=LATER
    )
    assert result.action == "advance", result.reasons
    last = len(course.stages)
    slug = course.stages[-1].items[0].exercise
    records = [rec(slug, STARTED + timedelta(days=i + 1), answers) for i in range(5)]
    done = suggest_advancement(course, last, {"A": records, "B": records}, started_at=STARTED,
                               now=STARTED + timedelta(weeks=3))  # fmt: skip
    assert done.action == "complete"
