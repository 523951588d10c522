"""Validated questionnaires ("measures"): loading them from `seed_data/measures/`,
scoring answers, and when each partner is asked. Pure: no Flask, no database, no clock.

A measure file holds one questionnaire as published: its items with their exact
wording, each item's response options with the values the published scoring gives them,
the recall period, how the total is scored (a sum of the scored items), the bands that
cover the whole range, which direction is better, a reliable-change threshold where one
is published, sources and a licence note. Everything is validated on load and every
problem is reported at once, like exercises:

    seed_data/measures/phq-9.yaml: phq-9: scoring.bands: 5..9 leaves a gap after 3

Schedules: each partner is asked on their own local calendar. A schedule that started
at instant `started_at`, every `every_weeks` weeks, asks a partner at `started_at`
itself, then at local midnight of every `7 * every_weeks`-th local day after the local
date it started on (in the partner's own time zone, so a DST change moves the UTC
instant, never the local day).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from exercises.schema import CatalogError, Problem

__all__ = [
    "DIRECTIONS",
    "EVERY_WEEKS",
    "OVERDUE_AFTER",
    "Band",
    "Measure",
    "MeasureItem",
    "Option",
    "ReliableChange",
    "ScoredResponse",
    "current_occasion",
    "load_measures",
    "score_answers",
]

DIRECTIONS: tuple[str, ...] = ("higher_is_better", "higher_is_worse")
EVERY_WEEKS: tuple[int, ...] = (1, 2, 4)
# A due questionnaire left unanswered this long is "overdue" (shown to the therapist).
OVERDUE_AFTER = timedelta(days=3)
SLUG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")

JSONDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Option:
    """One response option and the value the published scoring gives it."""

    value: int
    label: str

    def to_dict(self) -> JSONDict:
        return {"value": self.value, "label": self.label}


@dataclass(frozen=True, slots=True)
class MeasureItem:
    """One item: its key, exact published wording, options; `scored: false` for items
    the published instrument asks but does not add to the total (PHQ-9's difficulty
    question). A `risk_at` item raises the `risk` flag when its answer is >= it."""

    key: str
    text: str
    options: tuple[Option, ...]
    scored: bool = True
    required: bool = True
    risk_at: int | None = None

    @property
    def values(self) -> tuple[int, ...]:
        return tuple(o.value for o in self.options)

    def to_dict(self) -> JSONDict:
        return {
            "key": self.key,
            "label": self.text,
            "type": "options",
            "required": self.required,
            "scored": self.scored,
            "options": [o.to_dict() for o in self.options],
        }


@dataclass(frozen=True, slots=True)
class Band:
    """A score range (inclusive) and what it is called."""

    min: int
    max: int
    label: str

    def to_dict(self) -> JSONDict:
        return {"min": self.min, "max": self.max, "label": self.label}


@dataclass(frozen=True, slots=True)
class ReliableChange:
    """The change in total that counts as real, with where the figure comes from and
    whether it has been checked against the source."""

    points: int
    source: str
    checked: bool

    def to_dict(self) -> JSONDict:
        return {"points": self.points, "source": self.source, "checked": self.checked}


@dataclass(frozen=True, slots=True)
class Measure:
    """A validated questionnaire as published."""

    slug: str
    version: int
    title: str
    name: str
    instructions: str
    recall: str | None
    direction: str
    items: tuple[MeasureItem, ...]
    min: int
    max: int
    bands: tuple[Band, ...]
    cutoff: JSONDict | None
    reliable_change: ReliableChange | None
    licence: JSONDict
    sources: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def risk_keys(self) -> tuple[str, ...]:
        return tuple(i.key for i in self.items if i.risk_at is not None)

    def band_of(self, score: int) -> str:
        for band in self.bands:
            if band.min <= score <= band.max:
                return band.label
        raise ValueError(f"{score} is outside {self.min}..{self.max}")

    def to_dict(self) -> JSONDict:
        """The API's shape (API.md, Measures): `form` lists the items."""
        return {
            "slug": self.slug,
            "version": self.version,
            "title": self.title,
            "name": self.name,
            "instructions": self.instructions,
            "recall": self.recall,
            "direction": self.direction,
            "form": [i.to_dict() for i in self.items],
            "scoring": {
                "method": "sum",
                "min": self.min,
                "max": self.max,
                "bands": [b.to_dict() for b in self.bands],
                "cutoff": self.cutoff,
                "reliable_change": (
                    self.reliable_change.to_dict() if self.reliable_change else None
                ),
            },
            "licence": self.licence,
            "sources": list(self.sources),
        }


