"""Validation of content dicts (from YAML or JSON) into the model's dataclasses.

Every check collects a problem and carries on, so one run reports everything wrong
with a piece of content. Problems name the field by its path inside the item
(`form[3].max`, `stages[0].exercises[1].exercise`); the catalog loader adds the file
and the item (slug). Rules that need other items (unknown exercises, criteria keys)
live here too, as functions over already-parsed objects.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from exercises.model import (
    AUDIENCES,
    DECLINED_KEY,
    EXERCISE_KINDS,
    FLAGS,
    QUESTION_TYPES,
    READY_KEY,
    TEXT_MAX_LENGTH,
    Criteria,
    Exercise,
    Form,
    Program,
    Question,
    Stage,
    StageItem,
)

SLUG_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
SLUG_MAX = 64
KEY_RE = re.compile(r"[a-z][a-z0-9_]*")
KEY_MAX = 40
PER_WEEK_MAX = 14
MAX_QUESTIONS = 40
MAX_STAGES = 30
MAX_STAGE_EXERCISES = 20
LONG_TEXT_MAX = 50_000  # characters of markdown in instructions, safety or guidance

# How a program dict is read:
# - "catalog": shipped content; version, summary and stage guidance are required.
# - "custom": a therapist's program from the API; those are optional, owner set by us.
# - "stored": a frozen copy read back from JSON (`Program.from_dict`); owner_id allowed.
ProgramMode = Literal["catalog", "custom", "stored"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with content: where it is and what is wrong, in English."""

    file: str
    item: str
    field: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return ": ".join(part for part in (where, self.item, self.field, self.message) if part)


class CatalogError(ValueError):
    """Content failed validation; `problems` lists every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        count = len(self.problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in content:\n{lines}")

    def errors(self) -> dict[str, list[str]]:
        """Problems as field -> messages, the shape of a 422 `errors` member."""
        out: dict[str, list[str]] = {}
        for p in self.problems:
            # "_schema" is marshmallow's name for errors about the whole body.
            out.setdefault(p.field or "_schema", []).append(p.message)
        return out


# --- reading one mapping -------------------------------------------------------------

Issues = list[tuple[str, str]]  # (field path, message)


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _is_int(value: object) -> bool:
    # bool is a subclass of int, but `true` is never a number in our content.
    return isinstance(value, int) and not isinstance(value, bool)


class _Fields:
    """Typed access to one mapping's fields, recording problems under `path`."""

    def __init__(self, data: object, path: str, issues: Issues, allowed: Collection[str]) -> None:
        self.path = path
        self.issues = issues
        if isinstance(data, Mapping):
            self.data: Mapping[object, object] = data
        else:
            self.data = {}
            issues.append((path, "must be a mapping of fields"))
        for key in self.data:
            if key not in allowed:
                issues.append((_at(path, str(key)), "unknown field"))

    def at(self, key: str) -> str:
        return _at(self.path, key)

    def problem(self, key: str, message: str) -> None:
        self.issues.append((self.at(key), message))

    def has(self, key: str) -> bool:
        """Present and not null."""
        return self.data.get(key) is not None

    def get(self, key: str) -> object:
        return self.data.get(key)

    def text(self, key: str, *, required: bool = True, max_len: int | None = None) -> str:
        """A string, non-blank when required ("" when missing and optional, or invalid)."""
        value = self.data.get(key)
        if value is None:
            if required:
                self.problem(key, "is required")
            return ""
        if not isinstance(value, str):
            self.problem(key, "must be a string")
            return ""
        if required and not value.strip():
            self.problem(key, "must not be empty")
        elif max_len is not None and len(value) > max_len:
            self.problem(key, f"must be at most {max_len} characters")
        return value

    def opt_text(self, key: str) -> str | None:
        """A string, or None when missing or null."""
        return self.text(key, required=False) if self.has(key) else None

    def integer(self, key: str, lo: int, hi: int, *, default: int | None = None) -> int:
        """An integer in `lo..hi`; `default` when missing (required if no default)."""
        value = self.data.get(key)
        if value is None:
            if default is None:
                self.problem(key, "is required")
                return lo
            return default
        if not _is_int(value):
            self.problem(key, "must be a whole number")
            return lo
        assert isinstance(value, int)
        if not lo <= value <= hi:
            self.problem(key, f"must be between {lo} and {hi}")
        return value

    def opt_integer(self, key: str, lo: int, hi: int) -> int | None:
        return self.integer(key, lo, hi) if self.has(key) else None

    def boolean(self, key: str, *, default: bool | None = None) -> bool:
        value = self.data.get(key)
        if value is None:
            if default is None:
                self.problem(key, "is required")
                return False
            return default
        if not isinstance(value, bool):
            self.problem(key, "must be true or false")
            return False
        return value

    def slug(self, key: str) -> str:
        value = self.text(key)
        if value and not _valid_slug(value):
            self.problem(key, _SLUG_MESSAGE)
        return value

    def text_list(self, key: str, *, required: bool = False) -> tuple[str, ...]:
        """A list of non-empty, distinct strings (empty tuple when missing)."""
        value = self.data.get(key)
        if value is None:
            if required:
                self.problem(key, "is required")
            return ()
        if not isinstance(value, list):
            self.problem(key, "must be a list of strings")
            return ()
        if required and not value:
            self.problem(key, "must not be empty")
        out: list[str] = []
        for i, entry in enumerate(value):
            where = f"{self.at(key)}[{i}]"
            if not isinstance(entry, str):
                self.issues.append((where, "must be a string"))
            elif not entry.strip():
                self.issues.append((where, "must not be empty"))
            elif entry in out:
                self.issues.append((where, f"duplicate entry {entry!r}"))
            else:
                out.append(entry)
        return tuple(out)

    def items(self, key: str, max_len: int) -> list[object]:
        """A required, non-empty list (returned as is for per-element parsing)."""
        value = self.data.get(key)
        if value is None:
            self.problem(key, "is required")
            return []
        if not isinstance(value, list):
            self.problem(key, "must be a list")
            return []
        if not value:
            self.problem(key, "must not be empty")
        elif len(value) > max_len:
            self.problem(key, f"must have at most {max_len} entries")
            return value[:max_len]
        return value


