"""Check-in answers against an exercise's form: validation, safety flags, and which
answers a partner may never read."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from exercises.model import DECLINED_KEY, LEGACY_THERAPIST_ONLY_KEYS, Form, Question


def _is_int(value: object) -> bool:
    # JSON `true` arrives as a Python bool, which is an int subclass: never a rating.
    return isinstance(value, int) and not isinstance(value, bool)


def _short(value: object) -> str:
    """A bounded repr for messages: answers can be long, messages must not be."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _answer_errors(question: Question, value: object) -> list[str]:
    """Problems with one non-null answer."""
    if question.type == "scale":
        assert question.min is not None
        assert question.max is not None
        if not _is_int(value):
            return [f"Must be a whole number from {question.min} to {question.max}."]
        assert isinstance(value, int)
        if not question.min <= value <= question.max:
            return [f"Must be between {question.min} and {question.max}."]
        return []
    if question.type == "boolean":
        return [] if isinstance(value, bool) else ["Must be true or false."]
    if question.type == "choice":
        return _choice_errors(question, value)
    if question.type == "text":
        if not isinstance(value, str):
            return ["Must be text."]
        if len(value) > question.text_limit:
            return [f"Must be at most {question.text_limit} characters (this is {len(value)})."]
        if question.required and not value.strip():
            return ["This question is required."]
        return []
    return [f"This form's question has an unknown type {question.type!r}."]


def _choice_errors(question: Question, value: object) -> list[str]:
    allowed = ", ".join(repr(o) for o in question.options)
    if not question.multiple:
        if not isinstance(value, str):
            return ["Must be one of the options, as a string."]
        return [] if value in question.options else [f"Must be one of: {allowed}."]
    if not isinstance(value, list):
        return ["Must be a list of options."]
    errors: list[str] = []
    for entry in value:
        if not isinstance(entry, str) or entry not in question.options:
            errors.append(f"{_short(entry)} is not an option; choose from: {allowed}.")
    if len({e for e in value if isinstance(e, str)}) != len(value) and not errors:
        errors.append("Each option may be chosen only once.")
    if question.required and not value:
        errors.append("Choose at least one option.")
    return errors


def validate_answers(form: Form, answers: Mapping[str, object]) -> dict[str, list[str]]:
    """Problems with a check-in's answers, keyed by answer key (empty dict: valid).

    Reports unknown keys, missing required answers, wrong types (a boolean is not a
    number), scale answers out of range or not whole numbers, choices that are not
    options, and text over its length limit. A null answer counts as not answered.

    A declined session (`session_declined: true`, where the form asks it) did not
    happen, so nothing else is required; what is answered is still checked.
    """
    if not isinstance(answers, Mapping):
        return {"answers": ["Answers must be an object mapping question keys to answers."]}
    declined = is_declined(form, answers)
    errors: dict[str, list[str]] = {}
    for key in answers:
        if form.get(str(key)) is None:
            errors[str(key)] = [f"This form has no question {_short(str(key))}."]
    for question in form:
        value = answers.get(question.key)
        if value is None:
            problems = ["This question is required."] if question.required and not declined else []
        else:
            problems = _answer_errors(question, value)
        if problems:
            errors[question.key] = problems
    return errors


def flags_from_answers(form: Form, answers: Mapping[str, object]) -> frozenset[str]:
    """The safety flags these answers raise.

    A scale answer at or above the question's `flag_at`, or a `true` boolean answer,
    raises the question's flag. Invalid answers raise nothing here (validation
    reports them), so call this on answers that passed `validate_answers`.
    """
    raised: set[str] = set()
    for question in form:
        if question.flag is None:
            continue
        value = answers.get(question.key)
        if (question.type == "boolean" and value is True) or (
            question.type == "scale"
            and question.flag_at is not None
            and _is_int(value)
            and isinstance(value, int)
            and value >= question.flag_at
        ):
            raised.add(question.flag)
    return frozenset(raised)


def is_declined(form: Form, answers: Mapping[str, object]) -> bool:
    """Whether these answers record a session that one of the couple declined."""
    question = form.get(DECLINED_KEY)
    return question is not None and question.type == "boolean" and answers.get(DECLINED_KEY) is True


def partner_hidden_keys(form: Iterable[Mapping[str, object]]) -> frozenset[str]:
    """Answer keys the other partner never reads, even of a check-in shared with the couple.

    `form` is the stored list shape (`Form.to_list()`, possibly written by an older
    version). Hidden: every question that can raise a safety flag (privacy rule 4: not
    even indirectly) and every `audience: therapist` question (answers that inform the
    therapist's decisions, such as "ready to move on"). A form stored before `audience`
    existed hides `LEGACY_THERAPIST_ONLY_KEYS` instead.
    """
    questions = [q for q in form if isinstance(q, Mapping)]
    has_audience = any("audience" in q for q in questions)
    hidden: set[str] = set()
    for q in questions:
        key = str(q.get("key"))
        if (
            q.get("flag")
            or q.get("audience") == "therapist"
            or (not has_audience and key in LEGACY_THERAPIST_ONLY_KEYS)
        ):
            hidden.add(key)
    return frozenset(hidden)
