"""Tandem's catalog and program engine: pure Python, no Flask, no database, no clock.

- `exercises.model`: frozen dataclasses (`Exercise`, `Form`, `Question`, `Program`,
  `Stage`, `StageItem`, `Criteria`) with `to_dict()` / `from_dict()`.
- `exercises.forms`: `validate_answers`, `flags_from_answers`, `is_declined` and
  `partner_hidden_keys` for check-ins.
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
from exercises.forms import (
    flags_from_answers,
    is_declined,
    partner_hidden_keys,
    validate_answers,
)
from exercises.model import (
    AUDIENCES,
    DECLINED_KEY,
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
    without_therapist_notes,
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
    "AUDIENCES",
    "DECLINED_KEY",
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
    "is_declined",
    "load_catalog",
    "local_date",
    "partner_hidden_keys",
    "suggest_advancement",
    "targets",
    "validate_answers",
    "validate_program_dict",
    "week_of",
    "week_window_utc",
    "without_therapist_notes",
]
