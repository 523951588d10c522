"""The catalog: seeding it into the database, reading it, therapists' custom programs."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from exercises.catalog import Catalog, validate_program_dict
from exercises.model import Exercise, Program, without_therapist_notes
from exercises.schema import CatalogError
from server.db import add_unique
from server.errors import Conflict, NotFound, ValidationFailed
from server.extensions import db
from server.models import CATALOG_SCOPE, THERAPIST, ExerciseVersion, ProgramVersion, User
from server.services.audit import record_event

log = logging.getLogger(__name__)


def loaded_catalog() -> Catalog:
    """The validated catalog the app was started with."""
    return current_app.extensions["tandem.catalog"]  # type: ignore[no-any-return]


def seed_catalog(catalog: Catalog) -> Iterator[str]:
    """Store every exercise and program version not stored yet; never change one.

    A stored version whose content differs from the files is left as it is (running
    assignments depend on it) and reported, so that the editor bumps `version`.
    """
    stored_ex = {
        (row.slug, row.version): row for row in db.session.scalars(select(ExerciseVersion))
    }
    added = 0
    for exercise in catalog.exercises.values():
        data = exercise.to_dict()
        row = stored_ex.get((exercise.slug, exercise.version))
        if row is None:
            db.session.add(
                ExerciseVersion(
                    slug=exercise.slug, version=exercise.version, kind=exercise.kind, data=data
                )
            )
            added += 1
        elif row.data != data:
            yield (
                f"warning: exercise {exercise.slug} version {exercise.version} changed in the "
                "files but is already stored; bump its version to publish the change"
            )
    stored_pr = {
        (row.slug, row.version): row
        for row in db.session.scalars(
            select(ProgramVersion).where(ProgramVersion.scope == CATALOG_SCOPE)
        )
    }
    for program in catalog.programs.values():
        data = program.to_dict()
        row = stored_pr.get((program.slug, program.version))
        if row is None:
            db.session.add(
                ProgramVersion(
                    scope=CATALOG_SCOPE,
                    slug=program.slug,
                    version=program.version,
                    title=program.title,
                    data=data,
                )
            )
            added += 1
        elif row.data != data:
            yield (
                f"warning: program {program.slug} version {program.version} changed in the "
                "files but is already stored; bump its version to publish the change"
            )
    db.session.flush()
    yield (
        f"Catalog: {len(catalog.exercises)} exercises, {len(catalog.programs)} programs "
        f"({added} new versions stored)."
    )


def _latest(model: type[Any], *where: Any) -> Any:
    """Rows of `model` at the highest version of each slug (one query)."""
    newest = (
        select(model.slug, func.max(model.version).label("version"))
        .where(*where)
        .group_by(model.slug)
        .subquery()
    )
    return (
        select(model)
        .join(newest, (model.slug == newest.c.slug) & (model.version == newest.c.version))
        .where(*where)
    )


def for_viewer(data: dict[str, Any], viewer: User | None) -> dict[str, Any]:
    """An exercise or program as `viewer` may see it: `therapist_notes` (guidance for the
    therapist, such as screening before joint exercises) only for therapists, never for
    a partner. `viewer=None` is a trusted internal caller and sees everything."""
    if viewer is None or viewer.role == THERAPIST:
        return data
    return without_therapist_notes(data)


def list_exercises(*, kind: str | None = None, viewer: User | None = None) -> list[dict[str, Any]]:
    """Every exercise at its newest version, as `viewer` may see it."""
    query = _latest(ExerciseVersion)
    if kind is not None:
        query = query.where(ExerciseVersion.kind == kind)
    rows = db.session.scalars(query.order_by(ExerciseVersion.kind, ExerciseVersion.slug))
    return [for_viewer(row.data, viewer) for row in rows]


def get_exercise(
    *, slug: str, viewer: User | None = None, version: int | None = None
) -> dict[str, Any]:
    """One exercise at its newest version (or at `version`), as `viewer` may see it.

    Every published version stays readable: an assignment keeps the exercise versions
    it started with, and its check-ins are validated against those forms."""
    if version is None:
        query = _latest(ExerciseVersion, ExerciseVersion.slug == slug)
    else:
        query = select(ExerciseVersion).where(
            ExerciseVersion.slug == slug, ExerciseVersion.version == version
        )
    row = db.session.scalars(query).first()
    if row is None:
        raise NotFound("No such exercise." if version is None else "No such exercise version.")
    return for_viewer(row.data, viewer)


def latest_exercises() -> dict[str, Exercise]:
    """Every exercise at its newest version, as model objects."""
    return {
        row.slug: Exercise.from_dict(row.data)
        for row in db.session.scalars(_latest(ExerciseVersion))
    }


def _visible_scopes(user: User) -> list[str]:
    return [CATALOG_SCOPE, user.id] if user.role == THERAPIST else [CATALOG_SCOPE]


def program_view(row: ProgramVersion, viewer: User | None = None) -> dict[str, Any]:
    """A stored program as `viewer` may see it (see `for_viewer`)."""
    return {**for_viewer(row.data, viewer), "custom": row.scope != CATALOG_SCOPE}


def list_programs(*, user: User) -> list[dict[str, Any]]:
    """Catalog programs, and a therapist's own custom programs."""
    rows = db.session.scalars(
        _latest(ProgramVersion, ProgramVersion.scope.in_(_visible_scopes(user))).order_by(
            ProgramVersion.scope != CATALOG_SCOPE, ProgramVersion.slug
        )
    )
    return [program_view(row, user) for row in rows]


def get_program_version(*, user: User, slug: str) -> ProgramVersion:
    """The newest version of a program the user may see (the owner's own first)."""
    rows = list(
        db.session.scalars(
            _latest(
                ProgramVersion,
                ProgramVersion.slug == slug,
                ProgramVersion.scope.in_(_visible_scopes(user)),
            )
        )
    )
    if not rows:
        raise NotFound("No such program.")
    rows.sort(key=lambda r: r.scope == CATALOG_SCOPE)
    return rows[0]


_INDEX = re.compile(r"\[(\d+)\]")


def _dotted(path: str) -> str:
    """`stages[0].exercises[1].exercise` → `stages.0.exercises.1.exercise`, the shape of
    every other 422 in the API."""
    return _INDEX.sub(r".\1", path) or "_schema"


def create_custom_program(*, therapist: User, data: dict[str, Any]) -> ProgramVersion:
    """Validate and store a therapist's own program built from catalog exercises."""
    taken = set(
        db.session.scalars(
            select(ProgramVersion.slug).where(
                ProgramVersion.scope.in_([CATALOG_SCOPE, therapist.id])
            )
        )
    )
    try:
        program: Program = validate_program_dict(
            data, latest_exercises(), owner_id=therapist.id, taken_slugs=taken
        )
    except CatalogError as exc:
        errors: dict[str, list[str]] = {}
        for problem in exc.problems:
            errors.setdefault(_dotted(problem.field), []).append(problem.message)
        raise ValidationFailed("The program is not valid.", errors=errors) from None
    row = ProgramVersion(
        scope=therapist.id,
        owner_id=therapist.id,
        slug=program.slug,
        version=program.version,
        title=program.title,
        data=program.to_dict(),
    )
    if not add_unique(db.session, row):
        raise Conflict(f"The slug {program.slug!r} is already taken.", code="slug_taken")
    record_event(
        actor_id=therapist.id,
        action="program.created",
        object_type="program",
        object_id=row.id,
    )
    return row
