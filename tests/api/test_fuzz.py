"""Property-based fuzzing of every operation in the served spec (schemathesis).

Whatever a client sends — schema-valid or not — the answer is never a 5xx, and every
error is problem+json. Runs as a signed-in therapist (the widest reach so far).
"""

from __future__ import annotations

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.factories import Api


@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda m: m.value)
def test_no_input_makes_the_server_fail(app: Flask, clean_db: None, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    headers = Api(app.test_client()).therapist().headers

    for operation in operations:

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=25,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call(headers=headers)
            assert response.status_code < 500, (case.method, case.path, response.text[:500])
            if response.status_code >= 400:
                content_type = response.headers.get("content-type", [""])[0]
                assert content_type.startswith("application/problem+json"), content_type

        check()
