"""Reading JSON request bodies by hand, with clear errors for each way they go wrong."""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import Request

from recommender.errors import InvalidAlertError
from recommender.http_errors import ApiError

# Alerts are three or four levels deep; far deeper JSON is an attack or a bug.
MAX_DEPTH = 32
# Digits Python converts to int by default (sys.int_info, Python 3.11 and later).
MAX_INTEGER_DIGITS = 4_300


async def read_json(request: Request) -> Any:
    """Read a JSON request body, rejecting wrong types, oversize and bad encodings."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"content type {content_type or 'none'!r} is not supported; "
            "send JSON with 'Content-Type: application/json'",
            "content-type",
        )

    limit = request.app.state.settings.max_body_bytes
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise ApiError(
                413, "too_large", f"request body is over the limit of {limit} bytes"
            )

    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError as error:
        raise ApiError(
            422,
            "invalid_input",
            f"body is not valid UTF-8: byte {error.start} cannot be decoded",
            "body",
        ) from error
    try:
        document = decode_json(text, "body")
    except RecursionError as error:
        raise _too_deep() from error
    check_document(document)
    return document


def decode_json(text: str, field: str) -> Any:
    """Parse strict JSON (RFC 8259), raising InvalidAlertError that names field.

    Python's json module also reads NaN and Infinity, overflows 1e999 to infinity
    and raises ValueError for integers of more than 4,300 digits, so each of those
    is rejected here with a message instead.
    """

    def reject_constant(name: str) -> Any:
        raise InvalidAlertError(
            field,
            f"not valid JSON: {name} is not a JSON number (RFC 8259); send a "
            "number, or the value as a string",
        )

    def parse_integer(digits: str) -> int:
        count = len(digits.lstrip("-"))
        if count > MAX_INTEGER_DIGITS:
            raise InvalidAlertError(
                field,
                f"contains an integer of {count} digits, more than the limit of "
                f"{MAX_INTEGER_DIGITS}; send long numbers as strings",
            )
        return int(digits)

    def parse_float(digits: str) -> float:
        value = float(digits)
        if not math.isfinite(value):
            raise InvalidAlertError(
                field,
                f"contains the number {digits[:40]}, which is too large for a "
                "64-bit float; send it as a string",
            )
        return value

    try:
        return json.loads(
            text,
            parse_constant=reject_constant,
            parse_int=parse_integer,
            parse_float=parse_float,
        )
    except json.JSONDecodeError as error:
        raise InvalidAlertError(
            field,
            f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}",
        ) from None


def check_document(document: Any) -> None:
    """Reject JSON nested deeper than MAX_DEPTH or holding text that is not UTF-8.

    JSON escapes can spell lone UTF-16 surrogates ("\\ud800"), which decode to a
    Python string that cannot be encoded again, so they are rejected here.
    """
    stack: list[tuple[Any, str, int]] = [(document, "body", 1)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep()
        if isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, path)
                stack.append((item, f"{path}.{key}", depth + 1))
        elif isinstance(value, list):
            stack.extend(
                (item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)
            )
        elif isinstance(value, str):
            _check_text(value, path)


def _check_text(value: str, path: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ApiError(
            422,
            "invalid_input",
            f"text contains an unpaired UTF-16 surrogate at character {error.start}; "
            "send valid Unicode",
            path.removeprefix("body."),
        ) from error


def _too_deep() -> ApiError:
    return ApiError(
        422,
        "invalid_input",
        f"body is nested more than {MAX_DEPTH} levels deep; alerts need at most "
        "three or four",
        "body",
    )
