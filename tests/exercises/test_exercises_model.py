"""Dict forms of the model: exact round trips, API field names, and custom programs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exercises.catalog import Catalog, validate_program_dict
from exercises.model import (
    FLAGS,
    Criteria,
    Exercise,
    Form,
    Program,
    Question,
    Stage,
    StageItem,
)
from exercises.schema import KEY_RE, SLUG_RE, CatalogError


def through_json(data: Any) -> Any:
    return json.loads(json.dumps(data))


# --- strategies for valid objects ----------------------------------------------------

words = st.text(min_size=1, max_size=40).filter(lambda s: s.strip() != "")
slugs = st.from_regex(SLUG_RE, fullmatch=True).filter(lambda s: len(s) <= 64)
keys = st.from_regex(KEY_RE, fullmatch=True).filter(lambda s: len(s) <= 40)
flags = st.sampled_from(FLAGS)


@st.composite
def questions(draw: st.DrawFn, key: str) -> Question:
    qtype = draw(st.sampled_from(["scale", "boolean", "choice", "text"]))
    label, required = draw(words), draw(st.booleans())
    if qtype == "scale":
        lo = draw(st.integers(-1000, 999))
        hi = draw(st.integers(lo + 1, 1000))
        flag = draw(st.none() | flags)
        flag_at = draw(st.integers(lo, hi)) if flag else None
        return Question(
            key, qtype, label, required, min=lo, max=hi,
            min_label=draw(words), max_label=draw(words), flag=flag, flag_at=flag_at,
        )  # fmt: skip
    if qtype == "choice":
        options = tuple(draw(st.lists(words, min_size=1, max_size=5, unique=True)))
        return Question(key, qtype, label, required, options=options, multiple=draw(st.booleans()))
    if qtype == "text":
        return Question(
            key, qtype, label, required, max_length=draw(st.none() | st.integers(1, 5000))
        )
    return Question(key, qtype, label, required, flag=draw(st.none() | flags))


@st.composite
def forms(draw: st.DrawFn) -> Form:
    names = draw(st.lists(keys, min_size=1, max_size=6, unique=True))
    return Form(tuple(draw(questions(name)) for name in names))


@st.composite
def exercises(draw: st.DrawFn) -> Exercise:
    duration = draw(st.integers(1, 240))
    with_range = draw(st.booleans())
    return Exercise(
        slug=draw(slugs),
        version=draw(st.integers(1, 1_000_000)),
        kind=draw(st.sampled_from(["sensate_focus", "communication", "journaling"])),
        title=draw(words),
        summary=draw(words),
        instructions=draw(words),
        joint=draw(st.booleans()),
        duration_minutes=duration,
        duration_range=(
            (draw(st.integers(1, duration)), draw(st.integers(duration, 240)))
            if with_range
            else None
        ),
        safety=draw(words),
        form=draw(forms()),
        sources=tuple(draw(st.lists(words, min_size=1, max_size=3, unique=True))),
        includes=tuple(draw(st.lists(words, max_size=3, unique=True))),
        off_limits=tuple(draw(st.lists(words, max_size=3, unique=True))),
        initiator=draw(st.none() | words),
    )


finite = st.floats(allow_nan=False, allow_infinity=False)
criteria = st.builds(
    Criteria,
    min_sessions=st.integers(0, 100),
    exercise=st.none() | slugs,
    max_mean=st.dictionaries(keys, finite, max_size=3),
    min_mean=st.dictionaries(keys, finite, max_size=3),
    mean_of_last=st.none() | st.integers(1, 100),
    require_ready=st.booleans(),
)


@st.composite
def programs(draw: st.DrawFn) -> Program:
    stages = []
    for index in range(1, draw(st.integers(1, 4)) + 1):
        item_slugs = draw(st.lists(slugs, min_size=1, max_size=3, unique=True))
        stages.append(
            Stage(
                index=index,
                title=draw(words),
                guidance=draw(st.just("") | words),
                items=tuple(StageItem(s, draw(st.integers(1, 14))) for s in item_slugs),
                includes=tuple(draw(st.lists(words, max_size=2, unique=True))),
                off_limits=tuple(draw(st.lists(words, max_size=2, unique=True))),
                min_weeks=draw(st.integers(0, 52)),
                criteria=draw(st.none() | criteria),
            )
        )
    return Program(
        slug=draw(slugs),
        version=draw(st.integers(1, 1_000_000)),
        title=draw(words),
        summary=draw(st.just("") | words),
        stages=tuple(stages),
        owner_id=draw(st.none() | words),
    )


# --- round trips ---------------------------------------------------------------------


@given(exercises())
def test_exercise_round_trip(exercise: Exercise) -> None:
    assert Exercise.from_dict(through_json(exercise.to_dict())) == exercise


@given(programs())
def test_program_round_trip(program: Program) -> None:
    assert Program.from_dict(through_json(program.to_dict())) == program


@given(forms())
def test_form_round_trip(form: Form) -> None:
    assert Form.from_list(through_json(form.to_list())) == form


def test_shipped_catalog_round_trips(catalog: Catalog) -> None:
    for exercise in catalog.exercises.values():
        assert Exercise.from_dict(through_json(exercise.to_dict())) == exercise
    for program in catalog.programs.values():
        assert Program.from_dict(through_json(program.to_dict())) == program


# --- API shapes ----------------------------------------------------------------------


def test_exercise_dict_has_the_api_fields(catalog: Catalog) -> None:
    data = catalog.exercise("sf-1-nongenital-touch").to_dict()
    api = {"slug", "kind", "title", "summary", "instructions", "joint", "duration_minutes",
           "safety", "form", "sources"}  # fmt: skip
    assert api <= data.keys()
    assert {"version", "includes", "off_limits", "initiator", "duration_range"} <= data.keys()
    by_key = {q["key"]: q for q in data["form"]}
    assert by_key["anxiety"] == {
        "key": "anxiety",
        "type": "scale",
        "label": "How anxious did you feel during the session?",
        "required": True,
        "min": 0,
        "max": 10,
        "min_label": "Not at all anxious",
        "max_label": "As anxious as I have ever felt",
        "flag_at": None,
        "flag": None,
    }
    assert by_key["sensations"]["options"][0].startswith("Temperature")
    assert by_key["sensations"]["multiple"] is True
    assert by_key["pressured"] == {
        "key": "pressured",
        "type": "boolean",
        "label": "Did your partner pressure you into anything you did not want to do?",
        "required": True,
        "flag": "pressured",
    }


def test_program_dict_has_the_api_fields(catalog: Catalog) -> None:
    data = catalog.program("sensate-focus-course").to_dict()
    assert {"slug", "title", "summary", "stages", "version", "owner_id"} <= data.keys()
    stage = data["stages"][0]
    assert {"index", "title", "guidance", "exercises", "criteria"} <= stage.keys()
    assert stage["index"] == 1
    assert stage["exercises"][0] == {"exercise": "sf-1-nongenital-touch", "per_week": 3}
    assert stage["criteria"]["max_mean"] == {"anxiety": 4.0}
    assert stage["criteria"]["min_yes_share"] == {"refocused": 0.5}


def test_stored_program_with_problems_raises() -> None:
    with pytest.raises(CatalogError) as caught:
        Program.from_dict({"slug": "x", "title": "X", "stages": [{"title": "S"}]})
    assert caught.value.errors() == {
        "stages[0].exercises": ["is required"],
        "version": ["is required"],
    }


def test_from_dict_rejects_non_mappings() -> None:
    with pytest.raises(CatalogError) as caught:
        Exercise.from_dict(["not", "a", "dict"])
    assert caught.value.errors() == {"_schema": ["must be a mapping of fields"]}


# --- custom programs -----------------------------------------------------------------


def body(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "slug": "our-plan",
        "title": "Our plan",
        "stages": [
            {
                "title": "Start gently",
                "guidance": "Take your time.",
                "exercises": [
                    {"exercise": "sf-1-nongenital-touch", "per_week": 2},
                    {"exercise": "daily-appreciations", "per_week": 4},
                ],
                "criteria": {"exercise": "sf-1-nongenital-touch", "min_sessions": 3,
                             "max_mean": {"anxiety": 4}, "require_ready": True},
            },
            {"title": "Then talk", "exercises": [{"exercise": "speaker-listener", "per_week": 1}]},
        ],
    }  # fmt: skip
    data.update(overrides)
    return data


def test_custom_program_is_validated_and_owned(catalog: Catalog) -> None:
    program = validate_program_dict(body(), catalog.exercises, owner_id="therapist-1")
    assert program.owner_id == "therapist-1"
    assert program.version == 1
    assert program.summary == ""
    assert [s.index for s in program.stages] == [1, 2]
    assert program.stages[1].guidance == ""
    assert program.stages[1].min_weeks == 1
    assert program.stages[0].criteria == Criteria(
        min_sessions=3, exercise="sf-1-nongenital-touch", max_mean={"anxiety": 4.0},
        require_ready=True,
    )  # fmt: skip
    assert Program.from_dict(through_json(program.to_dict())) == program


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        (
            lambda d: d["stages"][0]["exercises"].append({"exercise": "foo", "per_week": 1}),
            {"stages[0].exercises[2].exercise": ["unknown exercise 'foo'"]},
        ),
        (
            lambda d: d["stages"][1]["exercises"][0].update(per_week=20),
            {"stages[1].exercises[0].per_week": ["must be between 1 and 14"]},
        ),
        (
            lambda d: d["stages"][0]["criteria"].update(max_mean={"felt_heard": 3}),
            {"stages[0].criteria.max_mean.felt_heard":
                ["no scale question 'felt_heard' in this stage's exercises"]},
        ),
        (
            lambda d: d.update(owner_id="someone-else"),
            {"owner_id": ["is set by the server; leave it out"]},
        ),
        (lambda d: d.update(slug="Our Plan"), {"slug": [
            "must be lower-case letters, digits and single hyphens (like 'sf-stage-1'), "
            "at most 64 characters"]}),
        (lambda d: d.pop("stages"), {"stages": ["is required"]}),
        (lambda d: d.update(stages=[{}]), {"stages[0].title": ["is required"],
                                           "stages[0].exercises": ["is required"]}),
        (lambda d: d["stages"][0].update(index=2),
         {"stages[0].index": ["must be 1 (stages are numbered from 1, in order)"]}),
    ],
)  # fmt: skip
def test_custom_program_problems(
    catalog: Catalog, change: Any, errors: dict[str, list[str]]
) -> None:
    data = body()
    change(data)
    with pytest.raises(CatalogError) as caught:
        validate_program_dict(data, catalog.exercises, owner_id="t")
    assert caught.value.errors() == errors


def test_custom_program_slug_taken(catalog: Catalog) -> None:
    with pytest.raises(CatalogError) as caught:
        validate_program_dict(
            body(slug="sensate-focus-course"),
            catalog.exercises,
            owner_id="t",
            taken_slugs=catalog.programs.keys(),
        )
    assert caught.value.errors() == {"slug": ["'sensate-focus-course' is already taken"]}


def test_custom_program_not_a_mapping(catalog: Catalog) -> None:
    with pytest.raises(CatalogError) as caught:
        validate_program_dict("nope", catalog.exercises, owner_id="t")
    assert caught.value.errors() == {"_schema": ["must be a mapping of fields"]}
