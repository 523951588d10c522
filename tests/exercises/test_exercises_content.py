"""The shipped catalog: it loads cleanly and carries what PRODUCT.md asks of content."""

from __future__ import annotations

import re

import pytest

from exercises.catalog import Catalog, check_catalog, default_catalog_path
from exercises.model import READY_KEY, Exercise


def test_default_path_is_the_repositorys_seed_data() -> None:
    path = default_catalog_path()
    assert path.name == "seed_data"
    assert (path / "exercises").is_dir()
    assert (path / "programs").is_dir()
    assert (path / "README.md").is_file()


def test_shipped_catalog_has_no_problems() -> None:
    assert [str(p) for p in check_catalog()] == []


def test_counts(catalog: Catalog) -> None:
    kinds = [e.kind for e in catalog.exercises.values()]
    assert kinds.count("sensate_focus") >= 4
    assert kinds.count("communication") >= 4
    assert kinds.count("journaling") >= 3
    assert len(catalog.programs) >= 3


def _all(catalog: Catalog) -> list[Exercise]:
    return list(catalog.exercises.values())


def test_every_exercise_is_complete(catalog: Catalog) -> None:
    for exercise in _all(catalog):
        assert exercise.instructions.count("\n") >= 5, exercise.slug
        safety = exercise.safety.lower()
        assert "stop" in safety, exercise.slug
        assert "pain" in safety, exercise.slug
        assert "not an emergency service" in safety, exercise.slug
        assert len(exercise.form) >= 3, exercise.slug
        assert exercise.form.flags, exercise.slug
        assert exercise.sources, exercise.slug
        assert all(len(source) > 20 for source in exercise.sources), exercise.slug


def test_joint_and_solo(catalog: Catalog) -> None:
    solo_steps = [e.slug for e in _all(catalog) if e.kind == "sensate_focus" and not e.joint]
    # The one solo sensate-focus step comes before partnered touch (issue 14, point 13).
    assert solo_steps == ["sf-self-exploration"]
    for exercise in _all(catalog):
        if exercise.kind == "journaling":
            assert not exercise.joint, exercise.slug
    drills = [e for e in _all(catalog) if e.kind == "communication"]
    assert sum(e.joint for e in drills) > len(drills) / 2


def test_sensate_focus_stages_carry_the_protocol(catalog: Catalog) -> None:
    stages = sorted(
        (e for e in _all(catalog) if e.kind == "sensate_focus" and e.joint), key=lambda e: e.slug
    )
    assert len(stages) >= 4
    for exercise in stages:
        assert exercise.includes and exercise.off_limits, exercise.slug
        assert exercise.initiator and "not tonight" in exercise.initiator.lower(), exercise.slug
        assert exercise.duration_range is not None
        low, high = exercise.duration_range
        assert 20 <= low <= exercise.duration_minutes <= high <= 60, exercise.slug
        text = exercise.instructions.lower()
        assert "two or three sessions a week" in text, exercise.slug
        assert "either of you may decline" in exercise.safety.lower(), exercise.slug
        assert "push through" in exercise.safety.lower(), exercise.slug
    first = stages[0]
    limits = " ".join(first.off_limits).lower()
    for word in ("breasts", "chest", "genitals", "intercourse", "oral sex", "orgasm"):
        assert word in limits, word


@pytest.mark.parametrize(
    ("key", "qtype"),
    [
        ("duration_minutes", "scale"),
        ("initiated_by", "choice"),
        ("sensations", "choice"),
        ("distractions", "choice"),
        ("refocused", "boolean"),
        ("anxiety", "scale"),
        ("pain", "scale"),
        ("distress", "scale"),
        ("within_limits", "boolean"),
        ("pressured", "boolean"),
        ("stopped", "boolean"),
        ("unsafe", "boolean"),
        (READY_KEY, "boolean"),
        ("reflection", "text"),
    ],
)
def test_sensate_focus_form_asks_what_clinicians_ask(
    catalog: Catalog, key: str, qtype: str
) -> None:
    for exercise in _all(catalog):
        if exercise.kind != "sensate_focus" or not exercise.joint:
            continue
        question = exercise.form.get(key)
        assert question is not None, (exercise.slug, key)
        assert question.type == qtype


def test_sensate_focus_form_details(catalog: Catalog) -> None:
    form = catalog.exercise("sf-1-nongenital-touch").form
    sensations = form.get("sensations")
    distractions = form.get("distractions")
    assert sensations is not None and sensations.multiple
    assert distractions is not None and distractions.multiple
    assert any("Temperature" in o for o in sensations.options)
    assert any("Pressure" in o for o in sensations.options)
    assert any("Texture" in o for o in sensations.options)
    assert any("Expectations" in o for o in distractions.options)
    assert any("partner" in o for o in distractions.options)
    for key in ("anxiety", "pain"):
        scale = form.get(key)
        assert scale is not None
        assert (scale.min, scale.max) == (0, 10)
        assert scale.min_label and scale.max_label
    pain = form.get("pain")
    assert pain is not None and pain.flag == "pain" and pain.flag_at is not None
    reflection = form.get("reflection")
    assert reflection is not None and not reflection.required
    flags = {q.key: q.flag for q in form if q.flag}
    assert flags == {
        "pain": "pain",
        "distress": "distress",
        "pressured": "pressured",
        "stopped": "stop",
        "unsafe": "unsafe",
    }


def test_journaling_prompts(catalog: Catalog) -> None:
    journals = [e for e in _all(catalog) if e.kind == "journaling"]
    assert len(journals) >= 3
    prompts = 0
    for journal in journals:
        texts = [q for q in journal.form if q.type == "text"]
        prompts += len(texts)
        assert "distress" in journal.form.flags, journal.slug
        # each prompt is also listed, numbered, in the instructions
        listed = journal.instructions.split("## Prompts", 1)[1]
        assert len(re.findall(r"^\d+\. ", listed, flags=re.MULTILINE)) == len(texts), journal.slug
    assert prompts >= 12


def test_programs_combine_kinds(catalog: Catalog) -> None:
    course = catalog.program("sensate-focus-course")
    assert len(course.stages) >= 4
    for stage in course.stages:
        kinds = [catalog.exercise(slug).kind for slug in stage.exercise_slugs]
        assert kinds[0] == "sensate_focus"
        assert {"communication", "journaling"} & set(kinds), stage.title
        assert stage.criteria is not None and stage.criteria.require_ready
        assert stage.guidance.strip()
    assert "communication-foundations" in catalog.programs
    assert "desire-discrepancy" in catalog.programs
    for program in catalog.programs.values():
        assert program.owner_id is None
        assert [s.index for s in program.stages] == list(range(1, len(program.stages) + 1))
        assert program.exercise_slugs <= set(catalog.exercises)
        for stage in program.stages:
            for item in stage.items:
                assert 1 <= item.per_week <= 7
