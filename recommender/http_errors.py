"""The one error body of the API and the mapping from exceptions to HTTP statuses."""

from __future__ import annotations

import logging
import math
import sqlite3
import uuid
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from indexer.errors import ConfigurationError, KnowledgeBaseError, RecordNotFoundError
from recommender.errors import InvalidAlertError
from recommender.page_session import SIGN_IN_PATH, safe_next
from recommender.validation_messages import plain_message

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
# Methods that routes of this API are declared with, in the order Allow lists them.
ROUTED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class ApiError(Exception):
    """An error answered with a given status, code and message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}


def request_id(request: Request) -> str:
    """Return the request id set by the middleware, creating one if absent."""
    value = getattr(request.state, "request_id", None)
    if value is None:
        value = uuid.uuid4().hex
        request.state.request_id = value
    return str(value)


# Seconds a client waits before it retries a write that met a locked database.
LOCKED_RETRY_SECONDS = 2


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Return the one error body shape with the request id.

    Under /ui/ a person reads the error in a browser, so it is the search
    page's error page with the same status and message instead.
    """
    rid = request_id(request)
    if request.url.path.startswith("/ui/"):
        page = _error_page(status, _PAGE_TITLES.get(status, "Error"), message)
        page.headers.update({**(headers or {}), REQUEST_ID_HEADER: rid})
        return page
    body = {
        "error": {
            "status": status,
            "code": code,
            "message": message,
            "field": field,
            "request_id": rid,
        }
    }
    return JSONResponse(
        status_code=status,
        content=body,
        headers={**(headers or {}), REQUEST_ID_HEADER: rid},
    )


# SQLite's primary result codes for a damaged file and for a file that is not
# a database (SQLITE_CORRUPT and SQLITE_NOTADB).
_DAMAGE_CODES = (11, 26)


def _damage(error: Exception) -> str | None:
    """Return the driver's message when an error reports a damaged database file."""
    cause = getattr(error, "orig", None) or error
    if not isinstance(cause, sqlite3.DatabaseError):
        return None
    code = getattr(cause, "sqlite_errorcode", None)
    if code is not None and (code & 0xFF) in _DAMAGE_CODES:
        return str(cause)
    return None


# The heading of the error page per status.
_PAGE_TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Page not found",
    405: "Method not allowed",
    408: "Request timed out",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported content type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


