"""Reading JSON request bodies by hand, with clear errors for each way they go wrong."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import Request

from recommender.http_errors import ApiError, request_id
from recommender.strict_json import MAX_DEPTH, decode_json

logger = logging.getLogger(__name__)


async def read_json(request: Request, check_text: bool = True) -> Any:
    """Read a JSON request body, rejecting wrong types, oversize and bad encodings.

    With check_text false, text that cannot be encoded (see check_document) is
    left to the caller: webhook parsers reject it per alert, not per group.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"content type {content_type or 'none'!r} is not supported; "
            "send JSON with 'Content-Type: application/json'",
            "content-type",
        )

    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding != "identity":
        raise ApiError(
            415,
            "unsupported_media_type",
            f"content encoding {encoding[:40]!r} is not supported; send the body "
            "uncompressed, without a Content-Encoding header",
            "content-encoding",
        )

    body = await read_body(request)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ApiError(
            422,
            "invalid_input",
            f"body is not valid UTF-8: byte {error.start} cannot be decoded",
            "body",
        ) from error
    # RFC 8259 section 8.1 lets a parser ignore a leading byte order mark.
    text = text.removeprefix("\ufeff")
    try:
        document = decode_json(text, "body")
    except RecursionError as error:
        raise _too_deep() from error
    check_document(document, check_text)
    return document


async def read_body(request: Request) -> bytes:
    """Read the whole body within the body_timeout setting and under the size limit.

    A client that stalls or sends a byte at a time would otherwise hold its
    connection and request for as long as it likes.
    """
    settings = request.app.state.settings
    limit = settings.max_body_bytes
    body = bytearray()
    try:
        async with asyncio.timeout(settings.body_timeout):
            async for chunk in request.stream():
                body.extend(chunk)
                if len(body) > limit:
                    raise ApiError(
                        413,
                        "too_large",
                        f"request body is over the limit of {limit} bytes",
                    )
    except TimeoutError as error:
        logger.info(
            "request %s: body not received within %s seconds, %d bytes read",
            request_id(request),
            settings.body_timeout,
            len(body),
        )
        raise ApiError(
            408,
            "request_timeout",
            f"the request body was not received within {settings.body_timeout} "
            "seconds; send the whole body at once",
            "body",
            headers={"Connection": "close"},
        ) from error
    return bytes(body)


def check_document(document: Any, check_text: bool = True) -> None:
    """Reject JSON nested deeper than MAX_DEPTH or holding text that is not UTF-8.

    JSON escapes can spell lone UTF-16 surrogates ("\\ud800"), which decode to a
    Python string that cannot be encoded again, so they are rejected here unless
    check_text is false.
    """
    stack: list[tuple[Any, str, int]] = [(document, "body", 1)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep()
        if isinstance(value, dict):
            for key, item in value.items():
                if check_text:
                    _check_text(key, path)
                stack.append((item, f"{path}.{key}", depth + 1))
        elif isinstance(value, list):
            stack.extend(
                (item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)
            )
        elif check_text and isinstance(value, str):
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
