"""The catalog loader rejects broken content with precise messages, all at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from exercises.catalog import CatalogError, check_catalog, load_catalog, main
from exercises.schema import Problem

Edit = Callable[[str, Callable[[Any], object]], None]  # the `edit` fixture

SF = "exercises/sensate_focus.yaml"
COMM = "exercises/communication.yaml"
JOURNAL = "exercises/journaling.yaml"
COURSE = "programs/sensate_focus_course.yaml"
FOUNDATIONS = "programs/communication_foundations.yaml"


def item(data: list[dict[str, Any]], slug: str) -> dict[str, Any]:
    return next(entry for entry in data if entry["slug"] == slug)


def sf1(change: Callable[[dict[str, Any]], object]) -> Callable[[Any], object]:
    """A change to the first sensate-focus exercise."""
    return lambda data: change(item(data, "sf-1-nongenital-touch"))


def question(index: int, **fields: object) -> Callable[[Any], object]:
    """Set fields on question `index` of sf-1's form (None deletes the field)."""

    def change(exercise: dict[str, Any]) -> None:
        q = exercise["form"][index]
        for name, value in fields.items():
            if value is None:
                q.pop(name, None)
            else:
                q[name] = value

    return sf1(change)


def unflag(exercise: dict[str, Any]) -> None:
    """Remove every safety flag from an exercise's form."""
    for q in exercise["form"]:
        q.pop("flag", None)
        q.pop("flag_at", None)


def program(data: Any) -> dict[str, Any]:
    """The program a file holds: the course file holds several (a list)."""
    return item(data, "sensate-focus-course") if isinstance(data, list) else data


def stage0(change: Callable[[dict[str, Any]], object]) -> Callable[[Any], object]:
    return lambda data: change(program(data)["stages"][0])


