"""Tandem's catalog and program engine: pure Python, no Flask, no database, no clock.

- `exercises.model`: frozen dataclasses (`Exercise`, `Form`, `Question`, `Program`,
  `Stage`, `StageItem`, `Criteria`) with `to_dict()` / `from_dict()`.
- `exercises.forms`: `validate_answers`, `flags_from_answers` for check-ins.
- `exercises.catalog`: `load_catalog`, `check_catalog`, `validate_program_dict`.
- `exercises.program`: `week_of`, `homework`, `suggest_advancement`.
"""

from exercises.catalog import (
    Catalog,
    check_catalog,
    default_catalog_path,
    load_catalog,
    validate_program_dict,
)
from exercises.forms import flags_from_answers, validate_answers
from exercises.model import (
    EXERCISE_KINDS,
    FLAGS,
    QUESTION_TYPES,
    READY_KEY,
    TEXT_MAX_LENGTH,
    Criteria,
    Exercise,
    Form,
    Program,
    Question,
    Stage,
    StageItem,
)
from exercises.program import (
    ALL_DAYS,
    CheckinRecord,
    Homework,
    HomeworkItem,
    PartnerStatus,
    Suggestion,
    Week,
    homework,
    local_date,
    suggest_advancement,
    targets,
    week_of,
    week_window_utc,
)
from exercises.schema import CatalogError, Problem

__all__ = [
    "ALL_DAYS",
    "EXERCISE_KINDS",
    "FLAGS",
    "QUESTION_TYPES",
    "READY_KEY",
    "TEXT_MAX_LENGTH",
    "Catalog",
    "CatalogError",
    "CheckinRecord",
    "Criteria",
    "Exercise",
    "Form",
    "Homework",
    "HomeworkItem",
    "PartnerStatus",
    "Problem",
    "Program",
    "Question",
    "Stage",
    "StageItem",
    "Suggestion",
    "Week",
    "check_catalog",
    "default_catalog_path",
    "flags_from_answers",
    "homework",
    "load_catalog",
    "local_date",
    "suggest_advancement",
    "targets",
    "validate_answers",
    "validate_program_dict",
    "week_of",
    "week_window_utc",
]
