"""Catalog content as frozen dataclasses, and their JSON-safe dict forms.

`to_dict()` gives the shape served by the API (field names from API.md) and stored as
the frozen copy of a program in an assignment; `from_dict()` reads it back through the
same validation the catalog loader uses (see `exercises.schema`), so a round trip is
exact and a malformed dict raises `CatalogError` with per-field problems.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

QUESTION_TYPES: tuple[str, ...] = ("scale", "boolean", "choice", "text")
EXERCISE_KINDS: tuple[str, ...] = ("sensate_focus", "communication", "journaling")
# Safety flags a check-in can raise (API.md CheckIn `flags`).
FLAGS: tuple[str, ...] = ("pain", "distress", "stop", "pressured", "unsafe")
# Hard cap on any free-text answer; a text question may set a lower `max_length`.
TEXT_MAX_LENGTH = 5000
# The boolean question whose latest answer feeds `Criteria.require_ready`.
READY_KEY = "ready_to_move_on"
# The boolean question that records a session that did not happen because one of the
# couple said "not tonight": never counted as done, never counted against anyone.
DECLINED_KEY = "session_declined"
# Who may read an answer besides its author: `all` (the therapist, and the partner
# when the author shares the check-in with the couple) or `therapist` (answers that
# inform the therapist's decisions, such as "ready to move on": never the partner,
# whatever the visibility; privacy rule 4).
AUDIENCES: tuple[str, ...] = ("all", "therapist")
# Forms stored before `audience` existed: these keys were therapist-only in meaning
# already, so a stored copy without any `audience` still hides them from the partner.
LEGACY_THERAPIST_ONLY_KEYS: frozenset[str] = frozenset({READY_KEY})

JSONDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Question:
    """One typed question of a check-in form.

    `scale`: integer answer in `min..max` with anchor labels for both ends.
    `boolean`: true/false. `choice`: one of `options`, or a list of them when
    `multiple`. `text`: free text up to `max_length` (default `TEXT_MAX_LENGTH`).
    A `flag` makes the question a safety question: a scale answer `>= flag_at` or a
    boolean answer `true` raises that flag.
    """

    key: str
    type: str
    label: str
    required: bool = True
    min: int | None = None
    max: int | None = None
    min_label: str | None = None
    max_label: str | None = None
    options: tuple[str, ...] = ()
    multiple: bool = False
    max_length: int | None = None
    flag: str | None = None
    flag_at: int | None = None
    audience: str = "all"

    @property
    def therapist_only(self) -> bool:
        """Whether only the author and the therapist may ever read this answer."""
        return self.audience == "therapist"

    @property
    def text_limit(self) -> int:
        """The effective maximum length of a text answer."""
        return self.max_length if self.max_length is not None else TEXT_MAX_LENGTH

    def to_dict(self) -> JSONDict:
        """JSON-safe dict; only the fields that belong to this question's type."""
        data: JSONDict = {
            "key": self.key,
            "type": self.type,
            "label": self.label,
            "required": self.required,
        }
        if self.type == "scale":
            data.update(
                min=self.min,
                max=self.max,
                min_label=self.min_label,
                max_label=self.max_label,
                flag_at=self.flag_at,
            )
        elif self.type == "choice":
            data.update(options=list(self.options), multiple=self.multiple)
        elif self.type == "text" and self.max_length is not None:
            data["max_length"] = self.max_length
        data["flag"] = self.flag
        if self.audience != "all":  # left out by default: older stored forms stay equal
            data["audience"] = self.audience
        return data