# (file, change, expected "item: field: message")
BROKEN: list[tuple[str, Callable[[Any], object], str]] = [
    (SF, sf1(lambda e: e.pop("instructions")), "sf-1-nongenital-touch: instructions: is required"),
    (SF, sf1(lambda e: e.update(instructions="  \n")), "sf-1-nongenital-touch: instructions: must not be empty"),
    (SF, sf1(lambda e: e.update(joint="yes")), "sf-1-nongenital-touch: joint: must be true or false"),
    (SF, sf1(lambda e: e.update(colour="red")), "sf-1-nongenital-touch: colour: unknown field"),
    (SF, sf1(lambda e: e.update(kind="massage")), "sf-1-nongenital-touch: kind: must be one of sensate_focus, communication, journaling"),
    (SF, sf1(lambda e: e.update(version=0)), "sf-1-nongenital-touch: version: must be between 1 and 1000000"),
    (SF, sf1(lambda e: e.update(version="2")), "sf-1-nongenital-touch: version: must be a whole number"),
    (SF, sf1(lambda e: e.update(version=True)), "sf-1-nongenital-touch: version: must be a whole number"),
    (SF, sf1(lambda e: e.update(slug="SF_1")), "SF_1: slug: must be lower-case letters, digits and single hyphens"),
    (SF, sf1(lambda e: e.update(duration_minutes=90)), "sf-1-nongenital-touch: duration_range: must contain duration_minutes"),
    (SF, sf1(lambda e: e.update(duration_range=[20])), "sf-1-nongenital-touch: duration_range: must be two whole numbers"),
    (SF, sf1(lambda e: e.update(sources=[])), "sf-1-nongenital-touch: sources: must not be empty"),
    (SF, sf1(lambda e: e.pop("sources")), "sf-1-nongenital-touch: sources: is required"),
    (SF, sf1(lambda e: e.update(safety="Be kind. Stop when you like. Not an emergency service.")), "sf-1-nongenital-touch: safety: must say what to do if there is pain (mention 'pain')"),
    (SF, sf1(lambda e: e.update(safety="Pain? Tell us. Not an emergency service.")), "sf-1-nongenital-touch: safety: must tell people they may stop at any time"),
    (SF, sf1(lambda e: e.pop("includes")), "sf-1-nongenital-touch: includes: is required for sensate-focus exercises"),
    (SF, sf1(lambda e: e.update(off_limits=[])), "sf-1-nongenital-touch: off_limits: is required for sensate-focus exercises"),
    (SF, sf1(lambda e: e.pop("initiator")), "sf-1-nongenital-touch: initiator: is required for sensate-focus exercises"),
    (SF, sf1(lambda e: e.update(includes=["hands", "hands"])), "sf-1-nongenital-touch: includes[1]: duplicate entry 'hands'"),
    (SF, sf1(lambda e: e.update(form=[])), "sf-1-nongenital-touch: form: must have at least one question"),
    (SF, sf1(lambda e: e.update(form="anxiety")), "sf-1-nongenital-touch: form: must be a list of questions"),
    (SF, question(6, max=0), "sf-1-nongenital-touch: form[6].max: must be greater than min"),
    (SF, question(6, max=3, min=3), "sf-1-nongenital-touch: form[6].max: must be greater than min"),
    (SF, question(6, min=0.5), "sf-1-nongenital-touch: form[6].min: must be a whole number"),
    (SF, question(6, min_label=None), "sf-1-nongenital-touch: form[6].min_label: is required"),
    (SF, question(7, flag="hurt"), "sf-1-nongenital-touch: form[7].flag: must be one of pain, distress, stop, pressured, unsafe"),
    (SF, question(7, flag_at=11), "sf-1-nongenital-touch: form[7].flag_at: must be inside the scale (0 to 10)"),
    (SF, question(7, flag_at=None), "sf-1-nongenital-touch: form[7].flag_at: is required when the question has a flag"),
    (SF, question(6, flag_at=3), "sf-1-nongenital-touch: form[6].flag_at: needs a flag to raise"),
    (SF, question(14, flag_at=1), "sf-1-nongenital-touch: form[14].flag_at: only scale questions have 'flag_at'"),
    (SF, question(18, flag="distress"), "sf-1-nongenital-touch: form[18].flag: only scale and boolean questions have 'flag'"),
    (SF, question(2, options=[]), "sf-1-nongenital-touch: form[2].options: must not be empty"),
    (SF, question(2, options=["Me", "Me"]), "sf-1-nongenital-touch: form[2].options[1]: duplicate entry 'Me'"),
    (SF, question(2, options=[True, False]), "sf-1-nongenital-touch: form[2].options[0]: must be a string"),
    (SF, question(2, options=None), "sf-1-nongenital-touch: form[2].options: is required"),
    (SF, question(5, type="yesno"), "sf-1-nongenital-touch: form[5].type: must be one of scale, boolean, choice, text"),
    (SF, question(5, key="anxiety"), "sf-1-nongenital-touch: form[6].key: duplicate key 'anxiety' (also form[5])"),
    (SF, question(5, key="Refocused"), "sf-1-nongenital-touch: form[5].key: must be lower-case letters, digits and underscores"),
    (SF, question(18, max_length=6000), "sf-1-nongenital-touch: form[18].max_length: must be between 1 and 5000"),
    (SF, question(5, options=["a"]), "sf-1-nongenital-touch: form[5].options: only choice questions have 'options'"),
    (SF, question(5, required="no"), "sf-1-nongenital-touch: form[5].required: must be true or false"),
    (SF, question(5, hint="x"), "sf-1-nongenital-touch: form[5].hint: unknown field"),
    (SF, question(16, flag=None), "sf-1-nongenital-touch: form: a sensate-focus form must ask a question flagged 'unsafe'"),
    (SF, question(17, key="ready"), "sf-1-nongenital-touch: form: a sensate-focus form must ask the boolean 'ready_to_move_on'"),
    (JOURNAL, lambda data: item(data, "journal-body-kindness").update(joint=True), "journal-body-kindness: joint: journaling exercises are solo (joint: false)"),
    (JOURNAL, lambda data: unflag(item(data, "journal-body-kindness")), "journal-body-kindness: form: must include at least one safety question (one with a flag)"),
    (COURSE, stage0(lambda s: s["exercises"][0].update(exercise="nope")), "sensate-focus-course: stages[0].exercises[0].exercise: unknown exercise 'nope'"),
    (COURSE, stage0(lambda s: s["exercises"][1].update(per_week=0)), "sensate-focus-course: stages[0].exercises[1].per_week: must be between 1 and 14"),
    (COURSE, stage0(lambda s: s["exercises"][1].update(per_week=15)), "sensate-focus-course: stages[0].exercises[1].per_week: must be between 1 and 14"),
    (COURSE, stage0(lambda s: s["exercises"].append({"exercise": "daily-appreciations", "per_week": 1})), "sensate-focus-course: stages[0].exercises[3].exercise: 'daily-appreciations' is already in this stage"),
    (COURSE, stage0(lambda s: s.update(exercises=[])), "sensate-focus-course: stages[0].exercises: must not be empty"),
    (COURSE, lambda data: program(data)["stages"][1].update(index=3), "sensate-focus-course: stages[1].index: must be 2 (stages are numbered from 1, in order)"),
    (COURSE, stage0(lambda s: s.update(min_weeks=-1)), "sensate-focus-course: stages[0].min_weeks: must be between 0 and 52"),
    (COURSE, stage0(lambda s: s.pop("guidance")), "sensate-focus-course: stages[0].guidance: is required"),
    (COURSE, stage0(lambda s: s["criteria"].update(max_mean={"reflection": 3})), "sensate-focus-course: stages[0].criteria.max_mean.reflection: no scale question 'reflection' in this stage's exercises"),
    (COURSE, stage0(lambda s: s["criteria"].update(max_mean={"anxiety": "low"})), "sensate-focus-course: stages[0].criteria.max_mean.anxiety: must be a number"),
    (COURSE, stage0(lambda s: s["criteria"].update(exercise="speaker-listener")), "sensate-focus-course: stages[0].criteria.exercise: 'speaker-listener' is not one of this stage's exercises"),
    (COURSE, stage0(lambda s: s["criteria"].update(sessions=3)), "sensate-focus-course: stages[0].criteria.sessions: unknown field"),
    (COURSE, lambda data: program(data).update(owner_id="u1"), "sensate-focus-course: owner_id: catalog programs have no owner"),
    (COURSE, lambda data: program(data).pop("version"), "sensate-focus-course: version: is required"),
    (COURSE, lambda data: program(data).update(stages=[]), "sensate-focus-course: stages: must not be empty"),
    (FOUNDATIONS, stage0(lambda s: s["criteria"].update(require_ready=True)), "communication-foundations: stages[0].criteria.require_ready: no exercise in this stage asks 'ready_to_move_on'"),
    (COMM, lambda data: data.append({**item(data, "speaker-listener")}), "speaker-listener: slug: duplicate exercise slug; first defined in"),
    (COMM, lambda data: data.append(42), "item #7: must be a mapping of fields"),
]  # fmt: skip


