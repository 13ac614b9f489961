"""The FastAPI application: app factory, lifespan, request ids, OpenAPI schema."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import Depends, FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from starlette.requests import ClientDisconnect

from recommender.auth import load_policy, require_read_token
from recommender.body_limit import BodyLimitMiddleware
from recommender.head_requests import HeadAsGetMiddleware
from recommender.http_errors import (
    REQUEST_ID_HEADER,
    error_response,
    install_error_handlers,
    internal_error,
)
from recommender.intake_schemas import GrafanaWebhook, PagerDutyEvents
from recommender.logs import REQUEST_ID
from recommender.readiness import KnowledgeBaseSource, Readiness, start_loading
from recommender.routes import (
    alerts,
    coverage,
    health,
    incidents,
    incidents_in_progress,
    notifications,
    pages,
    patterns,
    records,
    status_updates,
)
from recommender.schemas import AlertmanagerWebhook, PlainAlert
from recommender.service_metrics import (
    CLIENT_CLOSED_REQUEST,
    ServiceMetrics,
    observe_requests,
)
from recommender.settings import ServiceSettings

logger = logging.getLogger(__name__)

# A request id from the client is kept only when it cannot break a log line.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

# Request bodies that are parsed by hand, so one bad alert is rejected on its own;
# their schemas are added to the OpenAPI document here.
DOCUMENTED_BODIES: tuple[type[BaseModel], ...] = (
    AlertmanagerWebhook,
    GrafanaWebhook,
    PagerDutyEvents,
    PlainAlert,
)


def create_app(
    settings: ServiceSettings | None = None,
    knowledge_base: KnowledgeBaseSource = None,
    freeze_loaded: bool = False,
) -> FastAPI:
    """Create the API over a knowledge base (opened from settings when not given).

    knowledge_base may be a function that opens one; it runs in the background
    loader, so the app serves /livez while it runs. freeze_loaded keeps the loaded
    objects out of later garbage collections, for `recommender serve`. Raises
    ConfigurationError for an invalid token setting.
    """
    settings = settings or ServiceSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        start_loading(app, settings, knowledge_base, freeze_loaded)
        yield

    app = FastAPI(
        title="Incident recommender",
        version="0.1.0",
        summary="Similar past incidents, root causes, severity and fixes for an alert.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.access = load_policy(settings)
    app.state.readiness = Readiness()
    app.state.metrics = ServiceMetrics()
    app.state.post_only_paths = {
        f"{alerts.router.prefix}/{name}" for name in alerts.INTAKE_ROUTES
    }
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.middleware("http")(observe_requests)
    app.middleware("http")(_request_context)
    app.add_middleware(HeadAsGetMiddleware)
    read_access = [Depends(require_read_token)]
    for module in (alerts, incidents, incidents_in_progress, notifications, pages):
        app.include_router(module.router, dependencies=read_access)
    for module in (coverage, patterns, status_updates):
        app.include_router(module.router, dependencies=read_access)
    for module in (records, health):
        app.include_router(module.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


async def _request_context(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Give each request an id and reject bodies over the size limit with 413."""
    supplied = request.headers.get(REQUEST_ID_HEADER, "")
    request.state.request_id = (
        supplied if _SAFE_REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex
    )
    REQUEST_ID.set(request.state.request_id)
    limit = request.app.state.settings.max_body_bytes
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        return error_response(
            request,
            413,
            "too_large",
            f"request body of {length} bytes is over the limit of {limit}",
        )
    invalid = _invalid_query_parameter(request.scope.get("query_string", b""))
    if invalid is not None:
        return error_response(
            request,
            422,
            "invalid_input",
            f"query parameter {invalid!r} is not valid UTF-8 once percent-decoded. "
            "Encode the text as UTF-8 before percent-encoding it",
            invalid,
        )
    try:
        response = await call_next(request)
    except ClientDisconnect:
        return _client_disconnected(request)
    except Exception as error:
        # Answered here, so the server does not log the same traceback again.
        return internal_error(request, error)
    response.headers[REQUEST_ID_HEADER] = request.state.request_id
    return response


def _invalid_query_parameter(query_string: bytes) -> str | None:
    """Return the name of a query parameter that is not UTF-8, or None.

    Starlette decodes such bytes to U+FFFD, so a search would run on other text
    than the one sent.
    """
    for pair in query_string.split(b"&"):
        name, _, value = pair.partition(b"=")
        for part in (name, value):
            try:
                unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError:
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


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, summary=app.summary, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in DOCUMENTED_BODIES:
        model_schema = model.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        components.update(model_schema.pop("$defs", {}))
        components[model.__name__] = model_schema
    app.openapi_schema = schema
    return schema
