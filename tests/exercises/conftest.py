"""Fixtures for the pure `exercises` package: the shipped catalog, and editable copies."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from exercises.catalog import Catalog, default_catalog_path, load_catalog


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """The shipped catalog, loaded once."""
    return load_catalog()


@pytest.fixture
def seed_copy(tmp_path: Path) -> Path:
    """A private copy of `seed_data/` that a test may break."""
    root = tmp_path / "seed_data"
    shutil.copytree(default_catalog_path(), root)
    return root


Edit = Callable[[str, Callable[[Any], object]], None]


@pytest.fixture
def edit(seed_copy: Path) -> Edit:
    """`edit("exercises/x.yaml", fn)`: load a YAML file of the copy; `fn` changes it in place."""

    def apply(relative: str, change: Callable[[Any], object]) -> None:
        path = seed_copy / relative
        # Through JSON so that YAML aliases become separate copies: a change to one
        # exercise's shared form must not change the others.
        data = json.loads(json.dumps(yaml.safe_load(path.read_text(encoding="utf-8"))))
        change(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")

    return apply