@pytest.mark.parametrize(("relative", "change", "expected"), BROKEN)
def test_broken_content_is_reported_precisely(
    seed_copy: Path, edit: Edit, relative: str, change: Callable[[Any], object], expected: str
) -> None:
    edit(relative, change)
    rendered = [str(p) for p in check_catalog(seed_copy)]
    prefix = f"{seed_copy / relative}: "
    assert any(line.startswith(prefix + expected) for line in rendered), rendered


def test_problem_renders_file_item_field_message() -> None:
    problem = Problem(
        "seed_data/exercises/sensate_focus.yaml",
        "sf-stage-1",
        "form[3].max",
        "must be greater than min",
    )
    assert str(problem) == (
        "seed_data/exercises/sensate_focus.yaml: sf-stage-1: form[3].max: must be greater than min"
    )
    assert (
        str(Problem("a.yaml", "", "", "not valid YAML: x", line=4)) == "a.yaml:4: not valid YAML: x"
    )


def test_duplicate_slug_across_files(seed_copy: Path, edit: Edit) -> None:
    edit(
        JOURNAL,
        lambda data: data.append(
            item(data, "journal-body-kindness") | {"slug": "speaker-listener"}
        ),
    )
    problems = check_catalog(seed_copy)
    assert [str(p) for p in problems] == [
        f"{seed_copy / JOURNAL}: speaker-listener: slug: duplicate exercise slug; "
        f"first defined in {seed_copy / COMM}"
    ]


