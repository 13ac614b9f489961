"""Reading JSON request bodies by hand, with clear errors for each way they go wrong."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from recommender.http_errors import ApiError


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
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ApiError(
            422,
            "invalid_input",
            f"body is not valid JSON: {error.msg} at line "
            f"{error.lineno} column {error.colno}",
            "body",
        ) from error
