"""Reminder settings in the API shape: validation and conversion."""

from datetime import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifications.planning import (
    InvalidSettings,
    ReminderSettings,
    default_settings,
    is_valid_timezone,
    settings_from_api,
    settings_to_api,
    validate_settings,
)

VALID: dict[str, Any] = {
    "timezone": "America/New_York",
    "times": ["20:00", "07:30"],
    "days": ["mon", "wed", "sun"],
    "quiet_hours": {"start": "22:30", "end": "07:00"},
    "paused": False,
    "discreet": True,
    "text": None,
}


def test_valid_body_is_parsed() -> None:
    parsed = settings_from_api(VALID)

    assert parsed == ReminderSettings(
        timezone="America/New_York",
        times=(time(7, 30), time(20, 0)),
        days=frozenset({0, 2, 6}),
        quiet_start=time(22, 30),
        quiet_end=time(7, 0),
    )


def test_round_trip() -> None:
    parsed = settings_from_api(VALID)
    rendered = settings_to_api(parsed)

    assert rendered == VALID | {"times": ["07:30", "20:00"]}
    assert settings_from_api(rendered) == parsed


def test_default_settings_in_the_api_shape() -> None:
    assert settings_to_api(default_settings("Europe/London")) == {
        "timezone": "Europe/London",
        "times": ["20:00"],
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "quiet_hours": {"start": "23:00", "end": "07:00"},
        "paused": False,
        "discreet": True,
        "text": None,
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": "localtime"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"timezone": ""}, "timezone"),
        ({"timezone": 5}, "timezone"),
        ({"times": []}, "times"),
        ({"times": "20:00"}, "times"),
        ({"times": ["24:00"]}, "times"),
        ({"times": ["8:00"]}, "times"),
        ({"times": ["20:00:00"]}, "times"),
        ({"times": ["20:60"]}, "times"),
        ({"times": [2000]}, "times"),
        ({"times": ["20:00", "20:00"]}, "times"),
        ({"times": ["08:00", "12:00", "16:00", "20:00"]}, "times"),
        ({"times": ["23:00"]}, "times"),  # inside quiet hours 22:30-07:00
        ({"times": ["06:59"]}, "times"),
        ({"days": []}, "days"),
        ({"days": ["monday"]}, "days"),
        ({"days": ["Mon"]}, "days"),
        ({"days": ["mon", "mon"]}, "days"),
        ({"days": [0]}, "days"),
        ({"quiet_hours": {"start": "22:00"}}, "quiet_hours"),
        ({"quiet_hours": {"start": "22:00", "end": "22:00"}}, "quiet_hours"),
        ({"quiet_hours": "22:00-07:00"}, "quiet_hours"),
        ({"paused": "yes"}, "paused"),
        ({"paused": 1}, "paused"),
        ({"discreet": None}, "discreet"),
        ({"text": 42}, "text"),
        ({"text": "x" * 121}, "text"),
        ({"text": "two\nlines"}, "text"),
        ({"text": "Sensate focus time"}, "text"),
    ],
)
def test_invalid_fields(change: dict[str, Any], field: str) -> None:
    errors = validate_settings(VALID | change)

    assert list(errors) == [field]
    assert all(isinstance(message, str) and message for message in errors[field])
    with pytest.raises(InvalidSettings) as raised:
        settings_from_api(VALID | change)
    assert raised.value.errors == errors


def test_every_problem_is_reported_at_once() -> None:
    errors = validate_settings(
        {"timezone": "Nowhere", "times": ["x"], "days": ["x"], "paused": "x", "text": 1}
    )
    assert set(errors) == {"timezone", "times", "days", "paused", "text"}


def test_not_an_object() -> None:
    assert validate_settings(["timezone"]) == {"_schema": ["Expected a JSON object."]}


def test_own_wording_may_be_anything_when_discreet_is_off() -> None:
    parsed = settings_from_api(VALID | {"discreet": False, "text": "Sensate focus time"})
    assert parsed.text == "Sensate focus time"


def test_turning_discreet_on_checks_the_stored_text() -> None:
    base = settings_from_api(VALID | {"discreet": False, "text": "Sensate focus time"})
    assert list(validate_settings({"discreet": True}, base)) == ["text"]


def test_blank_text_means_the_default_wording() -> None:
    assert settings_from_api(VALID | {"text": "   "}).text is None
    assert settings_from_api(VALID | {"text": " Tea time "}).text == "Tea time"


def test_no_quiet_hours() -> None:
    parsed = settings_from_api(VALID | {"quiet_hours": None, "times": ["03:00"]})
    assert (parsed.quiet_start, parsed.quiet_end) == (None, None)
    assert settings_to_api(parsed)["quiet_hours"] is None


def test_missing_fields_keep_the_base() -> None:
    base = settings_from_api(VALID)
    updated = settings_from_api({"paused": True, "unknown_field": 1}, base)

    assert updated == ReminderSettings(
        timezone=base.timezone,
        times=base.times,
        days=base.days,
        quiet_start=base.quiet_start,
        quiet_end=base.quiet_end,
        paused=True,
    )


def test_missing_fields_without_base_take_the_defaults() -> None:
    assert settings_from_api({"timezone": "Asia/Tokyo"}) == default_settings("Asia/Tokyo")
    assert list(validate_settings({"paused": True})) == ["timezone"]


def test_daily_cap_comes_from_the_base_and_limits_the_times() -> None:
    base = ReminderSettings("UTC", daily_cap=1)

    assert settings_from_api(VALID | {"times": ["20:00"]}, base).daily_cap == 1
    assert list(validate_settings(VALID, base)) == ["times"]  # two times, cap 1


def test_changing_quiet_hours_over_a_chosen_time_blames_quiet_hours() -> None:
    base = settings_from_api(VALID)  # times 07:30 and 20:00
    errors = validate_settings({"quiet_hours": {"start": "19:00", "end": "08:00"}}, base)

    assert list(errors) == ["quiet_hours"]
    assert len(errors["quiet_hours"]) == 2


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("Europe/London", True),
        ("America/Argentina/Buenos_Aires", True),
        ("US/Eastern", True),  # a link, still IANA
        ("UTC", True),
        ("europe/london", False),
        ("Factory", False),
        ("posixrules", False),
        ("localtime", False),
        ("/usr/share/zoneinfo/UTC", False),
        ("GMT+25", False),
    ],
)
def test_is_valid_timezone(name: str, valid: bool) -> None:
    assert is_valid_timezone(name) is valid


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
FIELD_VALUES = st.one_of(
    JSON,
    st.sampled_from(["20:00", "00:00", "mon", "Europe/London", "Factory", "", "🍆"]),
    st.lists(st.sampled_from(["20:00", "07:00", "23:59", "mon", "sun", "25:00"]), max_size=5),
)


@given(
    st.one_of(
        JSON,
        st.dictionaries(st.sampled_from(sorted(VALID)), FIELD_VALUES, max_size=7),
        st.dictionaries(st.sampled_from(sorted(VALID)), FIELD_VALUES, max_size=7).map(
            lambda change: VALID | change
        ),
    )
)
@settings(max_examples=300, deadline=None)
def test_any_json_either_parses_or_reports_errors(data: object) -> None:
    # Never a 500: any JSON body gives settings or field -> messages, nothing else.
    errors = validate_settings(data)
    if errors:
        assert all(isinstance(m, str) and m for messages in errors.values() for m in messages)
    else:
        parsed = settings_from_api(data)
        assert settings_from_api(settings_to_api(parsed)) == parsed
