"""The FastAPI application: app factory, lifespan, request ids, OpenAPI schema."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from recommender.auth import load_policy, require_page_access, require_read_token
from recommender.body_limit import BodyLimitMiddleware
from recommender.head_requests import HeadAsGetMiddleware
from recommender.http_errors import install_error_handlers
from recommender.intake_schemas import GrafanaWebhook, PagerDutyEvents
from recommender.query_parameters import check_query_parameters, include_router
from recommender.readiness import KnowledgeBaseSource, Readiness, start_loading
from recommender.request_context import RequestContextMiddleware
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
from recommender.service_metrics import RequestMetricsMiddleware, ServiceMetrics
from recommender.settings import ServiceSettings

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
        dependencies=[Depends(check_query_parameters)],
    )
    app.state.settings = settings
    app.state.access = load_policy(settings)
    app.state.readiness = Readiness()
    app.state.metrics = ServiceMetrics()
    app.state.post_only_paths = {
        f"{alerts.router.prefix}/{name}" for name in alerts.INTAKE_ROUTES
    }
    install_error_handlers(app)
    # The last added runs first: metrics, HEAD as GET, request context, body limit.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(RequestMetricsMiddleware)
    read_access = [Depends(require_read_token)]
    for module in (alerts, incidents, incidents_in_progress, notifications):
        include_router(app, module.router, read_access)
    include_router(app, pages.router, [Depends(require_page_access)])
    include_router(app, pages.open_router)
    for module in (coverage, patterns, status_updates):
        include_router(app, module.router, read_access)
    for module in (records, health):
        include_router(app, module.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


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