# --- loading and validating -----------------------------------------------------------


class _Issues:
    def __init__(self, where: str) -> None:
        self.where = where
        self.problems: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(file=self.where, item="", field=path, message=message))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(data: Mapping[str, Any], key: str, issues: _Issues, path: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        issues.add(f"{path}{key}", "must be non-empty text")
        return ""
    return value.strip()


def _read_options(raw: object, issues: _Issues, path: str) -> tuple[Option, ...]:
    if not isinstance(raw, list) or len(raw) < 2:
        issues.add(path, "must list at least two options")
        return ()
    options: list[Option] = []
    for i, entry in enumerate(raw):
        where = f"{path}[{i}]"
        if not isinstance(entry, dict) or not _is_int(entry.get("value")):
            issues.add(where, "must be {value: whole number, label: text}")
            continue
        label = _text(entry, "label", issues, where + ".")
        options.append(Option(value=entry["value"], label=label))
    values = [o.value for o in options]
    if len(set(values)) != len(values):
        issues.add(path, "option values must be distinct")
    if values != sorted(values):
        issues.add(path, "option values must be in increasing order")
    return tuple(options)


def _read_item(raw: object, issues: _Issues, path: str) -> MeasureItem | None:
    if not isinstance(raw, dict):
        issues.add(path, "must be a mapping")
        return None
    key = _text(raw, "key", issues, path + ".")
    text = _text(raw, "text", issues, path + ".")
    options = _read_options(raw.get("options"), issues, path + ".options")
    scored = raw.get("scored", True)
    required = raw.get("required", True)
    risk_at = raw.get("risk_at")
    if not isinstance(scored, bool):
        issues.add(path + ".scored", "must be true or false")
    if not isinstance(required, bool):
        issues.add(path + ".required", "must be true or false")
    if risk_at is not None and (not _is_int(risk_at) or risk_at not in [o.value for o in options]):
        issues.add(path + ".risk_at", "must be one of the item's option values")
    unknown = set(raw) - {"key", "text", "options", "scored", "required", "risk_at"}
    if unknown:
        issues.add(path, f"unknown fields: {', '.join(sorted(unknown))}")
    return MeasureItem(
        key=key,
        text=text,
        options=options,
        scored=bool(scored),
        required=bool(required),
        risk_at=risk_at if _is_int(risk_at) else None,
    )


def _read_bands(raw: object, lo: int, hi: int, issues: _Issues) -> tuple[Band, ...]:
    if not isinstance(raw, list) or not raw:
        issues.add("scoring.bands", "must list the bands")
        return ()
    bands: list[Band] = []
    for i, entry in enumerate(raw):
        where = f"scoring.bands[{i}]"
        if not isinstance(entry, dict) or not all(_is_int(entry.get(k)) for k in ("min", "max")):
            issues.add(where, "must be {min, max, label}")
            continue
        bands.append(Band(entry["min"], entry["max"], _text(entry, "label", issues, where + ".")))
    expected = lo
    for band in bands:
        if band.min > band.max:
            issues.add("scoring.bands", f"{band.min}..{band.max} is empty")
        if band.min != expected:
            issues.add(
                "scoring.bands",
                f"{band.min}..{band.max} does not start at {expected} (gap or overlap)",
            )
        expected = band.max + 1
    if bands and bands[-1].max != hi:
        issues.add("scoring.bands", f"the last band must end at the maximum {hi}")
    return tuple(bands)


def read_measure(data: object, where: str) -> Measure:
    """A measure from its YAML mapping; `CatalogError` listing every problem."""
    issues = _Issues(where)
    if not isinstance(data, dict):
        raise CatalogError([Problem(file=where, item="", field="", message="must be a mapping")])
    slug = _text(data, "slug", issues, "")
    if slug and not set(slug) <= SLUG_CHARS:
        issues.add("slug", "use lower-case letters, digits and '-'")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        issues.add("version", "must be a whole number >= 1")
    direction = data.get("direction")
    if direction not in DIRECTIONS:
        issues.add("direction", f"must be one of {', '.join(DIRECTIONS)}")
    raw_items = data.get("items")
    items: list[MeasureItem] = []
    if not isinstance(raw_items, list) or not raw_items:
        issues.add("items", "must list the items")
    else:
        for i, raw in enumerate(raw_items):
            item = _read_item(raw, issues, f"items[{i}]")
            if item is not None:
                items.append(item)
    keys = [i.key for i in items]
    if len(set(keys)) != len(keys):
        issues.add("items", "item keys must be distinct")
    scoring = data.get("scoring")
    if not isinstance(scoring, dict):
        issues.add("scoring", "must be a mapping")
        scoring = {}
    if scoring.get("method") != "sum":
        issues.add("scoring.method", "only 'sum' is supported")
    scored = [i for i in items if i.scored]
    lo = sum(min(i.values) for i in scored if i.values)
    hi = sum(max(i.values) for i in scored if i.values)
    if scoring.get("min") != lo or scoring.get("max") != hi:
        issues.add(
            "scoring",
            f"min/max must be what the scored items add up to: {lo}..{hi}",
        )
    bands = _read_bands(scoring.get("bands"), lo, hi, issues)
    reliable = scoring.get("reliable_change")
    reliable_change = None
    if reliable is not None:
        if not isinstance(reliable, dict) or not _is_int(reliable.get("points")):
            issues.add("scoring.reliable_change", "must be {points, source, checked}")
        else:
            reliable_change = ReliableChange(
                points=reliable["points"],
                source=_text(reliable, "source", issues, "scoring.reliable_change."),
                checked=reliable.get("checked") is True,
            )
    cutoff = scoring.get("cutoff")
    if cutoff is not None and not isinstance(cutoff, dict):
        issues.add("scoring.cutoff", "must be a mapping")
    licence = data.get("licence")
    if not isinstance(licence, dict) or not isinstance(licence.get("statement"), str):
        issues.add("licence", "must give at least a statement")
        licence = {}
    if licence.get("shippable") is not True:
        issues.add("licence", "only instruments that may be reproduced are shipped")
    sources = data.get("sources")
    if not isinstance(sources, list) or not sources or not all(isinstance(s, str) for s in sources):
        issues.add("sources", "must list at least one source")
        sources = []
    recall = data.get("recall")
    if recall is not None and not isinstance(recall, str):
        issues.add("recall", "must be text or null")
    notes = data.get("notes") or []
    if issues.problems:
        raise CatalogError(issues.problems)
    assert isinstance(version, int) and isinstance(direction, str)
    return Measure(
        slug=slug,
        version=version,
        title=_text(data, "title", issues, ""),
        name=_text(data, "name", issues, ""),
        instructions=_text(data, "instructions", issues, ""),
        recall=recall,
        direction=direction,
        items=tuple(items),
        min=lo,
        max=hi,
        bands=bands,
        cutoff=cutoff,
        reliable_change=reliable_change,
        licence=dict(licence),
        sources=tuple(sources),
        notes=tuple(str(n) for n in notes),
    )


def load_measures(root: Path) -> dict[str, Measure]:
    """Every measure in `<root>/measures/*.yaml`, by slug, validated; `CatalogError`
    listing every problem of every file."""
    from exercises.catalog import _UniqueKeyLoader  # the same strict YAML as exercises

    measures: dict[str, Measure] = {}
    problems: list[Problem] = []
    folder = root / "measures"
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        where = f"{root.name}/measures/{path.name}"
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506
            measure = read_measure(data, where)
        except CatalogError as exc:
            problems.extend(exc.problems)
            continue
        except yaml.YAMLError as exc:
            problems.append(Problem(file=where, item="", field="", message=f"invalid YAML: {exc}"))
            continue
        if measure.slug in measures:
            problems.append(
                Problem(file=where, item=measure.slug, field="slug", message="slug used twice")
            )
        measures[measure.slug] = measure
    if problems:
        raise CatalogError(problems)
    return measures


# --- scoring ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScoredResponse:
    score: int
    band: str
    flags: tuple[str, ...]


def answer_errors(measure: Measure, answers: object) -> dict[str, list[str]]:
    """Each bad answer by key (`answers.<key>`); empty when the answers are complete."""
    if not isinstance(answers, dict):
        return {"answers": ["Must be an object of item keys to option values."]}
    errors: dict[str, list[str]] = {}
    known = {i.key: i for i in measure.items}
    for key in answers:
        if key not in known:
            errors[f"answers.{key}"] = [f"{measure.title} has no item {key!r}."]
    for item in measure.items:
        value = answers.get(item.key)
        if value is None:
            if item.required:
                errors[f"answers.{item.key}"] = ["An answer is required."]
        elif not _is_int(value) or value not in item.values:
            allowed = ", ".join(str(v) for v in item.values)
            errors[f"answers.{item.key}"] = [f"Must be one of {allowed}."]
    return errors


def score_answers(measure: Measure, answers: Mapping[str, int | None]) -> ScoredResponse:
    """The total, its band and the flags raised, from the catalog's rules (answers
    already checked with `answer_errors`)."""
    score = sum(int(answers[i.key] or 0) for i in measure.items if i.scored)
    flags = tuple(
        "risk"
        for i in measure.items
        if i.risk_at is not None and (answers.get(i.key) or 0) >= i.risk_at
    )[:1]
    return ScoredResponse(score=score, band=measure.band_of(score), flags=flags)


# --- schedules ------------------------------------------------------------------------


def occasion_at(*, started_at: datetime, every_weeks: int, tz: ZoneInfo, index: int) -> datetime:
    """When occasion `index` begins for a partner in `tz`: the start itself for 0, else
    local midnight `index * every_weeks` weeks after the local start date."""
    if index == 0:
        return started_at
    first: date = started_at.astimezone(tz).date()
    day = first + timedelta(days=7 * every_weeks * index)
    return datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)


def current_occasion(
    *, started_at: datetime, every_weeks: int, tz: ZoneInfo, now: datetime
) -> datetime | None:
    """The start of the period `now` is in (None before the schedule starts)."""
    if now < started_at:
        return None
    days = (now.astimezone(tz).date() - started_at.astimezone(tz).date()).days
    index = days // (7 * every_weeks)
    at = occasion_at(started_at=started_at, every_weeks=every_weeks, tz=tz, index=index)
    if index > 0 and at > now:  # cannot happen with a real zone; kept for safety
        index -= 1
        at = occasion_at(started_at=started_at, every_weeks=every_weeks, tz=tz, index=index)
    return at


def due_since(
    *,
    started_at: datetime,
    every_weeks: int,
    tz: ZoneInfo,
    now: datetime,
    answered: Sequence[datetime],
) -> datetime | None:
    """When the questionnaire became due for this partner, or None when it is not due
    (answered since the current period began, or not started)."""
    since = current_occasion(started_at=started_at, every_weeks=every_weeks, tz=tz, now=now)
    if since is None or any(at >= since for at in answered):
        return None
    return since


def is_overdue(since: datetime | None, now: datetime) -> bool:
    return since is not None and now - since >= OVERDUE_AFTER
