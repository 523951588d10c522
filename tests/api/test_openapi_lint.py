"""The served OpenAPI document passes an independent linter: Redocly CLI with its
`recommended` rules plus a few stricter ones (.ci/lint/redocly.yaml). Any problem, error
or warning, fails.

Redocly is installed by CI (`npm ci --prefix .ci/lint`, see .ci/run); without its
node_modules this test skips and says how to install it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.factories import Api

LINT = Path(__file__).resolve().parents[2] / ".ci" / "lint"
REDOCLY = LINT / "node_modules" / ".bin" / "redocly"


@pytest.fixture
def redocly() -> Path:
    if not REDOCLY.exists():
        pytest.skip("Redocly CLI is not installed: run `npm ci --prefix .ci/lint`")
    if shutil.which("node") is None:
        pytest.skip("Redocly CLI needs Node.js")
    return REDOCLY


def lint(redocly: Path, document: dict, tmp_path: Path) -> dict:  # type: ignore[type-arg]
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(document))
    result = subprocess.run(
        [
            str(redocly),
            "lint",
            "--config",
            str(LINT / "redocly.yaml"),
            "--format",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    report = json.loads(result.stdout[result.stdout.index("{") :])
    report["returncode"] = result.returncode
    return report  # type: ignore[no-any-return]


def test_the_served_spec_passes_redocly(api: Api, redocly: Path, tmp_path: Path) -> None:
    document = api.call("GET", "/api/v1/openapi.json").get_json()
    report = lint(redocly, document, tmp_path)
    problems = [
        f"{p['ruleId']} ({p['severity']}): {p['message']} at "
        f"{[loc.get('pointer') for loc in p.get('location', [])]}"
        for p in report["problems"]
    ]
    assert not problems, "\n".join(problems)
    assert report["totals"] == {"errors": 0, "warnings": 0, "ignored": 0}
    assert report["returncode"] == 0


def test_the_linter_would_catch_what_the_spec_used_to_say(
    api: Api, redocly: Path, tmp_path: Path
) -> None:
    """The same document with errors declared as application/json and without
    operationIds (as before) fails: the lint is not vacuous."""
    document = api.call("GET", "/api/v1/openapi.json").get_json()
    token = document["paths"]["/api/v1/auth/token"]["post"]
    del token["operationId"]
    problem = token["responses"]["401"]["content"].pop("application/problem+json")
    token["responses"]["401"]["content"]["application/json"] = problem
    rules = {p["ruleId"] for p in lint(redocly, document, tmp_path)["problems"]}
    assert {"operation-operationId", "operation-4xx-problem-details-rfc7807"} <= rules
