"""The exercise catalog and programs."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from server.api import Blueprint, page_of
from server.auth import current_user, login_required
from server.models import THERAPIST
from server.schemas.catalog import (
    ExerciseQueryArgsSchema,
    ExerciseSchema,
    ExerciseVersionArgsSchema,
    ProgramCreateSchema,
    ProgramSchema,
)
from server.services import catalog

exercises_blp = Blueprint("exercises", __name__, description="The exercise catalog")
programs_blp = Blueprint("programs", __name__, description="Programs: exercises in stages")


@exercises_blp.route("")
class Exercises(MethodView):
    @login_required()
    @exercises_blp.arguments(ExerciseQueryArgsSchema, location="query")
    @exercises_blp.response(200, ExerciseSchema(many=True))
    @exercises_blp.paginate()
    def get(self, args: dict[str, str], pagination_parameters: Any) -> object:
        """Every exercise of the catalog (newest version of each)."""
        exercises = catalog.list_exercises(kind=args.get("kind"), viewer=current_user())
        return page_of(exercises, pagination_parameters)


@exercises_blp.route("/<slug>")
class ExerciseItem(MethodView):
    @login_required()
    @exercises_blp.arguments(ExerciseVersionArgsSchema, location="query")
    @exercises_blp.response(200, ExerciseSchema)
    @exercises_blp.alt_response(404, description="No such exercise (or no such version)")
    def get(self, args: dict[str, int], slug: str) -> object:
        """One exercise: instructions, safety notes, check-in form and sources."""
        return catalog.get_exercise(slug=slug, viewer=current_user(), version=args.get("version"))


@programs_blp.route("")
class Programs(MethodView):
    @login_required()
    @programs_blp.response(200, ProgramSchema(many=True))
    @programs_blp.paginate()
    def get(self, pagination_parameters: Any) -> object:
        """Catalog programs, and the calling therapist's own."""
        return page_of(catalog.list_programs(user=current_user()), pagination_parameters)

    @login_required(THERAPIST)
    @programs_blp.doc(operationId="createProgram")
    @programs_blp.arguments(ProgramCreateSchema)
    @programs_blp.response(201, ProgramSchema)
    @programs_blp.alt_response(
        409, description="Another request took the same slug at the same moment (retry)"
    )
    @programs_blp.alt_response(
        422,
        description=(
            "Invalid fields: unknown exercise slugs, or a slug already taken by the catalog "
            "or by one of the caller's programs (`errors.slug`)"
        ),
    )
    def post(self, body: dict[str, Any]) -> object:
        """Create a custom program from catalog exercises (visible only to its owner)."""
        row = catalog.create_custom_program(therapist=current_user(), data=body)
        return catalog.program_view(row, current_user())


@programs_blp.route("/<slug>")
class ProgramItem(MethodView):
    @login_required()
    @programs_blp.response(200, ProgramSchema)
    @programs_blp.alt_response(404, description="No such program, or not yours")
    def get(self, slug: str) -> object:
        """One program with its stages."""
        user = current_user()
        return catalog.program_view(catalog.get_program_version(user=user, slug=slug), user)
