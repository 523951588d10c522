"""The shipped questionnaires are the published instruments: items, options, values,
ranges and bands; scoring; and when each partner is asked (local calendar, DST)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from exercises.catalog import check_catalog, default_catalog_path
from exercises.measures import (
    answer_errors,
    current_occasion,
    due_since,
    is_overdue,
    load_measures,
    read_measure,
    score_answers,
)
from exercises.schema import CatalogError

MEASURES = load_measures(default_catalog_path())
FREQUENCY = [
    (0, "Not at all"),
    (1, "Several days"),
    (2, "More than half the days"),
    (3, "Nearly every day"),
]
PHQ9_ITEMS = [
    "Little interest or pleasure in doing things",
    "Feeling down, depressed, or hopeless",
    "Trouble falling or staying asleep, or sleeping too much",
    "Feeling tired or having little energy",
    "Poor appetite or overeating",
    "Feeling bad about yourself — or that you are a failure or have let yourself or your "
    "family down",
    "Trouble concentrating on things, such as reading the newspaper or watching television",
    "Moving or speaking so slowly that other people could have noticed? Or the opposite — "
    "being so fidgety or restless that you have been moving around a lot more than usual",
    "Thoughts that you would be better off dead or of hurting yourself in some way",
]
GAD7_ITEMS = [
    "Feeling nervous, anxious, or on edge",
    "Not being able to stop or control worrying",
    "Worrying too much about different things",
    "Trouble relaxing",
    "Being so restless that it is hard to sit still",
    "Becoming easily annoyed or irritable",
    "Feeling afraid, as if something awful might happen",
]
CSI4_ITEMS = [
    (
        "Please indicate the degree of happiness, all things considered, of your relationship.",
        [
            "Extremely Unhappy",
            "Fairly Unhappy",
            "A Little Unhappy",
            "Happy",
            "Very Happy",
            "Extremely Happy",
            "Perfect",
        ],
    ),
    (
        "I have a warm and comfortable relationship with my partner.",
        [
            "Not at all TRUE",
            "A little TRUE",
            "Somewhat TRUE",
            "Mostly TRUE",
            "Almost Completely TRUE",
            "Completely TRUE",
        ],
    ),
    (
        "How rewarding is your relationship with your partner?",
        ["Not at all", "A little", "Somewhat", "Mostly", "Almost Completely", "Completely"],
    ),
    (
        "In general, how satisfied are you with your relationship?",
        ["Not at all", "A little", "Somewhat", "Mostly", "Almost Completely", "Completely"],
    ),
]


def _scored(slug: str):  # type: ignore[no-untyped-def]
    return [i for i in MEASURES[slug].items if i.scored]


def test_the_three_measures_ship_and_no_licensed_one() -> None:
    assert set(MEASURES) == {"csi-4", "phq-9", "gad-7"}
    files = {p.stem for p in (default_catalog_path() / "measures").glob("*.yaml")}
    assert not files & {"fsfi", "iief", "iief-5", "fsfi-6"}


def test_phq9_is_the_published_instrument() -> None:
    m = MEASURES["phq-9"]
    assert m.instructions == (
        "Over the last 2 weeks, how often have you been bothered by any of the following problems?"
    )
    assert m.recall == "the last 2 weeks"
    assert [i.text for i in _scored("phq-9")] == PHQ9_ITEMS
    for item in _scored("phq-9"):
        assert [(o.value, o.label) for o in item.options] == FREQUENCY
    assert (m.min, m.max) == (0, 27)
    assert [(b.min, b.max) for b in m.bands] == [(0, 4), (5, 9), (10, 14), (15, 19), (20, 27)]
    assert [b.label for b in m.bands] == [
        "minimal",
        "mild",
        "moderate",
        "moderately severe",
        "severe",
    ]
    assert m.risk_keys == ("q9",)
    assert m.direction == "higher_is_worse"
    assert m.reliable_change is not None and m.reliable_change.points == 5
    difficulty = m.items[-1]
    assert not difficulty.scored and not difficulty.required
    assert "No permission required to reproduce, translate, display or distribute" in " ".join(
        m.licence["statement"].split()
    )


def test_gad7_is_the_published_instrument() -> None:
    m = MEASURES["gad-7"]
    assert m.instructions.startswith("Over the last 2 weeks, how often have you been bothered")
    assert [i.text for i in _scored("gad-7")] == GAD7_ITEMS
    for item in _scored("gad-7"):
        assert [(o.value, o.label) for o in item.options] == FREQUENCY
    assert (m.min, m.max) == (0, 21)
    assert [b.min for b in m.bands] == [0, 5, 10, 15]
    assert m.risk_keys == ()
    assert m.direction == "higher_is_worse"
    assert m.reliable_change is not None and m.reliable_change.points == 4


def test_csi4_is_the_published_instrument_with_its_uneven_options() -> None:
    m = MEASURES["csi-4"]
    assert [(i.text, [o.label for o in i.options]) for i in m.items] == CSI4_ITEMS
    # the first item runs 0-6, the others 0-5: 6 + 5 + 5 + 5 = 21
    assert [i.values for i in m.items] == [tuple(range(7))] + [tuple(range(6))] * 3
    assert (m.min, m.max) == (0, 21)
    assert m.direction == "higher_is_better"
    assert m.cutoff == {"value": 13.5, "below": "relationship distress"}
    assert [(b.min, b.max) for b in m.bands] == [(0, 13), (14, 21)]
    assert m.band_of(13) == "relationship distress" and m.band_of(14) == "no distress"
    assert m.licence["checked"] is False  # marked for a licence check


@pytest.mark.parametrize("slug", sorted(MEASURES))
def test_bands_cover_the_whole_range_without_gaps(slug: str) -> None:
    m = MEASURES[slug]
    assert m.bands[0].min == m.min and m.bands[-1].max == m.max
    for before, after in zip(m.bands, m.bands[1:], strict=False):
        assert after.min == before.max + 1
    for score in range(m.min, m.max + 1):
        m.band_of(score)
    with pytest.raises(ValueError, match="outside"):
        m.band_of(m.max + 1)
    assert m.sources and m.licence["statement"]


def test_scoring_sums_the_scored_items_only() -> None:
    m = MEASURES["phq-9"]
    answers = {f"q{n}": 3 for n in range(1, 10)} | {"difficulty": 3}
    assert score_answers(m, answers).score == 27
    assert score_answers(m, answers).band == "severe"
    calm = {f"q{n}": 0 for n in range(1, 10)}
    assert score_answers(m, calm).score == 0 and score_answers(m, calm).flags == ()
    assert score_answers(m, {**calm, "q9": 1}).flags == ("risk",)
    csi = MEASURES["csi-4"]
    assert score_answers(csi, {"q1": 6, "q2": 5, "q3": 5, "q4": 5}).score == 21
    assert score_answers(csi, {"q1": 3, "q2": 3, "q3": 4, "q4": 4}).band == "no distress"
    assert score_answers(csi, {"q1": 3, "q2": 3, "q3": 4, "q4": 3}).band == (
        "relationship distress"
    )


def test_each_bad_answer_is_named() -> None:
    m = MEASURES["csi-4"]
    errors = answer_errors(m, {"q1": 7, "q2": "3", "q3": True, "q5": 1})
    assert set(errors) == {"answers.q1", "answers.q2", "answers.q3", "answers.q4", "answers.q5"}
    assert answer_errors(m, {"q1": 6, "q2": 0, "q3": 0, "q4": 0}) == {}
    assert answer_errors(m, []) == {"answers": ["Must be an object of item keys to option values."]}
    # PHQ-9's difficulty question may be left out
    assert answer_errors(MEASURES["phq-9"], {f"q{n}": 0 for n in range(1, 10)}) == {}


def _raw(slug: str) -> dict:  # type: ignore[type-arg]
    path = default_catalog_path() / "measures" / f"{slug}.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["scoring"]["bands"].pop(1), "scoring.bands"),  # a gap
        (lambda d: d["scoring"].update(max=30), "scoring"),  # a wrong range
        (lambda d: d["items"][0]["options"].reverse(), "items[0].options"),
        (lambda d: d.update(direction="up"), "direction"),
        (lambda d: d["licence"].update(shippable=False), "licence"),
        (lambda d: d["items"][8].update(risk_at=9), "items[8].risk_at"),
    ],
)
def test_content_is_validated_on_load(change, expected: str) -> None:  # type: ignore[no-untyped-def]
    data = copy.deepcopy(_raw("phq-9"))
    change(data)
    with pytest.raises(CatalogError) as caught:
        read_measure(data, "phq-9.yaml")
    assert expected in {p.field for p in caught.value.problems}


def test_catalog_check_validates_measures_too(tmp_path: Path) -> None:
    for folder in ("exercises", "programs"):
        (tmp_path / folder).symlink_to(default_catalog_path() / folder)
    (tmp_path / "measures").mkdir()
    bad = _raw("gad-7")
    bad["scoring"]["bands"][0]["max"] = 3
    (tmp_path / "measures" / "gad-7.yaml").write_text(yaml.safe_dump(bad), encoding="utf-8")
    problems = check_catalog(tmp_path)
    assert any("gad-7" in str(p) and "scoring.bands" in str(p) for p in problems)
    assert check_catalog(default_catalog_path()) == []


# --- when a partner is asked ----------------------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")


def test_asked_at_once_then_at_local_midnight_each_period_across_dst() -> None:
    # Started on Monday 2026-03-23 at 10:00 in Berlin (CET, +01:00); clocks go forward on
    # Sunday 2026-03-29, so the next local midnight is at 22:00Z, not 23:00Z.
    started = datetime(2026, 3, 23, 9, 0, tzinfo=UTC)
    occasion = current_occasion(started_at=started, every_weeks=1, tz=BERLIN, now=started)
    assert occasion == started
    before = datetime(2026, 3, 29, 21, 59, tzinfo=UTC)
    after = datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    assert current_occasion(started_at=started, every_weeks=1, tz=BERLIN, now=before) == started
    assert current_occasion(started_at=started, every_weeks=1, tz=BERLIN, now=after) == after
    # and back again in October: the local midnight is 23:00Z after the change
    started = datetime(2026, 10, 19, 8, 0, tzinfo=UTC)
    now = datetime(2026, 11, 16, 23, 30, tzinfo=UTC)  # 00:30 on the 17th in Berlin
    assert current_occasion(started_at=started, every_weeks=4, tz=BERLIN, now=now) == datetime(
        2026, 11, 15, 23, 0, tzinfo=UTC
    )


def test_each_partner_is_asked_on_their_own_calendar() -> None:
    started = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    now = datetime(2026, 1, 12, 4, 0, tzinfo=UTC)  # Monday: 05:00 in Berlin, Sunday in LA
    la = ZoneInfo("America/Los_Angeles")
    assert current_occasion(started_at=started, every_weeks=1, tz=BERLIN, now=now) == datetime(
        2026, 1, 11, 23, 0, tzinfo=UTC
    )
    assert current_occasion(started_at=started, every_weeks=1, tz=la, now=now) == started


@pytest.mark.parametrize("every", [1, 2, 4])
def test_one_answer_per_period(every: int) -> None:
    started = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    answered = [started + timedelta(hours=1)]
    within = started + timedelta(days=7 * every - 1)
    next_period = started + timedelta(days=7 * every, hours=12)
    kwargs = {"started_at": started, "every_weeks": every, "tz": BERLIN}
    assert due_since(**kwargs, now=started, answered=[]) == started
    assert due_since(**kwargs, now=within, answered=answered) is None
    since = due_since(**kwargs, now=next_period, answered=answered)
    assert since is not None and since > started
    assert not is_overdue(since, since + timedelta(days=2))
    assert is_overdue(since, since + timedelta(days=3))
    assert due_since(**kwargs, now=started - timedelta(seconds=1), answered=[]) is None