@dataclass(frozen=True, slots=True)
class Form:
    """The ordered questions of an exercise's check-in form."""

    questions: tuple[Question, ...]

    def __iter__(self) -> Iterator[Question]:
        return iter(self.questions)

    def __len__(self) -> int:
        return len(self.questions)

    def get(self, key: str) -> Question | None:
        """The question with this key, or None."""
        return next((q for q in self.questions if q.key == key), None)

    @property
    def keys(self) -> tuple[str, ...]:
        """Question keys in form order."""
        return tuple(q.key for q in self.questions)

    @property
    def scale_keys(self) -> tuple[str, ...]:
        """Keys of the scale questions (the ones whose answers have means)."""
        return tuple(q.key for q in self.questions if q.type == "scale")

    @property
    def flags(self) -> frozenset[str]:
        """Every safety flag this form can raise."""
        return frozenset(q.flag for q in self.questions if q.flag is not None)

    def to_list(self) -> list[JSONDict]:
        """The API shape: a list of question dicts."""
        return [q.to_dict() for q in self.questions]

    @classmethod
    def from_list(cls, data: object) -> Form:
        """Read a form from its list shape; raises `CatalogError` when invalid."""
        # Imported here because the schema module builds these classes.
        from exercises.schema import parse_form

        return parse_form(data)


@dataclass(frozen=True, slots=True)
class Exercise:
    """A catalog exercise: what to do, how to stay safe, and what to log afterwards."""

    slug: str
    version: int
    kind: str
    title: str
    summary: str
    instructions: str  # markdown: every step a couple can follow on their own
    joint: bool  # done together (each partner still logs their own check-in)
    duration_minutes: int  # typical length of one session
    safety: str  # markdown: stopping, pain, "Tandem is not an emergency service"
    form: Form
    sources: tuple[str, ...]
    duration_range: tuple[int, int] | None = None
    includes: tuple[str, ...] = ()  # sensate focus: what this stage includes
    off_limits: tuple[str, ...] = ()  # sensate focus: what is off limits
    initiator: str | None = None  # who starts a session, where that matters
    therapist_notes: str | None = None  # markdown for the therapist only, never a partner

    def to_dict(self) -> JSONDict:
        """JSON-safe dict in the API's Exercise shape (plus version and extras)."""
        return _with_notes(
            self.therapist_notes,
            {
                "slug": self.slug,
                "version": self.version,
                "kind": self.kind,
                "title": self.title,
                "summary": self.summary,
                "instructions": self.instructions,
                "joint": self.joint,
                "duration_minutes": self.duration_minutes,
                "duration_range": list(self.duration_range) if self.duration_range else None,
                "safety": self.safety,
                "includes": list(self.includes),
                "off_limits": list(self.off_limits),
                "initiator": self.initiator,
                "form": self.form.to_list(),
                "sources": list(self.sources),
            },
        )

    @classmethod
    def from_dict(cls, data: object) -> Exercise:
        """Read an exercise dict (as `to_dict` writes it); raises `CatalogError`."""
        from exercises.schema import parse_exercise

        return parse_exercise(data)


@dataclass(frozen=True, slots=True)
class StageItem:
    """One exercise of a stage and its weekly target for each partner."""

    exercise: str  # exercise slug
    per_week: int

    def to_dict(self) -> JSONDict:
        """JSON-safe dict `{exercise, per_week}`."""
        return {"exercise": self.exercise, "per_week": self.per_week}


@dataclass(frozen=True, slots=True)
class Criteria:
    """When a stage *suggests* moving on; the therapist always decides.

    Evaluated per partner over their own check-ins since the stage started, for the
    stage's exercises (or only `exercise` when set):

    - `min_sessions`: at least this many check-ins (private ones count too).
    - `max_mean` / `min_mean`: scale key -> bound on the mean of that partner's
      answers; over the latest `mean_of_last` answers when set, else all of them.
      Private check-ins (answers not visible) never enter a mean.
    - `min_yes_share`: boolean key -> the least share (0 to 1) of that partner's
      visible answers to it that are yes, over the same window as the means (e.g.
      `refocused: 0.5`: they could bring their attention back at least half the time).
    - `require_ready`: the partner's latest visible `ready_to_move_on` answer is true.

    A declined session (`DECLINED_KEY`) never counts towards `min_sessions` or a mean.
    """

    min_sessions: int = 0
    exercise: str | None = None
    max_mean: dict[str, float] = field(default_factory=dict)
    min_mean: dict[str, float] = field(default_factory=dict)
    mean_of_last: int | None = None
    require_ready: bool = False
    min_yes_share: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> JSONDict:
        """JSON-safe dict of every criterion (`min_yes_share` only when set)."""
        data: JSONDict = {
            "min_sessions": self.min_sessions,
            "exercise": self.exercise,
            "max_mean": dict(self.max_mean),
            "min_mean": dict(self.min_mean),
            "mean_of_last": self.mean_of_last,
            "require_ready": self.require_ready,
        }
        if self.min_yes_share:
            data["min_yes_share"] = dict(self.min_yes_share)
        return data


