"""The catalog as it was first published (every item at version 1), read from git.

Used to prove the versioning rule: a published version never changes meaning, and a
running assignment keeps the version it started with. Items are read for their
structure only (`parse_exercise`, `parse_program`): content rules added since (such
as `audience: therapist` on "ready to move on") did not exist when they were written.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from exercises.catalog import Catalog
from exercises.model import Exercise, Program
from exercises.schema import parse_exercise, parse_program

# The last commit before issue 14's catalog changes: every item at version 1.
PUBLISHED_V1 = "d0b0c95"
REPOSITORY = Path(__file__).resolve().parents[2]


def published_v1_catalog() -> Catalog:
    """The version-1 catalog; skips the test when git or that commit is not at hand."""
    try:
        archive = subprocess.run(
            ["git", "-C", str(REPOSITORY), "archive", PUBLISHED_V1, "seed_data"],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip(f"needs a git checkout with commit {PUBLISHED_V1}")
    exercises: dict[str, Exercise] = {}
    programs: dict[str, Program] = {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            if not member.name.endswith(".yaml"):
                continue
            handle = tar.extractfile(member)
            assert handle is not None
            data = yaml.safe_load(handle.read().decode("utf-8"))
            for raw in data if isinstance(data, list) else [data]:
                if "/exercises/" in member.name:
                    exercise = parse_exercise(raw)
                    exercises[exercise.slug] = exercise
                else:
                    program = parse_program(raw, mode="catalog")
                    programs[program.slug] = program
    return Catalog(exercises, programs)
