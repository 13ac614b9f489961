"""The ASGI middleware for request ids, early rejections and the last-resort 500.

Written against ASGI directly rather than as an `@app.middleware("http")`
function: Starlette runs each of those in a task group of its own and streams the
response through a memory channel. On `GET /livez` the two such middlewares this
replaced took 0.3 ms of the 0.8 ms a request took over HTTP.
"""

from __future__ import annotations

import logging
import re
import uuid
from urllib.parse import unquote_to_bytes

from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recommender.http_errors import REQUEST_ID_HEADER, error_response, internal_error
from recommender.logs import REQUEST_ID
from recommender.service_metrics import CLIENT_CLOSED_REQUEST

logger = logging.getLogger(__name__)

# A request id from the client is kept only when it cannot break a log line.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class RequestContextMiddleware:
    """Assign each request an id, reject what cannot be served, catch failures.

    Bodies whose Content-Length is over the limit get 413 before they are read,
    requests with both Content-Length and Transfer-Encoding get 400, and paths or
    query strings that are not UTF-8 get 422. An exception that reaches this
    layer before the response has started is logged once and returned as the one
    error body with status 500.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request = Request(scope)
        supplied = request.headers.get(REQUEST_ID_HEADER, "")
        rid = supplied if _SAFE_REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex
        request.state.request_id = rid
        REQUEST_ID.set(rid)

        rejection = self._rejection(request)
        if rejection is not None:
            await rejection(scope, receive, send)
            return

        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = rid
                # A body cut off at the limit is not read to its end, so the
                # connection cannot carry another request.
                if message["status"] == 413:
                    headers["Connection"] = "close"
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            if not started:
                await _client_disconnected(request)(scope, receive, send)
        except Exception as error:
            if started:
                raise
            # Returned here as a 500, so uvicorn does not log the same traceback again.
            await internal_error(request, error)(scope, receive, send_with_id)

    def _rejection(self, request: Request) -> Response | None:
        length = request.headers.get("content-length", "")
        if length and "transfer-encoding" in request.headers:
            # A proxy in front may frame the body by the other header, so the
            # rest of the connection could hold a request it never saw.
            return error_response(
                request,
                400,
                "invalid_input",
                "the request has both Content-Length and Transfer-Encoding; "
                "send only one of them",
                "Content-Length",
                headers={"Connection": "close"},
            )
        if length.isdigit() and int(length) > self.max_body_bytes:
            # Connection: close, so the server does not read the body it rejected.
            return error_response(
                request,
                413,
                "too_large",
                f"request body of {length} bytes is over the limit of "
                f"{self.max_body_bytes}",
                headers={"Connection": "close"},
            )
        if not _is_utf8(request.scope.get("raw_path") or b""):
            return error_response(
                request,
                422,
                "invalid_input",
                "the path is not valid UTF-8 once percent-decoded. Encode ids as "
                "UTF-8 before percent-encoding them",
                "path",
            )
        invalid = _invalid_query_parameter(request.scope.get("query_string", b""))
        if invalid is not None:
            return error_response(
                request,
                422,
                "invalid_input",
                f"query parameter {invalid!r} is not valid UTF-8 once "
                "percent-decoded. Encode the text as UTF-8 before percent-encoding it",
                invalid,
            )
        return None


def _is_utf8(raw: bytes) -> bool:
    """Return whether percent-encoded bytes decode to UTF-8.

    The server decodes other bytes to U+FFFD, so a lookup or search would run on
    other text than the one sent.
    """
    try:
        unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _invalid_query_parameter(query_string: bytes) -> str | None:
    """Return the name of a query parameter that is not UTF-8, or None."""
    for pair in query_string.split(b"&"):
        name, _, value = pair.partition(b"=")
        if not (_is_utf8(name) and _is_utf8(value)):
            return unquote_to_bytes(name).decode("utf-8", "replace")
    return None


def _client_disconnected(request: Request) -> Response:
    """Log a client that closed its connection mid-request, one line per 100.

    Senders such as Alertmanager close connections when they time out, so this is
    an ordinary event, not an error. The response goes nowhere.
    """
    state = request.app.state
    state.client_disconnects = getattr(state, "client_disconnects", 0) + 1
    if state.client_disconnects % 100 == 1:
        logger.warning(
            "request %s: %s %s: the client disconnected before the request was "
            "read (%d client disconnects since start)",
            request.state.request_id,
            request.method[:20],
            request.url.path[:200],
            state.client_disconnects,
        )
    return Response(status_code=CLIENT_CLOSED_REQUEST)