@dataclass(frozen=True, slots=True)
class Stage:
    """One stage of a program: its exercises, guidance, limits and criteria."""

    index: int  # from 1
    title: str
    guidance: str  # markdown
    items: tuple[StageItem, ...]
    includes: tuple[str, ...] = ()
    off_limits: tuple[str, ...] = ()
    min_weeks: int = 1  # weeks at this stage before advancing is suggested
    criteria: Criteria | None = None
    therapist_notes: str | None = None  # markdown for the therapist only

    @property
    def exercise_slugs(self) -> tuple[str, ...]:
        """Slugs of this stage's exercises, in order."""
        return tuple(item.exercise for item in self.items)

    def to_dict(self) -> JSONDict:
        """JSON-safe dict; the items are served under `exercises` as in API.md."""
        return _with_notes(
            self.therapist_notes,
            {
                "index": self.index,
                "title": self.title,
                "guidance": self.guidance,
                "exercises": [item.to_dict() for item in self.items],
                "includes": list(self.includes),
                "off_limits": list(self.off_limits),
                "min_weeks": self.min_weeks,
                "criteria": self.criteria.to_dict() if self.criteria else None,
            },
        )


@dataclass(frozen=True, slots=True)
class Program:
    """An ordered set of stages. `owner_id` is None for catalog programs."""

    slug: str
    version: int
    title: str
    summary: str
    stages: tuple[Stage, ...]
    owner_id: str | None = None
    therapist_notes: str | None = None  # markdown for the therapist only

    def stage(self, index: int) -> Stage:
        """The stage with this 1-based index; `ValueError` when there is none."""
        if not 1 <= index <= len(self.stages):
            raise ValueError(f"program {self.slug!r} has no stage {index}")
        return self.stages[index - 1]

    @property
    def exercise_slugs(self) -> frozenset[str]:
        """Every exercise used by any stage."""
        return frozenset(slug for stage in self.stages for slug in stage.exercise_slugs)

    def to_dict(self) -> JSONDict:
        """JSON-safe dict in the API's Program shape (plus version and owner_id)."""
        return _with_notes(
            self.therapist_notes,
            {
                "slug": self.slug,
                "version": self.version,
                "title": self.title,
                "summary": self.summary,
                "owner_id": self.owner_id,
                "stages": [stage.to_dict() for stage in self.stages],
            },
        )

    @classmethod
    def from_dict(cls, data: object) -> Program:
        """Read a stored program dict (as `to_dict` writes it); raises `CatalogError`.

        This checks the program on its own; references to exercises are checked by
        `validate_program_dict` and the catalog loader, which know the exercises. A
        stored copy must load even if the catalog has changed since.
        """
        from exercises.schema import parse_program

        return parse_program(data, mode="stored")


def _with_notes(notes: str | None, data: JSONDict) -> JSONDict:
    """`data` with `therapist_notes` when there are any (left out otherwise, so that a
    stored copy written before the field existed compares equal)."""
    if notes:
        data["therapist_notes"] = notes
    return data


def without_therapist_notes(data: JSONDict) -> JSONDict:
    """A copy of an exercise or program dict (`to_dict` shape, possibly a stored copy)
    with every `therapist_notes` removed, program and stages alike: what a partner sees."""
    out = {k: v for k, v in data.items() if k != "therapist_notes"}
    stages = out.get("stages")
    if isinstance(stages, list):
        out["stages"] = [
            {k: v for k, v in stage.items() if k != "therapist_notes"}
            if isinstance(stage, dict)
            else stage
            for stage in stages
        ]
    return out
