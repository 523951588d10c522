"""The catalog API, seeding versions, custom programs, and refusing broken content."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from exercises.catalog import default_catalog_path, load_catalog
from server import ConfigError, create_app
from server.cli import catalog_check
from server.extensions import db
from server.models import ExerciseVersion, ProgramVersion
from server.services.catalog import seed_catalog
from tests.api.test_permissions import custom_program_body
from tests.factories import Api


@pytest.fixture
def broken_catalog(tmp_path: Path) -> Path:
    root = tmp_path / "catalog"
    shutil.copytree(default_catalog_path(), root)
    path = root / "exercises" / "communication.yaml"
    text = path.read_text()
    path.write_text(text.replace("kind: communication", "kind: massage", 1))
    return root


def test_every_exercise_is_served_complete(api: Api) -> None:
    user = api.therapist()
    r = api.call("GET", "/api/v1/exercises?page_size=100", user)
    assert r.status_code == 200
    exercises = r.get_json()
    assert len(exercises) == len(load_catalog().exercises)
    for exercise in exercises:
        assert {
            "slug",
            "kind",
            "title",
            "summary",
            "instructions",
            "joint",
            "duration_minutes",
            "safety",
            "form",
            "sources",
        } <= set(exercise)
        assert len(exercise["instructions"]) > 200, exercise["slug"]
        assert "stop" in exercise["safety"].lower(), exercise["slug"]
        assert exercise["form"] and exercise["sources"]
        for question in exercise["form"]:
            assert {"key", "type", "label", "required"} <= set(question)
            if question["type"] == "scale":
                assert question["min"] < question["max"]
                assert question["min_label"] and question["max_label"]
            if question["type"] == "choice":
                assert question["options"]


def test_exercises_can_be_filtered_by_kind(api: Api) -> None:
    _, a, _ = api.couple_with_partners(api.therapist())
    r = api.call("GET", "/api/v1/exercises?kind=sensate_focus", a)
    kinds = {e["kind"] for e in r.get_json()}
    assert kinds == {"sensate_focus"}
    assert api.call("GET", "/api/v1/exercises?kind=massage", a).status_code == 422


def test_one_exercise_and_404(api: Api) -> None:
    t = api.therapist()
    r = api.call("GET", "/api/v1/exercises/sf-1-nongenital-touch", t)
    body = r.get_json()
    assert body["kind"] == "sensate_focus"
    assert body["joint"] is True
    assert body["off_limits"]
    keys = {q["key"] for q in body["form"]}
    assert {"anxiety", "pain", "pressured", "ready_to_move_on", "reflection"} <= keys
    assert api.call("GET", "/api/v1/exercises/nope", t).status_code == 404


def test_programs_list_catalog_and_own_custom_ones(api: Api) -> None:
    t = api.therapist()
    other = api.therapist()
    body = custom_program_body("my-own")
    created = api.call("POST", "/api/v1/programs", t, json=body)
    assert created.status_code == 201
    program = created.get_json()
    assert program["custom"] is True
    assert program["owner_id"] == t.id
    assert [s["index"] for s in program["stages"]] == [1]
    assert program["stages"][0]["exercises"] == [{"exercise": "daily-appreciations", "per_week": 4}]
    catalog_slugs = set(load_catalog().programs)
    mine = {p["slug"] for p in api.call("GET", "/api/v1/programs", t).get_json()}
    theirs = {p["slug"] for p in api.call("GET", "/api/v1/programs", other).get_json()}
    assert mine == catalog_slugs | {"my-own"}
    assert theirs == catalog_slugs
    assert api.call("GET", "/api/v1/programs/my-own", other).status_code == 404
    sf = api.call("GET", "/api/v1/programs/sensate-focus-course", other).get_json()
    assert len(sf["stages"]) >= 4
    assert all(stage["guidance"] and stage["exercises"] for stage in sf["stages"])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            lambda b: b["stages"][0]["exercises"][0].update(exercise="no-such-thing"),
            "stages.0.exercises.0.exercise",
        ),
        (
            lambda b: b["stages"][0]["exercises"][0].update(per_week=0),
            "stages.0.exercises.0.per_week",
        ),
        (
            lambda b: b["stages"][0]["exercises"][0].update(per_week="three"),
            "stages.0.exercises.0.per_week",
        ),
        (lambda b: b.update(slug="sensate-focus-course"), "slug"),
        (lambda b: b.update(slug="Not A Slug!"), "slug"),
        (lambda b: b.update(stages=[]), "stages"),
        (lambda b: b.pop("title"), "title"),
        (lambda b: b.update(owner_id="someone"), "owner_id"),
    ],
)
def test_invalid_custom_programs_are_422_naming_the_field(
    api: Api,
    app: Flask,
    change,
    field: str,  # type: ignore[no-untyped-def]
) -> None:
    t = api.therapist()
    body = custom_program_body()
    change(body)
    r = api.call("POST", "/api/v1/programs", t, json=body)
    assert r.status_code == 422, r.get_json()
    assert field in r.get_json()["errors"], r.get_json()
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(ProgramVersion)
                .where(ProgramVersion.owner_id == t.id)
            )
            == 0
        )


def test_the_same_custom_slug_twice_is_rejected(api: Api) -> None:
    t = api.therapist()
    assert (
        api.call("POST", "/api/v1/programs", t, json=custom_program_body("dup")).status_code == 201
    )
    again = api.call("POST", "/api/v1/programs", t, json=custom_program_body("dup"))
    assert again.status_code in (409, 422)
    assert "slug" in again.get_json().get("errors", {}) or again.status_code == 409
    # another therapist may use the same slug for their own
    assert (
        api.call(
            "POST", "/api/v1/programs", api.therapist(), json=custom_program_body("dup")
        ).status_code
        == 201
    )


def test_seeding_is_idempotent_and_never_changes_a_stored_version(
    app_ctx: Flask, broken_catalog: Path, tmp_path: Path
) -> None:
    def counts() -> tuple[int, int]:
        return (
            db.session.scalar(select(func.count()).select_from(ExerciseVersion)) or 0,
            db.session.scalar(select(func.count()).select_from(ProgramVersion)) or 0,
        )

    before = counts()
    lines = list(seed_catalog(load_catalog()))
    assert counts() == before
    assert "0 new versions" in lines[-1]

    # Same version, different words: kept as stored, and the operator is told.
    edited = tmp_path / "edited"
    shutil.copytree(default_catalog_path(), edited)
    path = edited / "exercises" / "communication.yaml"
    path.write_text(
        path.read_text().replace('title: "Speaker and listener"', 'title: "Speaker & listener"', 1)
    )
    lines = list(seed_catalog(load_catalog(edited)))
    assert any("speaker-listener version 2 changed" in line for line in lines)
    stored = db.session.scalars(
        select(ExerciseVersion).where(ExerciseVersion.slug == "speaker-listener")
    ).all()
    assert [row.data["title"] for row in stored] == ["Speaker and listener"]

    # A new version is added beside the old one, and becomes what the API serves.
    path.write_text(
        path.read_text().replace(
            "- slug: speaker-listener\n  version: 2", "- slug: speaker-listener\n  version: 3", 1
        )
    )
    list(seed_catalog(load_catalog(edited)))
    versions = sorted(
        db.session.scalars(
            select(ExerciseVersion.version).where(ExerciseVersion.slug == "speaker-listener")
        )
    )
    assert versions == [2, 3]
    from server.services.catalog import get_exercise

    assert get_exercise(slug="speaker-listener")["title"] == "Speaker & listener"
    db.session.rollback()


def test_the_app_refuses_to_start_on_a_broken_catalog(tmp_path: Path, broken_catalog: Path) -> None:
    with pytest.raises(ConfigError) as info:
        create_app(
            {
                "TANDEM_INSTANCE_PATH": str(tmp_path / "i"),
                "TANDEM_CATALOG_PATH": str(broken_catalog),
            }
        )
    assert info.value.variable == "TANDEM_CATALOG_PATH"
    assert "communication.yaml" in str(info.value)


def test_catalog_check_names_the_place(broken_catalog: Path) -> None:
    from click.testing import CliRunner

    bad = CliRunner().invoke(catalog_check, [str(broken_catalog)])
    assert bad.exit_code == 1
    assert "communication.yaml" in bad.output
    assert "speaker-listener" in bad.output
    assert "kind" in bad.output
    good = CliRunner().invoke(catalog_check, [str(default_catalog_path())])
    assert good.exit_code == 0, good.output