_SLUG_MESSAGE = (
    "must be lower-case letters, digits and single hyphens (like 'sf-stage-1'), "
    f"at most {SLUG_MAX} characters"
)


def _valid_slug(value: str) -> bool:
    return len(value) <= SLUG_MAX and SLUG_RE.fullmatch(value) is not None


def _raise_if(issues: Issues, item: str) -> None:
    if issues:
        raise CatalogError([Problem("", item, path, message) for path, message in issues])


def _label(data: object) -> str:
    """The item's slug for problem messages, when it has a usable one."""
    if isinstance(data, Mapping):
        slug = data.get("slug")
        if isinstance(slug, str) and slug:
            return slug
    return ""


# --- forms ---------------------------------------------------------------------------

_QUESTION_FIELDS = (
    "key", "type", "label", "required", "min", "max", "min_label", "max_label",
    "options", "multiple", "max_length", "flag", "flag_at", "audience",
)  # fmt: skip
# Fields that only some question types may carry.
_TYPE_FIELDS = {
    "min": ("scale",),
    "max": ("scale",),
    "min_label": ("scale",),
    "max_label": ("scale",),
    "flag_at": ("scale",),
    "options": ("choice",),
    "multiple": ("choice",),
    "max_length": ("text",),
    "flag": ("scale", "boolean"),
}


