"""Chart geometry for the portal's server-rendered SVG (no JavaScript, no library).

Pure functions from the weeks of `services.progress.couple_progress` to coordinates; the
templates only draw them. Every chart also comes with its numbers as a table, for
screen readers and for print.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

WIDTH = 560
HEIGHT = 220
LEFT, RIGHT, TOP, BOTTOM = 40, 12, 14, 34
# Colour-blind-safe hues (Okabe-Ito), darkened for contrast on white.
PALETTE = ("#0a5f8a", "#b4470c", "#0d7a5f", "#8a3f78", "#8a6a00", "#4a4a4a")
RATING_MAX = 10
# These come first (and so keep the same colours everywhere); the rest alphabetically.
FIRST_RATINGS = ("anxiety", "pain", "distress")


@dataclass(frozen=True)
class Tick:
    pos: float
    label: str


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    target_y: float | None
    done: int
    target: int
    week: str
    met: bool


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    value: float
    week: str


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    color: str
    points: tuple[Point, ...]
    path: str
    dash: str = ""


@dataclass(frozen=True)
class Chart:
    """One chart: plot area, axes and either bars or line series."""

    width: int = WIDTH
    height: int = HEIGHT
    plot_left: float = LEFT
    plot_right: float = WIDTH - RIGHT
    plot_top: float = TOP
    plot_bottom: float = HEIGHT - BOTTOM
    y_ticks: tuple[Tick, ...] = ()
    x_ticks: tuple[Tick, ...] = ()
    bars: tuple[Bar, ...] = ()
    series: tuple[Series, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    columns: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.bars and not self.series


def week_label(start: date) -> str:
    return f"{start.day} {start:%b}"


def _fmt(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _slots(count: int) -> tuple[float, float]:
    """x of the first slot's centre and the distance between slots."""
    span = (WIDTH - RIGHT) - LEFT
    step = span / max(count, 1)
    return LEFT + step / 2, step


def _x_ticks(labels: list[str]) -> tuple[Tick, ...]:
    first, step = _slots(len(labels))
    every = 1 if len(labels) <= 8 else 2 if len(labels) <= 16 else 4
    return tuple(
        Tick(round(first + i * step, 1), label)
        for i, label in enumerate(labels)
        if i % every == 0 or i == len(labels) - 1
    )


def _y(value: float, top: float) -> float:
    plot = (HEIGHT - BOTTOM) - TOP
    return round((HEIGHT - BOTTOM) - plot * (value / top if top else 0), 1)


def _nice_top(value: int) -> int:
    for top in (4, 6, 8, 10, 12, 16, 20, 24, 30, 40, 50):
        if value <= top:
            return top
    return value