def test_a_broken_exercise_is_reported_once(seed_copy: Path, edit: Edit) -> None:
    # Programs use sf-1; they must not add "unknown exercise" noise for it.
    edit(SF, question(6, max=0))
    assert [str(p) for p in check_catalog(seed_copy)] == [
        f"{seed_copy / SF}: sf-1-nongenital-touch: form[6].max: must be greater than min"
    ]


def test_yaml_syntax_error_has_file_and_line(seed_copy: Path) -> None:
    path = seed_copy / JOURNAL
    lines = path.read_text(encoding="utf-8").splitlines()
    line_no = next(i for i, line in enumerate(lines) if line.startswith("  title:")) + 1
    lines[line_no - 1] = "  title: Journal: broken: colon"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    problems = check_catalog(seed_copy)
    assert len(problems) == 1
    problem = problems[0]
    assert problem.line == line_no
    assert str(problem).startswith(f"{path}:{line_no}: not valid YAML: ")


def test_repeated_yaml_key_is_an_error(seed_copy: Path) -> None:
    path = seed_copy / JOURNAL
    text = path.read_text(encoding="utf-8")
    text = text.replace("  joint: false\n", "  joint: false\n  joint: true\n", 1)
    path.write_text(text, encoding="utf-8")
    line_no = text.splitlines().index("  joint: true") + 1
    (problem,) = check_catalog(seed_copy)
    assert str(problem) == f"{path}:{line_no}: not valid YAML: found the key 'joint' twice"


def test_yaml_that_is_not_content(seed_copy: Path) -> None:
    (seed_copy / "exercises" / "empty.yaml").write_text("# nothing yet\n", encoding="utf-8")
    (seed_copy / "exercises" / "scalar.yaml").write_text("just words\n", encoding="utf-8")
    (seed_copy / "exercises" / "extra.yml").write_text("[]\n", encoding="utf-8")
    rendered = {str(p) for p in check_catalog(seed_copy)}
    assert rendered == {
        f"{seed_copy / 'exercises' / 'empty.yaml'}: the file is empty",
        f"{seed_copy / 'exercises' / 'scalar.yaml'}: must hold a mapping or a list of mappings",
        f"{seed_copy / 'exercises' / 'extra.yml'}: only .yaml files are read; rename it",
    }


def test_missing_directory(tmp_path: Path) -> None:
    (tmp_path / "exercises").mkdir()
    assert [str(p) for p in check_catalog(tmp_path)] == [
        f"{tmp_path / 'programs'}: missing directory (the catalog needs programs/)"
    ]


def test_all_problems_are_reported_at_once(seed_copy: Path, edit: Edit) -> None:
    edit(SF, question(6, max=0))
    edit(SF, sf1(lambda e: e.update(colour="red")))
    edit(JOURNAL, lambda data: item(data, "journal-desire-map").pop("safety"))
    edit(COURSE, stage0(lambda s: s["exercises"][1].update(exercise="nope")))
    (seed_copy / "programs" / "bad.yaml").write_text("slug: [unclosed\n", encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(seed_copy)
    rendered = [str(p) for p in caught.value.problems]
    assert len(rendered) == 5, rendered
    expected_fragments = [
        "sf-1-nongenital-touch: form[6].max: must be greater than min",
        "sf-1-nongenital-touch: colour: unknown field",
        "journal-desire-map: safety: is required",
        "sensate-focus-course: stages[0].exercises[1].exercise: unknown exercise 'nope'",
        "bad.yaml:2: not valid YAML",
    ]
    for fragment in expected_fragments:
        assert any(fragment in line for line in rendered), fragment
        assert fragment in str(caught.value)
    assert str(caught.value).startswith("5 problems in content:")


def test_main_reports_and_exits(
    seed_copy: Path, edit: Edit, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(seed_copy)]) == 0
    assert "ok" in capsys.readouterr().out
    edit(SF, question(6, max=0))
    assert main([str(seed_copy)]) == 1
    err = capsys.readouterr().err
    assert "form[6].max: must be greater than min" in err
    assert "1 problem(s)" in err
