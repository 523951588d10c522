"""What the generator and the load test share: where the data lives and valid answers."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from exercises.model import Exercise, Form, Program, Question
from exercises.program import targets
from server import create_app

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"
# The generator and the servers must share the secret key and the data keys: both
# read them from this instance folder (created on first use, mode 0600).
DEFAULT_INSTANCE = OUT_DIR / "instance"
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/tandem_bench"

# Every generated account has this password (see generate.py on why one hash).
PASSWORD = "bench-password-not-secret"  # noqa: S105 - benchmark data only

SENTENCES = (
    "We went slower this time and it felt easier.",
    "I noticed I was waiting for something to happen, then came back to my hands.",
    "Warmth on the shoulders was the part I liked most.",
    "Hard to start tonight, but glad we did.",
    "I kept thinking about work for the first ten minutes.",
    "It felt good to be listened to without being fixed.",
    "We laughed at one point, which surprised me.",
    "I felt a little self-conscious about my body, less than last week.",
    "Saying thank you out loud still feels odd but nice.",
    "We agreed to try again on Sunday morning instead of late at night.",
)


def database_url(given: str | None) -> str:
    return given or os.environ.get("TANDEM_DATABASE_URL") or DEFAULT_DATABASE_URL


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database named in `url` when it does not exist yet."""
    parsed = make_url(url)
    engine = create_engine(url)
    try:
        with engine.connect():
            return
    except OperationalError as exc:
        if "does not exist" not in str(exc):
            raise
    finally:
        engine.dispose()
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            name = parsed.database or ""
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        print(f"created database {parsed.database}")
    finally:
        admin.dispose()


def bench_app(url: str, instance: Path, **overrides: Any) -> Flask:
    """The real Tandem app over the bench database and instance folder."""
    instance.mkdir(parents=True, exist_ok=True)
    return create_app(
        {"TANDEM_DATABASE_URL": url, "TANDEM_INSTANCE_PATH": str(instance), **overrides}
    )


def server_environ(url: str, instance: Path) -> dict[str, str]:
    """The environment under which `gunicorn` serves Tandem for the load test."""
    return {
        **os.environ,
        "TANDEM_DATABASE_URL": url,
        "TANDEM_INSTANCE_PATH": str(instance),
        "TANDEM_RATELIMIT_ENABLED": "0",
    }


def answer(question: Question, rng: random.Random, *, flagged: bool = False) -> Any:
    """A plausible answer to one question; calm unless `flagged` (then it raises the
    question's flag). Returns None to leave an optional question unanswered."""
    if question.flag is not None:
        if question.type == "boolean":
            return flagged
        if question.type == "scale":
            assert question.min is not None
            assert question.max is not None
            if flagged and question.flag_at is not None:
                return rng.randint(question.flag_at, question.max)
            top = (question.flag_at - 1) if question.flag_at is not None else question.max
            return rng.randint(question.min, min(top, question.min + 4))
    if not question.required and rng.random() < 0.3:
        return None
    if question.type == "scale":
        assert question.min is not None
        assert question.max is not None
        if question.max > 20:  # durations in minutes
            return rng.randint(max(question.min, 10), min(question.max, 60))
        return rng.randint(question.min, question.max)
    if question.type == "boolean":
        return rng.random() < 0.7
    if question.type == "choice":
        if question.multiple:
            return rng.sample(list(question.options), rng.randint(1, min(3, len(question.options))))
        return rng.choice(question.options)
    text_answer = " ".join(rng.sample(SENTENCES, rng.randint(1, 3)))
    return text_answer[: question.text_limit]


def answers_for(form: Form, rng: random.Random, *, flag: str | None = None) -> dict[str, Any]:
    """Valid answers to a form; with `flag`, the first question raising it is tripped."""
    out: dict[str, Any] = {}
    tripped = False
    for question in form:
        trip = flag is not None and not tripped and question.flag == flag
        value = answer(question, rng, flagged=trip)
        tripped = tripped or trip
        if value is not None:
            out[question.key] = value
    return out


def checkin_body(assignment: Any, rng: random.Random) -> dict[str, Any]:
    """A valid check-in for an exercise of the current stage, calm answers."""
    program = Program.from_dict(assignment.program)
    wanted = targets(program.stage(assignment.stage_index), assignment.overrides)
    slug = rng.choice(sorted(s for s, n in wanted.items() if n > 0) or sorted(wanted))
    exercise = Exercise.from_dict(assignment.exercises[slug])
    body: dict[str, Any] = {
        "assignment_id": assignment.id,
        "exercise": slug,
        "answers": answers_for(exercise.form, rng),
        "visibility": rng.choice(("therapist",) * 8 + ("private", "couple")),
    }
    if rng.random() < 0.25:
        body["reflection"] = rng.choice(SENTENCES)
    return body
