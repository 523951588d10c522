"""Load and validate the shipped catalog (`seed_data/`), and custom programs.

Layout: `<root>/exercises/*.yaml` and `<root>/programs/*.yaml`; each file holds one
item (a mapping) or several (a list). Everything is validated and every problem is
collected before failing, so a clinician sees all of them in one run:

    seed_data/exercises/sensate_focus.yaml: sf-1-touch: form[3].max: must be greater than min
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from exercises.model import Exercise, Program
from exercises.schema import (
    CatalogError,
    Issues,
    Problem,
    check_exercise_content,
    check_program_references,
    read_exercise,
    read_program,
)

__all__ = [
    "Catalog",
    "CatalogError",
    "Problem",
    "check_catalog",
    "default_catalog_path",
    "load_catalog",
    "main",
    "validate_program_dict",
]


def default_catalog_path() -> Path:
    """The repository's `seed_data/` directory (found from this package, not the cwd)."""
    return Path(__file__).resolve().parent.parent / "seed_data"


@dataclass(frozen=True, slots=True)
class Catalog:
    """The validated catalog: exercises and programs by slug, in file order."""

    exercises: dict[str, Exercise]
    programs: dict[str, Program]

    def exercise(self, slug: str) -> Exercise:
        """The exercise with this slug; `KeyError` when there is none."""
        return self.exercises[slug]

    def program(self, slug: str) -> Program:
        """The program with this slug; `KeyError` when there is none."""
        return self.programs[slug]


class _UniqueKeyLoader(yaml.SafeLoader):
    """`yaml.safe_load`, except that a key repeated in one mapping is an error.

    Plain YAML keeps the last of two equal keys silently, which would hide a pasted
    question or a second `safety:` in a long file.
    """


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> object:
    seen: set[object] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # `<<: *anchor` merges; keys written next to it override, by design
        key = loader.construct_object(key_node)
        if not isinstance(key, str | int | float | bool):
            continue  # construct_mapping reports unhashable keys itself
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                f"found the key {key!r} twice",
                key_node.start_mark,
            )
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_items(path: Path, shown: str, problems: list[Problem]) -> list[object]:
    """The items of one YAML file; syntax errors become problems with a line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(shown, "", "", f"cannot read the file ({exc.__class__.__name__})"))
        return []
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        line = mark.line + 1 if mark is not None else None
        problems.append(Problem(shown, "", "", f"not valid YAML: {reason}", line=line))
        return []
    if data is None:
        problems.append(Problem(shown, "", "", "the file is empty"))
        return []
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        return data
    problems.append(Problem(shown, "", "", "must hold a mapping or a list of mappings"))
    return []


def _files(root: Path, folder: str, problems: list[Problem]) -> list[tuple[Path, str]]:
    directory = root / folder
    if not directory.is_dir():
        problems.append(
            Problem(str(directory), "", "", f"missing directory (the catalog needs {folder}/)")
        )
        return []
    for stray in sorted(directory.glob("*.yml")):
        problems.append(Problem(str(stray), "", "", "only .yaml files are read; rename it"))
    return [(p, str(p)) for p in sorted(directory.glob("*.yaml"))]


def _item_label(data: object, position: int) -> str:
    if isinstance(data, Mapping):
        slug = data.get("slug")
        if isinstance(slug, str) and slug:
            return slug
    return f"item #{position + 1}"


def _scan(root: Path) -> tuple[Catalog, list[Problem]]:
    """Read and validate everything under `root`; returns what is valid and all problems."""
    problems: list[Problem] = []
    all_slugs_known = True

    def report(shown: str, label: str, issues: Issues) -> None:
        problems.extend(Problem(shown, label, path, message) for path, message in issues)

    exercises: dict[str, Exercise] = {}
    defined_in: dict[str, str] = {}  # every exercise slug seen, valid or not -> file
    for path, shown in _files(root, "exercises", problems):
        before = len(problems)
        entries = _read_items(path, shown, problems)
        # A file that cannot be read hides its slugs; "unknown exercise" would be noise.
        all_slugs_known = all_slugs_known and len(problems) == before
        for n, data in enumerate(entries):
            issues: Issues = []
            exercise = read_exercise(data, issues)
            check_exercise_content(exercise, issues)
            slug = exercise.slug
            if slug in defined_in:
                issues.insert(
                    0, ("slug", f"duplicate exercise slug; first defined in {defined_in[slug]}")
                )
            elif slug:
                defined_in[slug] = shown
            report(shown, _item_label(data, n), issues)
            if not issues:
                exercises[slug] = exercise

    programs: dict[str, Program] = {}
    program_in: dict[str, str] = {}
    for path, shown in _files(root, "programs", problems):
        for n, data in enumerate(_read_items(path, shown, problems)):
            issues = []
            program = read_program(data, issues, mode="catalog")
            known = defined_in if all_slugs_known else None
            check_program_references(program, exercises, known, issues)
            slug = program.slug
            if slug in program_in:
                issues.insert(
                    0, ("slug", f"duplicate program slug; first defined in {program_in[slug]}")
                )
            elif slug:
                program_in[slug] = shown
            report(shown, _item_label(data, n), issues)
            if not issues:
                programs[slug] = program
    return Catalog(exercises, programs), problems


def check_catalog(root: Path | None = None) -> list[Problem]:
    """Every problem in the catalog at `root` (default: `seed_data/`), its questionnaires
    (`measures/`) included; empty means valid."""
    from exercises.measures import load_measures

    root = root if root is not None else default_catalog_path()
    problems = list(_scan(root)[1])
    try:
        load_measures(root)
    except CatalogError as exc:
        problems.extend(exc.problems)
    return problems


def load_catalog(root: Path | None = None) -> Catalog:
    """Load the catalog at `root` (default: `seed_data/`); `CatalogError` lists all problems."""
    catalog, problems = _scan(root if root is not None else default_catalog_path())
    if problems:
        raise CatalogError(problems)
    return catalog


def validate_program_dict(
    data: object,
    exercises: Mapping[str, Exercise],
    *,
    owner_id: str | None,
    taken_slugs: Collection[str] = (),
) -> Program:
    """Validate a therapist's custom program (API `POST /programs` body) by the catalog's rules.

    Accepts `{slug, title, summary?, version?, stages: [{title, guidance?, exercises:
    [{exercise, per_week}], includes?, off_limits?, min_weeks?, criteria?}]}`. Raises
    `CatalogError` whose problems carry the field path, e.g.
    `stages[0].exercises[1].exercise: unknown exercise 'foo'` (`.errors()` gives the
    422 shape). `taken_slugs` are slugs already in use (catalog and the owner's own).
    """
    issues: Issues = []
    program = read_program(data, issues, mode="custom")
    check_program_references(program, exercises, exercises.keys(), issues)
    if program.slug and program.slug in taken_slugs:
        issues.insert(0, ("slug", f"{program.slug!r} is already taken"))
    if issues:
        raise CatalogError([Problem("", "", path, message) for path, message in issues])
    return replace(program, owner_id=owner_id)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m exercises [ROOT]`: print every problem; exit status 1 if any."""
    args = list(sys.argv[1:] if argv is None else argv)
    root = Path(args[0]) if args else default_catalog_path()
    catalog, problems = _scan(root)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) in {root}", file=sys.stderr)
        return 1
    print(f"{root}: {len(catalog.exercises)} exercises, {len(catalog.programs)} programs, ok")
    return 0
