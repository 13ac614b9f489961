"""An ASGI middleware that handles HEAD like GET, without the body (RFC 9110).

FastAPI routes declared with GET do not take HEAD, but load balancers and uptime
checkers probe with HEAD.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGetMiddleware:
    """Run a HEAD request as GET and send the response headers only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        # Changed in place, so the metrics layer outside reads the matched route.
        scope["method"] = "GET"
        await self.app(scope, receive, send_headers_only)