def read_question(data: object, path: str, issues: Issues) -> Question:
    """Read one question, appending problems to `issues`."""
    f = _Fields(data, path, issues, _QUESTION_FIELDS)
    key = f.text("key", max_len=KEY_MAX)
    if key and KEY_RE.fullmatch(key) is None:
        f.problem(
            "key", "must be lower-case letters, digits and underscores, starting with a letter"
        )
    qtype = f.text("type")
    label = f.text("label", max_len=500)
    required = f.boolean("required", default=True)
    audience = f.text("audience", required=False) or "all"
    if audience not in AUDIENCES:
        f.problem("audience", f"must be one of {', '.join(AUDIENCES)}")
    if qtype and qtype not in QUESTION_TYPES:
        f.problem("type", f"must be one of {', '.join(QUESTION_TYPES)}")
        return Question(key, qtype, label, required, audience=audience)
    for name, types in _TYPE_FIELDS.items():
        if qtype and f.has(name) and qtype not in types:
            f.problem(name, f"only {' and '.join(types)} questions have {name!r}")

    flag = f.opt_text("flag") if qtype in ("scale", "boolean") else None
    if flag is not None and flag not in FLAGS:
        f.problem("flag", f"must be one of {', '.join(FLAGS)}")

    if qtype == "scale":
        lo = f.integer("min", -1000, 1000)
        hi = f.integer("max", -1000, 1000)
        if f.has("min") and f.has("max") and hi <= lo:
            f.problem("max", "must be greater than min")
        flag_at = f.opt_integer("flag_at", -1000, 1000)
        if flag is not None and flag_at is None:
            f.problem("flag_at", "is required when the question has a flag")
        if flag is None and flag_at is not None:
            f.problem("flag_at", "needs a flag to raise")
        if flag_at is not None and hi > lo and not lo <= flag_at <= hi:
            f.problem("flag_at", f"must be inside the scale ({lo} to {hi})")
        return Question(
            key, qtype, label, required, min=lo, max=hi,
            min_label=f.text("min_label", max_len=200),
            max_label=f.text("max_label", max_len=200),
            flag=flag, flag_at=flag_at, audience=audience,
        )  # fmt: skip
    if qtype == "choice":
        options = f.text_list("options", required=True)
        return Question(
            key, qtype, label, required,
            options=options, multiple=f.boolean("multiple", default=False),
            audience=audience,
        )  # fmt: skip
    if qtype == "text":
        max_length = f.opt_integer("max_length", 1, TEXT_MAX_LENGTH)
        return Question(key, qtype, label, required, max_length=max_length, audience=audience)
    return Question(key, qtype, label, required, flag=flag, audience=audience)


def read_form(data: object, path: str, issues: Issues) -> Form:
    """Read a form (a non-empty list of questions with distinct keys)."""
    if not isinstance(data, list):
        issues.append((path, "is required" if data is None else "must be a list of questions"))
        return Form(())
    if not data:
        issues.append((path, "must have at least one question"))
    elif len(data) > MAX_QUESTIONS:
        issues.append((path, f"must have at most {MAX_QUESTIONS} questions"))
    questions = tuple(read_question(q, f"{path}[{i}]", issues) for i, q in enumerate(data))
    first: dict[str, int] = {}
    for i, q in enumerate(questions):
        if q.key in first:
            issues.append(
                (f"{path}[{i}].key", f"duplicate key {q.key!r} (also {path}[{first[q.key]}])")
            )
        elif q.key:
            first[q.key] = i
    return Form(questions)


def parse_form(data: object) -> Form:
    """A form from its list shape; raises `CatalogError` on any problem."""
    issues: Issues = []
    form = read_form(data, "form", issues)
    _raise_if(issues, "")
    return form


# --- exercises -----------------------------------------------------------------------

_EXERCISE_FIELDS = (
    "slug", "version", "kind", "title", "summary", "instructions", "joint",
    "duration_minutes", "duration_range", "safety", "includes", "off_limits",
    "initiator", "form", "sources", "therapist_notes",
)  # fmt: skip


