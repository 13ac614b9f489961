"""Reading JSON request bodies by hand, with clear errors for each way they go wrong."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from recommender.http_errors import ApiError

# Alerts are three or four levels deep; far deeper JSON is an attack or a bug.
MAX_DEPTH = 32


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
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ApiError(
            422,
            "invalid_input",
            f"body is not valid JSON: {error.msg} at line "
            f"{error.lineno} column {error.colno}",
            "body",
        ) from error
    except RecursionError as error:
        raise _too_deep() from error
    check_document(document)
    return document


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
