"""Hostile input stops at the edge: one check of every request's JSON body, query string
and form before any view, schema or service sees it (API.md, "Conventions").

A JSON body is parsed here, once, by `parse_json`: not UTF-8, not JSON, or nested deeper
than `MAX_DEPTH` is 400; a string or key with a lone UTF-16 surrogate or a NUL, an
integer outside 64 bits, or a number that is not finite is 422 naming the field. Query
strings and forms may not carry NUL or values longer than their caps. What passes can be
stored in SQLite and PostgreSQL alike and rendered by every page.

The checked body is what `request.get_json()` answers, and what `@blp.arguments` loads
through `ArgumentsParser` (webargs on its own would parse the body again with
`json.loads`).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable
from typing import Any

from flask import Flask, Request, Response, current_app, request
from flask import json as flask_json
from markupsafe import Markup
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.datastructures import MultiDict

from server.errors import APIError, ValidationFailed

log = logging.getLogger(__name__)

MAX_DEPTH = 64
INT_LIMIT = 2**63  # |n| must be below: a BIGINT holds it
QUERY_VALUE_MAX = 2048
FORM_VALUE_MAX = 10_000
FIELD_NAME_MAX = 200
_PATH_PART_MAX = 64

# A lone surrogate or a NUL: neither can be stored by PostgreSQL nor encoded as UTF-8
# for a page. (After json.loads a valid surrogate pair is one character, so any
# surrogate left is a lone one.)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Where a number we refuse may be: a run of 19+ digits, or an exponent.
_BIG_NUMBER = re.compile(r"[0-9]{19}|[0-9][eE]")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

SURROGATE = "Must be valid Unicode text (no lone UTF-16 surrogates)."
NUL = "Must not contain NUL characters."
TOO_BIG = f"Must be a number between -{INT_LIMIT - 1} and {INT_LIMIT - 1}."
NOT_FINITE = "Must be a finite number."
KEY_SURROGATE = "Field names must be valid Unicode text (no lone UTF-16 surrogates)."
KEY_NUL = "Field names must not contain NUL characters."


class BadJSON(ValueError):
    """A request body refused by `parse_json`: its status, detail and field errors."""

    def __init__(
        self,
        status: int,
        detail: str,
        code: str,
        errors: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.code, self.errors = status, detail, code, errors

    def as_api_error(self) -> APIError:
        if self.status == 422:
            return ValidationFailed(self.detail, code=self.code, errors=self.errors)
        error = APIError(self.detail, code=self.code)
        error.status = self.status
        return error


class _Unfit:
    """A number JSON allows and we do not (too big, not finite); `parse_json` names it."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def _parse_int(text: str) -> int | _Unfit:
    # Checked on the digits before int(): 5,000 digits would raise ValueError.
    if len(text.lstrip("-")) > 19:
        return _Unfit(TOO_BIG)
    value = int(text)
    return value if -INT_LIMIT < value < INT_LIMIT else _Unfit(TOO_BIG)


def _parse_float(text: str) -> float | _Unfit:
    value = float(text)
    return value if math.isfinite(value) else _Unfit(NOT_FINITE)


def _parse_constant(text: str) -> _Unfit:
    return _Unfit(NOT_FINITE)  # NaN, Infinity, -Infinity: not JSON


def parse_json(data: bytes | str) -> Any:
    """Parse a request body, refusing what no field of ours can hold (raises `BadJSON`)."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise BadJSON(400, "The request body is not UTF-8 text.", "invalid_json") from None
    else:
        text = data
    try:
        value = json.loads(
            text,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )
    except RecursionError:
        raise _too_deep() from None
    except ValueError:
        raise BadJSON(400, "The request body is not valid JSON.", "invalid_json") from None
    # Fast path: with no escapes there can be no surrogate or NUL (raw control characters
    # are not valid JSON), and few brackets cannot nest deeply.
    escaped = "\\u" in text
    brackets = text.count("[") + text.count("{")
    unusual = "Infinity" in text or "NaN" in text or _BIG_NUMBER.search(text)
    if escaped or brackets > MAX_DEPTH or unusual:
        errors = _problems(value)
        if errors:
            raise BadJSON(422, "Some values cannot be accepted.", "invalid_value", errors)
    return value


def _too_deep() -> BadJSON:
    return BadJSON(
        400, f"The request body is nested deeper than {MAX_DEPTH} levels.", "json_too_deep"
    )


def _name(key: str) -> str:
    return key if len(key) <= _PATH_PART_MAX else key[: _PATH_PART_MAX - 1] + "…"


def _problems(value: Any) -> dict[str, list[str]]:
    """Field path → messages for every value we refuse; raises `BadJSON` if too deep."""
    errors: dict[str, list[str]] = {}
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > MAX_DEPTH:
                raise _too_deep()
            items: Iterable[tuple[str, Any]]
            if isinstance(node, dict):
                for key in node:
                    if _UNSTORABLE.search(key):
                        where = path or "_body"
                        message = KEY_NUL if "\x00" in key else KEY_SURROGATE
                        errors.setdefault(where, []).append(message)
                items = ((_name(k), v) for k, v in node.items() if not _UNSTORABLE.search(k))
            else:
                items = ((str(i), v) for i, v in enumerate(node))
            for part, child in items:
                stack.append((child, f"{path}.{part}" if path else part, depth + 1))
        elif isinstance(node, str):
            bad = _UNSTORABLE.search(node)
            if bad:
                message = NUL if bad.group() == "\x00" else SURROGATE
                errors.setdefault(path or "_body", []).append(message)
        elif isinstance(node, _Unfit):
            errors.setdefault(path or "_body", []).append(node.message)
    return errors


class _GuardedJSON:
    """What `GuardedRequest.get_json` parses with: `parse_json`, and Flask's dumps."""

    loads = staticmethod(parse_json)
    dumps = staticmethod(flask_json.dumps)