def adherence_chart(weeks: list[dict[str, Any]]) -> Chart:
    """Sessions done per week against the week's target, summed over the exercises."""
    if not weeks:
        return Chart()
    totals = [
        (
            week_label(w["start"]),
            sum(i["done"] for i in w["items"]),
            sum(i["target"] for i in w["items"]),
        )
        for w in weeks
    ]
    top = _nice_top(max(max(d, t) for _, d, t in totals) or 1)
    first, step = _slots(len(totals))
    width = min(step * 0.6, 48)
    bars = []
    for i, (label, done, target) in enumerate(totals):
        y = _y(done, top)
        bars.append(
            Bar(
                x=round(first + i * step - width / 2, 1),
                y=y,
                width=round(width, 1),
                height=round((HEIGHT - BOTTOM) - y, 1),
                target_y=_y(target, top) if target else None,
                done=done,
                target=target,
                week=label,
                met=bool(target) and done >= target,
            )
        )
    ticks = tuple(Tick(_y(v, top), str(v)) for v in range(0, top + 1, max(top // 4, 1)))
    return Chart(
        y_ticks=ticks,
        x_ticks=_x_ticks([label for label, _, _ in totals]),
        bars=tuple(bars),
        columns=("Week of", "Sessions done", "Target"),
        rows=tuple((label, str(done), str(target)) for label, done, target in totals),
    )


def ratings_chart(weeks: list[dict[str, Any]], keys: list[tuple[str, str]]) -> Chart:
    """Weekly means of 0-10 ratings, one line per rating; weeks without one leave a gap."""
    labels = [week_label(w["start"]) for w in weeks]
    first, step = _slots(len(weeks))
    series = []
    for index, (key, name) in enumerate(keys):
        points: list[Point | None] = []
        for i, week in enumerate(weeks):
            value = week["means"].get(key)
            if value is None:
                points.append(None)
                continue
            points.append(
                Point(round(first + i * step, 1), _y(float(value), RATING_MAX), value, labels[i])
            )
        present = tuple(p for p in points if p is not None)
        if not present:
            continue
        path, pen_down = [], False
        for point in points:
            if point is None:
                pen_down = False
                continue
            path.append(f"{'L' if pen_down else 'M'}{point.x} {point.y}")
            pen_down = True
        # Past the palette, colours repeat with a dashed line.
        dash = "" if index < len(PALETTE) else "6 4"
        color = PALETTE[index % len(PALETTE)]
        series.append(Series(key, name, color, present, " ".join(path), dash))
    if not series:
        return Chart()
    rows = tuple(
        (
            labels[i],
            *(
                _fmt(float(weeks[i]["means"][s.key])) if s.key in weeks[i]["means"] else "-"
                for s in series
            ),
        )
        for i in range(len(weeks))
    )
    return Chart(
        y_ticks=tuple(Tick(_y(v, RATING_MAX), str(v)) for v in range(0, RATING_MAX + 1, 2)),
        x_ticks=_x_ticks(labels),
        series=tuple(series),
        columns=("Week of", *(s.label for s in series)),
        rows=rows,
    )


def rating_keys(
    exercises: dict[str, Any], weeks: list[dict[str, Any]] | None = None
) -> list[tuple[str, str]]:
    """The 0-10 rating questions of an assignment's exercises, as (key, short name), in a
    stable order (durations and other scales are left out); with `weeks`, only those
    rated in some week, so each keeps one colour on every chart."""
    keys: dict[str, str] = {}
    for data in exercises.values():
        for question in data.get("form", []):
            if question["type"] != "scale" or question["key"] in keys:
                continue
            if question.get("min") == 0 and question.get("max") == RATING_MAX:
                keys[question["key"]] = question["key"].replace("_", " ").capitalize()
    if weeks is not None:
        rated = {key for week in weeks for key in week["means"]}
        keys = {key: name for key, name in keys.items() if key in rated}

    def order(key: str) -> tuple[int, str]:
        return (FIRST_RATINGS.index(key) if key in FIRST_RATINGS else len(FIRST_RATINGS), key)

    return [(key, keys[key]) for key in sorted(keys, key=order)]


def worsened(first: float, last: float, direction: str, reliable_change: float) -> bool:
    """Whether `last` is worse than `first` by at least the reliable change, on a scale
    where `direction` says which way is better."""
    change = last - first
    worse = change if direction == "higher_is_worse" else -change
    return worse >= reliable_change


# --- which way is better ------------------------------------------------------------

# 0-10 ratings where a lower number is better (the rest of the catalog's ratings, such
# as feeling appreciated or heard, are better higher). A rating that raises a safety
# flag when high is lower-is-better too.
LOWER_IS_BETTER = frozenset({"anxiety", "pain", "distress", "ongoing_pain"})


def rating_key_groups(
    exercises: dict[str, Any], keys: list[tuple[str, str]]
) -> list[tuple[str, list[tuple[str, str]]]]:
    """`keys` split by direction, so that one axis never mixes a scale where low is good
    with one where high is good: [("lower", ...), ("higher", ...)], empty groups left
    out."""
    flagged = {
        question["key"]
        for data in exercises.values()
        for question in data.get("form", [])
        if question.get("flag")
    }
    lower = [(k, n) for k, n in keys if k in LOWER_IS_BETTER or k in flagged]
    higher = [(k, n) for k, n in keys if (k, n) not in lower]
    return [(name, group) for name, group in (("lower", lower), ("higher", higher)) if group]


# --- questionnaires -----------------------------------------------------------------

MEASURE_HEIGHT = 200
# Band shades from best to worst (light, so the lines stay readable on them).
BAND_SHADES = ("#e8f3ec", "#f3f1e0", "#f8ead9", "#f6e0dc", "#efd5dc")
PARTNER_DASH = ("", "6 4")


def _measure_y(value: float, low: float, high: float) -> float:
    plot = (MEASURE_HEIGHT - BOTTOM) - TOP
    share = (value - low) / (high - low) if high > low else 0
    return round((MEASURE_HEIGHT - BOTTOM) - plot * share, 1)


def _time_axis(start: Any, span: float) -> Any:
    """x of an instant between the first and the latest answer (the middle when one)."""
    left, right = LEFT + 10, WIDTH - RIGHT - 10

    def x_of(instant: Any) -> float:
        if not span:
            return round((left + right) / 2, 1)
        share = (instant - start).total_seconds() / span
        return round(left + (right - left) * share, 1)

    return x_of


def _day(instant: Any) -> str:
    return f"{instant.day} {instant:%b}"


def measure_charts(series: list[dict[str, Any]], names: dict[str, str]) -> list[dict[str, Any]]:
    """One chart per questionnaire with both partners' scores over time on its own
    scale, its bands shaded; per partner the latest score, the change since the first
    (and whether it is a reliable worsening), and whether the questionnaire is overdue.

    `series` is `services.measures.couple_measure_series`; `names` maps partner ids to
    names. Each measure has its own axis, so scales where low is good and scales where
    high is good never share one.
    """
    by_measure: dict[str, list[dict[str, Any]]] = {}
    for entry in series:
        by_measure.setdefault(entry["measure"], []).append(entry)
    out = []
    for slug, entries in by_measure.items():
        meta = entries[0]
        low, high = float(meta["min"]), float(meta["max"])
        higher_worse = meta["direction"] == "higher_is_worse"
        times = [r["completed_at"] for e in entries for r in e["responses"]]
        start, end = (min(times), max(times)) if times else (None, None)
        span = (end - start).total_seconds() if start and end else 0.0
        x_of = _time_axis(start, span)

        bands = []
        ordered = sorted(meta["bands"], key=lambda b: b["min"], reverse=not higher_worse)
        for rank, band in enumerate(ordered):
            top = _measure_y(min(high, band["max"] + 0.5), low, high)
            bottom = _measure_y(max(low, band["min"] - 0.5), low, high)
            bands.append(
                {
                    "y": top,
                    "height": round(bottom - top, 1),
                    "label": band["label"],
                    "range": f"{band['min']} to {band['max']}",
                    "shade": BAND_SHADES[min(rank, len(BAND_SHADES) - 1)],
                    "label_y": round(top + 11, 1),
                    "tall": bottom - top >= 13,
                }
            )
        lines: list[Series] = []
        partners = []
        rows: list[tuple[str, ...]] = []
        for index, entry in enumerate(entries):
            name = names.get(entry["partner_id"], "A former partner")
            color = PALETTE[index % len(PALETTE)]
            responses = entry["responses"]
            points = tuple(
                Point(
                    x_of(r["completed_at"]),
                    _measure_y(float(r["score"]), low, high),
                    r["score"],
                    _day(r["completed_at"]),
                )
                for r in responses
            )
            if points:
                path = " ".join(f"{'L' if i else 'M'}{p.x} {p.y}" for i, p in enumerate(points))
                dash = PARTNER_DASH[index % len(PARTNER_DASH)]
                lines.append(Series(entry["partner_id"], name, color, points, path, dash))
            first = responses[0]["score"] if responses else None
            latest = responses[-1] if responses else None
            change = latest["score"] - first if latest is not None and first is not None else None
            reliable = entry.get("reliable_change")
            partners.append(
                {
                    "name": name,
                    "color": color,
                    "latest": latest,
                    "change": change,
                    "answers": len(responses),
                    "worse": bool(
                        change
                        and reliable
                        and worsened(first, latest["score"], meta["direction"], reliable)
                    ),
                    "due_since": entry.get("due_since"),
                    "overdue": bool(entry.get("overdue")),
                }
            )
            rows.extend(
                (_day(r["completed_at"]), name, str(r["score"]), r.get("band") or "")
                for r in responses
            )
        step = max(1, round((high - low) / 4))
        ticks = tuple(
            Tick(_measure_y(v, low, high), str(v)) for v in range(int(low), int(high) + 1, step)
        )
        x_ticks: tuple[Tick, ...] = ()
        if start and end:
            x_ticks = (Tick(x_of(start), _day(start)),)
            if span:
                x_ticks += (Tick(x_of(end), _day(end)),)
        chart = Chart(
            height=MEASURE_HEIGHT,
            plot_bottom=MEASURE_HEIGHT - BOTTOM,
            y_ticks=ticks,
            x_ticks=x_ticks,
            series=tuple(lines),
            columns=("Date", "Partner", "Score", "Band"),
            rows=tuple(rows),
            extra={"bands": bands},
        )
        out.append(
            {
                "slug": slug,
                "title": meta["title"],
                "min": meta["min"],
                "max": meta["max"],
                "direction": "Lower is better" if higher_worse else "Higher is better",
                "reliable_change": meta.get("reliable_change"),
                "chart": chart,
                "partners": partners,
            }
        )
    return out