def read_exercise(data: object, issues: Issues) -> Exercise:
    """Read one exercise's structure (no content rules), appending problems."""
    if not isinstance(data, Mapping):
        issues.append(("", "must be a mapping of fields"))
        return Exercise("", 1, "", "", "", "", False, 1, "", Form(()), ())
    f = _Fields(data, "", issues, _EXERCISE_FIELDS)
    kind = f.text("kind")
    if kind and kind not in EXERCISE_KINDS:
        f.problem("kind", f"must be one of {', '.join(EXERCISE_KINDS)}")
    duration = f.integer("duration_minutes", 1, 240)
    duration_range: tuple[int, int] | None = None
    raw_range = f.get("duration_range")
    if raw_range is not None:
        if (
            isinstance(raw_range, list)
            and len(raw_range) == 2
            and all(_is_int(v) and 1 <= v <= 240 for v in raw_range)
        ):
            lo, hi = int(raw_range[0]), int(raw_range[1])
            duration_range = (lo, hi)
            if not lo <= duration <= hi:
                f.problem("duration_range", "must contain duration_minutes (min <= typical <= max)")
        else:
            f.problem("duration_range", "must be two whole numbers of minutes [min, max], 1 to 240")
    sources = f.text_list("sources", required=True)
    return Exercise(
        slug=f.slug("slug"),
        version=f.integer("version", 1, 1_000_000),
        kind=kind,
        title=f.text("title", max_len=200),
        summary=f.text("summary", max_len=1000),
        instructions=f.text("instructions", max_len=LONG_TEXT_MAX),
        joint=f.boolean("joint"),
        duration_minutes=duration,
        duration_range=duration_range,
        safety=f.text("safety", max_len=LONG_TEXT_MAX),
        includes=f.text_list("includes"),
        off_limits=f.text_list("off_limits"),
        initiator=f.opt_text("initiator"),
        form=read_form(f.get("form"), "form", issues),
        sources=sources,
        therapist_notes=_notes(f),
    )


# Words the safety text must contain (PRODUCT.md "Safety rules"). Crude on purpose:
# it catches a safety note that forgot one of the three things it must say.
_SAFETY_WORDS = (
    ("stop", "must tell people they may stop at any time (mention 'stop')"),
    ("pain", "must say what to do if there is pain (mention 'pain')"),
    ("emergency", "must say that Tandem is not an emergency service (mention 'emergency')"),
)
# Safety questions a sensate-focus check-in must ask (PRODUCT.md "Content"); a solo
# step (touching oneself) has no partner to feel pressured or unsafe with.
_SENSATE_FOCUS_FLAGS = ("pain", "stop", "pressured", "unsafe")
_SOLO_SENSATE_FOCUS_FLAGS = ("pain", "stop")


def _notes(f: _Fields) -> str | None:
    """Optional therapist-only guidance (markdown), never served to a partner."""
    notes = f.text("therapist_notes", required=False, max_len=LONG_TEXT_MAX)
    if f.has("therapist_notes") and not notes.strip():
        f.problem("therapist_notes", "must not be empty (leave it out instead)")
    return notes or None


def check_exercise_content(exercise: Exercise, issues: Issues) -> None:
    """Rules for shipped content, beyond structure."""
    safety = exercise.safety.lower()
    for word, message in _SAFETY_WORDS:
        if exercise.safety and word not in safety:
            issues.append(("safety", message))
    if exercise.form.questions and not exercise.form.flags:
        issues.append(("form", "must include at least one safety question (one with a flag)"))
    if exercise.kind == "journaling" and exercise.joint:
        issues.append(("joint", "journaling exercises are solo (joint: false)"))
    if exercise.kind == "sensate_focus":
        for name in ("includes", "off_limits"):
            if not getattr(exercise, name):
                issues.append((name, "is required for sensate-focus exercises"))
        if not exercise.initiator:
            issues.append(("initiator", "is required for sensate-focus exercises"))
        wanted = _SENSATE_FOCUS_FLAGS if exercise.joint else _SOLO_SENSATE_FOCUS_FLAGS
        for flag in wanted:
            if flag not in exercise.form.flags:
                issues.append(
                    ("form", f"a sensate-focus form must ask a question flagged {flag!r}")
                )
        ready = exercise.form.get(READY_KEY)
        if ready is None or ready.type != "boolean":
            issues.append(("form", f"a sensate-focus form must ask the boolean {READY_KEY!r}"))
    for i, question in enumerate(exercise.form):
        # Privacy rule 4: "ready to move on" informs the therapist's decision only.
        if question.key == READY_KEY and not question.therapist_only:
            issues.append(
                (f"form[{i}].audience", f"{READY_KEY!r} must be 'therapist' (privacy rule 4)")
            )
        # A declined session is information: it must never raise an alert or a hold.
        if question.key == DECLINED_KEY and (question.type != "boolean" or question.flag):
            issues.append((f"form[{i}]", f"{DECLINED_KEY!r} must be a boolean without a flag"))
        if question.key == DECLINED_KEY and question.required:
            issues.append((f"form[{i}].required", f"{DECLINED_KEY!r} must be optional"))


