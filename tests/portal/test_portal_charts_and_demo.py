"""Chart geometry (pure) and the demo data the portal is shown with."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Flask
from sqlalchemy import func, select

from server.extensions import db
from server.models import Alert, Assignment, CheckIn
from server.portal import charts
from server.seeding import seed_all


def week(start: date, done: int, target: int, **means: float) -> dict[str, object]:
    return {
        "start": start,
        "items": [{"exercise": "sf", "done": done, "target": target}],
        "means": means,
    }


MONDAY = date(2026, 3, 2)


def test_adherence_bars_scale_to_the_larger_of_done_and_target() -> None:
    chart = charts.adherence_chart(
        [week(MONDAY, 3, 3), week(MONDAY + timedelta(days=7), 5, 3), week(MONDAY, 0, 0)]
    )
    full, over, empty = chart.bars
    assert full.met and over.met and not empty.met
    assert over.height > full.height > empty.height == 0
    assert full.target_y == over.target_y and empty.target_y is None
    assert chart.plot_top <= over.y and full.y + full.height == chart.plot_bottom
    assert chart.rows[0] == ("2 Mar", "3", "3")
    assert chart.y_ticks[0].label == "0"


def test_ratings_leave_gaps_for_weeks_without_a_rating() -> None:
    weeks = [
        week(MONDAY, 1, 3, anxiety=6.0, pain=1.0),
        week(MONDAY + timedelta(days=7), 0, 3),
        week(MONDAY + timedelta(days=14), 2, 3, anxiety=2.0),
    ]
    chart = charts.ratings_chart(weeks, [("anxiety", "Anxiety"), ("pain", "Pain"), ("x", "X")])
    anxiety, pain = chart.series
    assert anxiety.path.count("M") == 2 and "L" not in anxiety.path
    assert anxiety.points[0].y < anxiety.points[1].y  # 6 is drawn higher than 2
    assert len(pain.points) == 1
    assert chart.columns == ("Week of", "Anxiety", "Pain")
    assert chart.rows[1] == ("9 Mar", "-", "-")
    assert charts.ratings_chart(weeks, [("x", "X")]).empty
    assert charts.adherence_chart([]).empty


def test_rating_keys_are_the_zero_to_ten_scales() -> None:
    exercises = {
        "a": {
            "form": [
                {"key": "duration_minutes", "type": "scale", "min": 1, "max": 180},
                {"key": "anxiety", "type": "scale", "min": 0, "max": 10},
                {"key": "ready", "type": "boolean"},
            ]
        },
        "b": {"form": [{"key": "felt_heard", "type": "scale", "min": 0, "max": 10}]},
    }
    assert charts.rating_keys(exercises) == [("anxiety", "Anxiety"), ("felt_heard", "Felt heard")]
    exercises["b"]["form"].append({"key": "pain", "type": "scale", "min": 0, "max": 10})
    assert [k for k, _ in charts.rating_keys(exercises)] == ["anxiety", "pain", "felt_heard"]


def test_demo_seed_gives_weeks_of_data_once(app_ctx: Flask) -> None:
    list(seed_all(demo=True))
    db.session.commit()
    counts = (
        db.session.scalar(select(func.count()).select_from(Assignment)),
        db.session.scalar(select(func.count()).select_from(CheckIn)),
        db.session.scalar(select(func.count()).select_from(Alert)),
    )
    list(seed_all(demo=True))
    db.session.commit()
    again = (
        db.session.scalar(select(func.count()).select_from(Assignment)),
        db.session.scalar(select(func.count()).select_from(CheckIn)),
        db.session.scalar(select(func.count()).select_from(Alert)),
    )
    assert counts == again
    assignments, checkins, alerts = counts
    assert assignments == 1 and checkins >= 30 and alerts == 1
    rows = db.session.scalars(select(CheckIn)).all()
    assert {c.visibility for c in rows} == {"private", "therapist"}
    days = {c.occurred_at.date() for c in rows}
    assert max(days) - min(days) >= timedelta(days=21)


def test_rating_keys_can_keep_only_the_rated_ones_so_colours_stay_distinct() -> None:
    form = [{"key": f"k{i}", "type": "scale", "min": 0, "max": 10} for i in range(9)]
    rated = [week(MONDAY, 1, 1, k1=1.0, k8=2.0)]
    keys = charts.rating_keys({"a": {"form": form}}, rated)
    assert keys == [("k1", "K1"), ("k8", "K8")]
    first, second = charts.ratings_chart(rated, keys).series
    assert first.color != second.color and not first.dash and not second.dash
    many = charts.ratings_chart(
        [week(MONDAY, 1, 1, **{f"k{i}": 1.0 for i in range(9)})],
        charts.rating_keys({"a": {"form": form}}),
    )
    assert many.series[6].color == many.series[0].color and many.series[6].dash
