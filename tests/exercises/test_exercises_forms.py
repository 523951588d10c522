"""Check-in answers: validation against a form, and the safety flags they raise."""

from __future__ import annotations

from typing import Any

import pytest

from exercises.catalog import Catalog
from exercises.forms import flags_from_answers, validate_answers
from exercises.model import FLAGS, Form, Question

FORM = Form(
    (
        Question("anxiety", "scale", "Anxiety?", min=0, max=10, min_label="None", max_label="Max"),
        Question("pain", "scale", "Pain?", min=0, max=10, min_label="None", max_label="Max",
                 flag="pain", flag_at=4),
        Question("pressured", "boolean", "Pressured?", flag="pressured"),
        Question("refocused", "boolean", "Refocused?", required=False),
        Question("initiated_by", "choice", "Who?", options=("Me", "My partner")),
        Question("sensations", "choice", "Noticed?", required=False, multiple=True,
                 options=("Temperature", "Pressure", "Texture")),
        Question("distractions", "choice", "Distractions?", multiple=True,
                 options=("Expectations", "None came up")),
        Question("reflection", "text", "Notes", required=False, max_length=20),
        Question("journal", "text", "Journal", required=False),
        Question("summary", "text", "Summary"),
    )
)  # fmt: skip

VALID: dict[str, Any] = {
    "anxiety": 3,
    "pain": 0,
    "pressured": False,
    "initiated_by": "Me",
    "distractions": ["None came up"],
    "summary": "fine",
}


def answers(**changes: Any) -> dict[str, Any]:
    data = dict(VALID)
    for key, value in changes.items():
        if value is ...:
            data.pop(key)
        else:
            data[key] = value
    return data


@pytest.mark.parametrize(
    ("given", "errors"),
    [
        (answers(), {}),
        (answers(refocused=True, sensations=["Pressure", "Texture"], reflection="warm hands"), {}),
        (answers(refocused=None, sensations=None, reflection=None), {}),  # null = not answered
        (answers(sensations=[]), {}),
        (answers(anxiety=0), {}),
        (answers(anxiety=10), {}),
        (answers(reflection="x" * 20), {}),
        (answers(journal="x" * 5000), {}),
        (answers(anxiety=...), {"anxiety": ["This question is required."]}),
        (answers(anxiety=None), {"anxiety": ["This question is required."]}),
        (answers(colour="red"), {"colour": ["This form has no question 'colour'."]}),
        (answers(anxiety=True), {"anxiety": ["Must be a whole number from 0 to 10."]}),
        (answers(anxiety=3.0), {"anxiety": ["Must be a whole number from 0 to 10."]}),
        (answers(anxiety=2.5), {"anxiety": ["Must be a whole number from 0 to 10."]}),
        (answers(anxiety="3"), {"anxiety": ["Must be a whole number from 0 to 10."]}),
        (answers(anxiety=11), {"anxiety": ["Must be between 0 and 10."]}),
        (answers(anxiety=-1), {"anxiety": ["Must be between 0 and 10."]}),
        (answers(pressured=1), {"pressured": ["Must be true or false."]}),
        (answers(pressured="false"), {"pressured": ["Must be true or false."]}),
        (answers(initiated_by="Someone"), {"initiated_by": ["Must be one of: 'Me', 'My partner'."]}),
        (answers(initiated_by=["Me"]), {"initiated_by": ["Must be one of the options, as a string."]}),
        (answers(sensations="Pressure"), {"sensations": ["Must be a list of options."]}),
        (answers(sensations=["Pressure", "Smell"]),
         {"sensations": ["'Smell' is not an option; choose from: 'Temperature', 'Pressure', "
                         "'Texture'."]}),
        (answers(sensations=["Pressure", "Pressure"]),
         {"sensations": ["Each option may be chosen only once."]}),
        (answers(distractions=[]), {"distractions": ["Choose at least one option."]}),
        (answers(reflection="x" * 21), {"reflection": ["Must be at most 20 characters (this is 21)."]}),
        (answers(journal="x" * 5001), {"journal": ["Must be at most 5000 characters (this is 5001)."]}),
        (answers(reflection=42), {"reflection": ["Must be text."]}),
        (answers(summary="   "), {"summary": ["This question is required."]}),
        (
            answers(anxiety=..., pain="high", colour=1, pressured=None),
            {
                "colour": ["This form has no question 'colour'."],
                "anxiety": ["This question is required."],
                "pain": ["Must be a whole number from 0 to 10."],
                "pressured": ["This question is required."],
            },
        ),
    ],
)  # fmt: skip
def test_validate_answers(given: dict[str, Any], errors: dict[str, list[str]]) -> None:
    assert validate_answers(FORM, given) == errors


def test_answers_must_be_a_mapping() -> None:
    assert validate_answers(FORM, ["anxiety", 3]) == {  # type: ignore[arg-type]
        "answers": ["Answers must be an object mapping question keys to answers."]
    }


def test_long_unknown_values_are_not_echoed_in_full() -> None:
    errors = validate_answers(FORM, answers(sensations=["x" * 10_000]))
    assert len(errors["sensations"][0]) < 200


@pytest.mark.parametrize(
    ("given", "raised"),
    [
        (answers(), set()),
        (answers(pain=3), set()),
        (answers(pain=4), {"pain"}),
        (answers(pain=10), {"pain"}),
        (answers(pressured=True), {"pressured"}),
        (answers(pain=7, pressured=True), {"pain", "pressured"}),
        (answers(pain=True), set()),  # a boolean is not a rating
        (answers(pressured="yes"), set()),  # invalid answers raise nothing here
        (answers(pressured=..., pain=...), set()),
        (answers(anxiety=10), set()),  # no flag on anxiety
    ],
)
def test_flags_from_answers(given: dict[str, Any], raised: set[str]) -> None:
    assert flags_from_answers(FORM, given) == raised


def test_sensate_focus_form_can_raise_every_flag(catalog: Catalog) -> None:
    form = catalog.exercise("sf-1-nongenital-touch").form
    worst: dict[str, Any] = {
        "duration_minutes": 30,
        "initiated_by": "Me",
        "anxiety": 9,
        "pain": 8,
        "distress": 9,
        "within_limits": False,
        "pressured": True,
        "stopped": True,
        "unsafe": True,
        "ready_to_move_on": False,
    }
    assert validate_answers(form, worst) == {}
    assert flags_from_answers(form, worst) == set(FLAGS)
    calm = worst | {"anxiety": 2, "pain": 0, "distress": 1, "pressured": False,
                    "stopped": False, "unsafe": False}  # fmt: skip
    assert validate_answers(form, calm) == {}
    assert flags_from_answers(form, calm) == frozenset()