def parse_exercise(data: object) -> Exercise:
    """An exercise from its dict shape; raises `CatalogError` on any problem."""
    issues: Issues = []
    exercise = read_exercise(data, issues)
    _raise_if(issues, _label(data))
    return exercise


# --- programs ------------------------------------------------------------------------

_PROGRAM_FIELDS = (
    "slug", "version", "title", "summary", "stages", "owner_id", "therapist_notes",
)  # fmt: skip
_STAGE_FIELDS = (
    "index", "title", "guidance", "exercises", "includes", "off_limits", "min_weeks", "criteria",
    "therapist_notes",
)  # fmt: skip
_CRITERIA_FIELDS = (
    "min_sessions", "exercise", "max_mean", "min_mean", "mean_of_last", "require_ready",
    "min_yes_share",
)  # fmt: skip


def _read_means(f: _Fields, key: str) -> dict[str, float]:
    value = f.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        f.problem(key, "must map scale question keys to numbers")
        return {}
    out: dict[str, float] = {}
    for k, v in value.items():
        where = _at(f.at(key), str(k))
        if not isinstance(k, str) or KEY_RE.fullmatch(k) is None:
            f.issues.append((where, "is not a valid question key"))
        elif isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            f.issues.append((where, "must be a number"))
        else:
            out[k] = float(v)
    return out


def _read_shares(f: _Fields, key: str) -> dict[str, float]:
    shares = _read_means(f, key)
    for k, v in shares.items():
        if not 0 <= v <= 1:
            f.issues.append((_at(f.at(key), k), "must be a share from 0 to 1"))
    return shares


def _read_criteria(data: object, path: str, issues: Issues) -> Criteria:
    f = _Fields(data, path, issues, _CRITERIA_FIELDS)
    exercise = f.opt_text("exercise")
    if exercise is not None and not _valid_slug(exercise):
        f.problem("exercise", _SLUG_MESSAGE)
    return Criteria(
        min_sessions=f.integer("min_sessions", 0, 100, default=0),
        exercise=exercise,
        max_mean=_read_means(f, "max_mean"),
        min_mean=_read_means(f, "min_mean"),
        mean_of_last=f.opt_integer("mean_of_last", 1, 100),
        require_ready=f.boolean("require_ready", default=False),
        min_yes_share=_read_shares(f, "min_yes_share"),
    )


def _read_stage(data: object, position: int, path: str, issues: Issues, mode: ProgramMode) -> Stage:
    f = _Fields(data, path, issues, _STAGE_FIELDS)
    index = position + 1
    if f.has("index") and f.get("index") != index:
        f.problem("index", f"must be {index} (stages are numbered from 1, in order)")
    items: list[StageItem] = []
    seen: set[str] = set()
    for j, raw in enumerate(f.items("exercises", MAX_STAGE_EXERCISES)):
        g = _Fields(raw, f"{f.at('exercises')}[{j}]", issues, ("exercise", "per_week"))
        item = StageItem(g.slug("exercise"), g.integer("per_week", 1, PER_WEEK_MAX))
        if item.exercise in seen:
            g.problem("exercise", f"{item.exercise!r} is already in this stage")
        seen.add(item.exercise)
        items.append(item)
    criteria = f.get("criteria")
    return Stage(
        index=index,
        title=f.text("title", max_len=200),
        guidance=f.text("guidance", required=mode == "catalog", max_len=LONG_TEXT_MAX),
        items=tuple(items),
        includes=f.text_list("includes"),
        off_limits=f.text_list("off_limits"),
        min_weeks=f.integer("min_weeks", 0, 52, default=1),
        criteria=None if criteria is None else _read_criteria(criteria, f.at("criteria"), issues),
        therapist_notes=_notes(f),
    )


