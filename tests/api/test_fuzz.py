"""Property-based fuzzing of every operation in the served spec (schemathesis), with
every one of schemathesis' checks, for three callers: anonymous, a therapist, a partner.

The checks (schemathesis' defaults, none switched off): no 5xx; the status code, the
content type, the body and the headers of each answer are the ones the spec documents
(so every error is problem+json with the `Problem` schema, every list sends its
`X-Pagination`); schema-valid data is accepted and schema-invalid data rejected;
an operation that declares auth refuses a request without it; undeclared methods answer
405 with `Allow`. schemathesis runs its phases: the spec's examples, the coverage phase
(boundary and missing values, wrong types, unsupported methods) and random fuzzing.

Each operation gets its own freshly made world per caller (a therapist with a couple
whose partners joined, an assignment and a check-in), so a logout or an account
deletion in one operation cannot hide another; in positive cases the path ids are
that world's, so successful answers are checked as well as 404s.
"""

from __future__ import annotations

from fnmatch import fnmatch
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.core.result import Ok
from schemathesis.pytest.lazy import get_all_tests  # what schema.parametrize() runs

from server.extensions import limiter
from tests.factories import Actor, Api, assign, check_in


def fuzz(app: Flask, caller: str) -> None:
    """Run schemathesis' phases and checks on every operation, as `caller`.

    This is what `schema.parametrize()` does (its pytest plugin does not run under
    pytest 9 yet), operation by operation, each with a fresh world."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    api = Api(app.test_client())
    operations = 0
    failures: list[str] = []
    for result in get_all_tests(
        schema=schema, test_func=call_and_validate, settings=FUZZ_SETTINGS, given_kwargs=None
    ):
        if not isinstance(result, Ok):
            failures.append(f"the spec: {result.err()}")
            continue
        operation, test = result.ok()
        with app.app_context():
            limiter.reset()  # each operation starts with fresh rate limits
        try:
            test(world=World(api, caller))
        except (Exception, BaseExceptionGroup) as exc:  # every operation's, not the first's
            failures.append(f"{operation.label} as {caller}: {exc}")
        operations += 1
    assert not failures, "\n\n".join(failures)
    assert operations >= 40


class World:
    """One caller's world, made through the API as the apps would."""

    def __init__(self, api: Api, caller: str) -> None:
        therapist = api.therapist()
        couple, partner, _ = api.couple_with_partners(therapist)
        assignment = assign(api, therapist, couple["id"])
        checkin = check_in(api, partner, assignment["id"])
        # Both partners are asked the questionnaires, so a response can be due (201).
        api.call(
            "PUT",
            f"/api/v1/couples/{couple['id']}/measures",
            therapist,
            json={"schedule": [{"measure": m, "every_weeks": 1} for m in ("csi-4", "phq-9")]},
        )
        actor: Actor | None = {"therapist": therapist, "partner": partner}.get(caller)
        self.headers = actor.headers if actor else {}
        self.ids = {
            "couple_id": couple["id"],
            "assignment_id": assignment["id"],
            "checkin_id": checkin["id"],
            "slug": "sensate-focus-course",
            "slot": 1,
            "code": couple["invites"][0]["code"] or "unknown",
        }


FUZZ_SETTINGS = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


# Rules a JSON Schema cannot state, checked by the services: a schema-valid request may
# be refused with 422 naming only these fields. `positive_data_acceptance` ("schema-valid
# data is accepted") is skipped for exactly such an answer, and for nothing else.
SEMANTIC_FIELDS: dict[str, tuple[tuple[str, ...], str]] = {
    "POST /api/v1/auth/therapists": (("email",), "an address whose domain can take mail"),
    "POST /api/v1/auth/password-reset": (("email",), "an address whose domain can take mail"),
    "POST /api/v1/invites/{code}/accept": (
        ("email", "timezone"),
        "an address whose domain can take mail; an IANA time-zone name",
    ),
    "PATCH /api/v1/me": (("timezone",), "an IANA time-zone name"),
    "DELETE /api/v1/me": (("password",), "the account's own password"),
    "POST /api/v1/me/password": (("current_password",), "the account's own password"),
    "PATCH /api/v1/assignments/{assignment_id}": (
        ("overrides.*",),
        "exercise slugs of the assignment's program",
    ),
    "GET /api/v1/me/reminders": (("to",), "a window of at most 92 days"),
    "PUT /api/v1/me/reminder-settings": (("*",), "times, days, quiet hours the planner accepts"),
    "POST /api/v1/programs": (("*",), "the catalog's rules for programs (exercises.schema)"),
    "POST /api/v1/checkins": (
        ("*",),
        "an exercise of the current stage, answers that fit its form, a time not in the future",
    ),
    "POST /api/v1/couples/{couple_id}/assignments": (("*",), "a program the caller may assign"),
    "PUT /api/v1/couples/{couple_id}/measures": (
        ("schedule.*",),
        "measures of the catalog, each listed once",
    ),
    "POST /api/v1/measure-responses": (
        ("measure", "answers", "answers.*"),
        "a measure of the catalog, answers its items allow",
    ),
}


def _semantic_refusal(case: Any, response: Any) -> bool:
    rule = SEMANTIC_FIELDS.get(case.operation.label)
    if rule is None or response.status_code != 422 or case.meta is None:
        return False
    if not case.meta.generation.mode.is_positive:
        return False
    fields = response.json().get("errors") or {}
    return bool(fields) and all(any(fnmatch(f, p) for p in rule[0]) for f in fields)


def call_and_validate(case: Any, world: World) -> None:
    if case.meta is not None and case.meta.generation.mode.is_positive and case.path_parameters:
        for name in case.path_parameters:
            if name in world.ids:
                case.path_parameters[name] = world.ids[name]
    response = case.call(headers=world.headers)
    excluded = [positive_data_acceptance] if _semantic_refusal(case, response) else []
    case.validate_response(response, headers=world.headers, excluded_checks=excluded)


@pytest.mark.parametrize("caller", ["anonymous", "therapist", "partner"])
def test_every_operation_keeps_its_contract(app: Flask, clean_db: None, caller: str) -> None:
    fuzz(app, caller)