class GuardedRequest(Request):
    """Flask's request whose JSON body is parsed by `parse_json`."""

    @property  # type: ignore[override]
    def json_module(self) -> Any:
        return _GuardedJSON

    @json_module.setter
    def json_module(self, value: Any) -> None:
        """Flask's request context sets the app's JSON provider here; request bodies are
        parsed by `parse_json` all the same (responses still use the provider)."""

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if isinstance(e, BadJSON):
            raise e.as_api_error()
        return super().on_json_loading_failed(e)


class ArgumentsParser(FlaskParser):
    """webargs' Flask parser taking the JSON body `guard_request` parsed and checked."""

    def _raw_load_json(self, req: Request) -> Any:
        if not is_json_request(req) or not req.get_data(cache=True):
            return core.missing
        return req.get_json()


def check_fields(values: MultiDict[str, str], *, limit: int, where: str) -> None:
    """Refuse NUL characters and over-long names or values in a query string or form."""
    errors: dict[str, list[str]] = {}
    kinds: set[str] = set()
    for key, value in values.items(multi=True):
        name = _name(key.replace("\x00", "\\0"))
        if "\x00" in key or "\x00" in value:
            errors.setdefault(name, []).append(NUL)
            kinds.add("a NUL character")
        if len(key) > FIELD_NAME_MAX:
            errors.setdefault(name, []).append(f"Names have at most {FIELD_NAME_MAX} characters.")
            kinds.add("a name that is too long")
        if len(value) > limit:
            errors.setdefault(name, []).append(f"Must be at most {limit} characters.")
            kinds.add("a value that is too long")
    if errors:
        detail = f"The {where} holds {' and '.join(sorted(kinds))}."
        raise ValidationFailed(detail, errors=errors)


def guard_request() -> None:
    """Runs before every view: query string, form and JSON body (see the module doc)."""
    if request.args:
        check_fields(request.args, limit=QUERY_VALUE_MAX, where="query string")
    if request.mimetype in _FORM_TYPES:
        check_fields(request.form, limit=FORM_VALUE_MAX, where="form")
    elif request.is_json and request.get_data(cache=True):
        request.get_json()


def printable(value: Any) -> Any:
    """What a template shows of `value`: text stored before these checks may still hold
    a lone surrogate or a NUL, which would fail the whole page; each becomes U+FFFD."""
    if isinstance(value, str) and _UNSTORABLE.search(value):
        cleaned = _UNSTORABLE.sub("\ufffd", value)
        # The value was Markup already (trusted); only characters were replaced.
        return Markup(cleaned) if isinstance(value, Markup) else cleaned  # noqa: S704
    return value


# A lone surrogate as a JSON escape (a quick filter; `printable_json` decides).
_LONE_ESCAPE = re.compile(
    rb"\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f][0-9a-f]{2})|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2}",
    re.IGNORECASE,
)


def _printable_data(value: Any) -> Any:
    if isinstance(value, dict):
        return {printable(k): _printable_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_printable_data(v) for v in value]
    return printable(value)


def printable_json(response: Response) -> Response:
    """JSON answers carry text stored before these checks as valid Unicode too: a lone
    surrogate (which strict JSON decoders on phones refuse) becomes U+FFFD."""
    if response.is_json and not response.is_streamed:
        data = response.get_data()
        if _LONE_ESCAPE.search(data):
            body = _printable_data(json.loads(data))
            response.set_data(current_app.json.dumps(body))
    return response


def init_app(app: Flask) -> None:
    """Parse JSON bodies with `parse_json`, check every request before its view, and
    render every template value through `printable`."""
    app.request_class = GuardedRequest
    app.before_request(guard_request)
    app.after_request(printable_json)
    app.jinja_options = {**app.jinja_options, "finalize": printable}