def read_program(data: object, issues: Issues, *, mode: ProgramMode) -> Program:
    """Read one program's structure (no exercise references), appending problems."""
    if not isinstance(data, Mapping):
        issues.append(("", "must be a mapping of fields"))
        return Program("", 1, "", "", ())
    f = _Fields(data, "", issues, _PROGRAM_FIELDS)
    owner = f.get("owner_id")
    if mode == "stored" and owner is not None and not isinstance(owner, str):
        f.problem("owner_id", "must be a string or null")
    elif mode == "catalog" and owner is not None:
        f.problem("owner_id", "catalog programs have no owner")
    elif mode == "custom" and owner is not None:
        f.problem("owner_id", "is set by the server; leave it out")
    stages = tuple(
        _read_stage(raw, i, f"stages[{i}]", issues, mode)
        for i, raw in enumerate(f.items("stages", MAX_STAGES))
    )
    return Program(
        slug=f.slug("slug"),
        version=f.integer("version", 1, 1_000_000, default=None if mode != "custom" else 1),
        title=f.text("title", max_len=200),
        summary=f.text("summary", required=mode == "catalog", max_len=1000),
        stages=stages,
        owner_id=owner if isinstance(owner, str) else None,
        therapist_notes=_notes(f),
    )


def check_program_references(
    program: Program,
    exercises: Mapping[str, Exercise],
    known: Collection[str] | None,
    issues: Issues,
) -> None:
    """Cross-checks against the exercises: unknown slugs, criteria keys.

    `known` holds every exercise slug that exists (None: not known, skip that check),
    `exercises` the ones that are also valid; a rule that needs an exercise's form is
    skipped when it is not valid, so a broken exercise is reported once, where it is
    defined.
    """
    for i, stage in enumerate(program.stages):
        path = f"stages[{i}]"
        for j, item in enumerate(stage.items):
            if known is not None and _valid_slug(item.exercise) and item.exercise not in known:
                issues.append(
                    (f"{path}.exercises[{j}].exercise", f"unknown exercise {item.exercise!r}")
                )
        crit = stage.criteria
        if crit is None:
            continue
        cpath = f"{path}.criteria"
        considered: tuple[str, ...] = stage.exercise_slugs
        if crit.exercise is not None:
            if crit.exercise not in stage.exercise_slugs:
                issues.append(
                    (f"{cpath}.exercise", f"{crit.exercise!r} is not one of this stage's exercises")
                )
                continue
            considered = (crit.exercise,)
        if not all(slug in exercises for slug in considered):
            continue
        forms = [exercises[slug].form for slug in considered]
        scales = {key for form in forms for key in form.scale_keys}
        for name, bounds in (("max_mean", crit.max_mean), ("min_mean", crit.min_mean)):
            for key in bounds:
                if key not in scales:
                    issues.append(
                        (
                            f"{cpath}.{name}.{key}",
                            f"no scale question {key!r} in this stage's exercises",
                        )
                    )
        booleans = {q.key for form in forms for q in form if q.type == "boolean"}
        for key in crit.min_yes_share:
            if key not in booleans:
                issues.append(
                    (
                        f"{cpath}.min_yes_share.{key}",
                        f"no yes/no question {key!r} in this stage's exercises",
                    )
                )
        asks_ready = any(
            (q := form.get(READY_KEY)) is not None and q.type == "boolean" for form in forms
        )
        if crit.require_ready and not asks_ready:
            issues.append(
                (f"{cpath}.require_ready", f"no exercise in this stage asks {READY_KEY!r}")
            )


def parse_program(data: object, *, mode: ProgramMode = "stored") -> Program:
    """A program from its dict shape, checked on its own; raises `CatalogError`."""
    issues: Issues = []
    program = read_program(data, issues, mode=mode)
    _raise_if(issues, _label(data))
    return program