def _error_page(status: int, title: str, message: str) -> Response:
    """Return the search page's error page, for requests under /ui/."""
    # Imported here because the pages module imports this one.
    from recommender.routes.pages import render

    return render("error.html", status, title=title, message=message)


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception to the one error body."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> Response:
        if error.status == 401 and request.url.path.startswith("/ui/"):
            # A browser cannot send a bearer token, so it is sent to sign in and
            # then back to the page it requested.
            requested = request.url.path
            if request.method == "GET" and request.url.query:
                requested += "?" + request.url.query
            target = f"{SIGN_IN_PATH}?{urlencode({'next': safe_next(requested)})}"
            return RedirectResponse(target, status_code=303)
        if error.status == 503 and request.url.path.startswith("/ui/"):
            # A browser on the search page gets a page, not JSON, while the
            # service loads or after its loading failed.
            page = _error_page(503, "Service unavailable", error.message)
            page.headers.update(error.headers or {})
            return page
        return error_response(
            request, error.status, error.code, error.message, error.field, error.headers
        )

    @app.exception_handler(InvalidAlertError)
    async def _invalid(request: Request, error: InvalidAlertError) -> Response:
        return error_response(request, 422, "invalid_input", error.message, error.field)

    @app.exception_handler(RecordNotFoundError)
    async def _not_found(request: Request, error: RecordNotFoundError) -> Response:
        return error_response(request, 404, "not_found", str(error), "id")

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> Response:
        first = error.errors()[0] if error.errors() else {}
        location = [str(part) for part in first.get("loc", ())]
        field = (
            ".".join(location[1:]) if len(location) > 1 else ".".join(location) or None
        )
        # pydantic puts "Value error, " before the message of a custom check.
        message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
        accepted = first.get("accepted") or _body_fields(request)
        plain = plain_message(first, field, accepted)
        if first.get("type") == "missing" and location[:1] != ["body"]:
            message = f"missing {location[0] if location else ''} parameter {field}"
        elif _is_not_finite(first.get("input")):
            message = f"expected a finite number, got {str(first['input'])[:20]!r}"
        elif plain is not None:
            message = plain
        elif first.get("input") is not None and not isinstance(
            first["input"], (dict, list)
        ):
            message += f" (got {str(first['input'])[:80]!r})"
        return error_response(request, 422, "invalid_input", message, field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> Response:
        if error.status_code == 405:
            return method_not_allowed(request, allowed_methods(request))
        code = {404: "not_found", 413: "too_large"}.get(error.status_code, "http_error")
        message = str(error.detail)
        if error.status_code == 404 and message == "Not Found":
            if request.url.path.startswith("/ui/"):
                # A mistyped or stale link to a page gets a page to go back from.
                return _error_page(
                    404, "Page not found", f"No page at {request.url.path[:200]}."
                )
            message = (
                f"no route matches {request.url.path[:200]}; the routes are listed "
                "at /docs"
            )
        headers = dict(error.headers or {})
        return error_response(request, error.status_code, code, message, None, headers)

    @app.exception_handler(ConfigurationError)
    @app.exception_handler(KnowledgeBaseError)
    async def _unavailable(request: Request, error: Exception) -> Response:
        logger.error("request %s failed: %s", request_id(request), error)
        return error_response(request, 503, "unavailable", str(error))

    # Record and scoring-row reads go to the sqlite3 driver directly, so their
    # errors arrive as sqlite3.Error, not wrapped by SQLAlchemy.
    @app.exception_handler(sqlite3.Error)
    @app.exception_handler(SQLAlchemyError)
    async def _database(request: Request, error: Exception) -> Response:
        # NOTE: once, after a database file was overwritten and restored under a
        # running service, these 503s went on until a restart while /livez
        # returned 200. Overwriting the 100-byte header alone, with the pool
        # kept or disposed, did not reproduce it, so the cause is not known.
        # The message contains SQL, so it goes to the log only.
        logger.error(
            "request %s failed in the database: %s", request_id(request), error
        )
        if "database is locked" in str(error):
            # Another writer held SQLite's lock past its busy timeout. The lock
            # is released soon, so the response asks for a retry like a full queue.
            return error_response(
                request,
                503,
                "unavailable",
                "a database of the service is busy with another write; retry "
                f"after {LOCKED_RETRY_SECONDS} seconds",
                headers={"Retry-After": str(LOCKED_RETRY_SECONDS)},
            )
        damage = _damage(error)
        readiness = getattr(request.app.state, "readiness", None)
        if damage is not None and readiness is not None and readiness.damaged is None:
            # A damaged page can sit where the readiness probe's one-row reads
            # never look, so the failure that finds it takes the service out.
            readiness.damaged = damage
            logger.error(
                "a database of the service is damaged (%s); /readyz responds "
                "with 503 until the service restarts",
                damage,
            )
        # The error does not name its database file, so the message names
        # none. The logged error has the table and the SQL.
        message = (
            "a database of the service is unavailable; see the service log for "
            "this request id"
        )
        if request.url.path.startswith("/ui/"):
            return _error_page(503, "Service unavailable", message)
        return error_response(request, 503, "unavailable", message)

    @app.exception_handler(Exception)
    async def _bug(request: Request, error: Exception) -> Response:
        return internal_error(request, error)


def _body_fields(request: Request) -> list[str]:
    """Return the fields of the route's JSON body model, for an unknown-field error."""
    body = getattr(request.scope.get("route"), "body_field", None)
    model = getattr(getattr(body, "field_info", None), "annotation", None)
    fields = getattr(model, "model_fields", None)
    return sorted(fields) if isinstance(fields, dict) else []


def _is_not_finite(value: object) -> bool:
    """Check for NaN or infinity sent as text, which pydantic reads as a float."""
    if not isinstance(value, str):
        return False
    try:
        return not math.isfinite(float(value))
    except ValueError:
        return False


def allowed_methods(request: Request) -> list[str]:
    """Return the methods that some route takes on the request's path.

    Starlette's own Allow header lists only the first matching route, but GET and
    POST of one path are often separate routes.
    """
    if request.url.path in getattr(request.app.state, "post_only_paths", ()):
        # These paths also match a GET route with a path parameter, and that
        # route returns 405 for them.
        return ["POST"]
    allowed = []
    for method in ROUTED_METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.routes):
            allowed.append(method)
    return allowed


def method_not_allowed(request: Request, allowed: list[str]) -> Response:
    """Return 405 with the Allow header that RFC 9110 requires, also in the message."""
    allow = ", ".join(allowed)
    return error_response(
        request,
        405,
        "method_not_allowed",
        f"method {request.method[:20]} is not allowed on {request.url.path[:200]}; "
        f"use {allow}",
        None,
        {"Allow": allow},
    )


def internal_error(request: Request, error: Exception) -> Response:
    """Log an unexpected error once, with its request id, and answer 500."""
    logger.error(
        "request %s failed with an unexpected error",
        request_id(request),
        exc_info=error,
    )
    return error_response(
        request,
        500,
        "internal_error",
        "unexpected error; report it with the request id",
    )
