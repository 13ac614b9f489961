"""An ASGI middleware that caps request bodies, also those sent without a length.

The request middleware rejects a Content-Length over the limit before reading. A
chunked body has no length, so this middleware counts the bytes as they arrive and
stops the request with 413 once the count passes the limit.
"""

from __future__ import annotations

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLargeError(HTTPException):
    """A request body over the limit.

    It is an HTTPException, because FastAPI turns any other exception raised while
    it parses a declared body parameter into a 400.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(
            status_code=413,
            detail=f"request body is over the limit of {limit} bytes; send a "
            "smaller body or raise INCIDENT_MAX_BODY_BYTES",
        )


class BodyLimitMiddleware:
    """Raise 413 from `receive` as soon as a body passes max_bytes."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLargeError(self.max_bytes)
            return message

        await self.app(scope, limited_receive, send)
