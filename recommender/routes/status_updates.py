"""Status-update route: a stakeholder or chat update rendered for an alert."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request

from recommender.http_errors import ApiError
from recommender.recommendation import Recommender
from recommender.report_schemas import StatusUpdateOut
from recommender.responder_schemas import responders_out
from recommender.responders import (
    RespondersConfig,
    load_responders_config,
    responders_for,
)
from recommender.routes.alerts import run_queued
from recommender.routes.body import read_json
from recommender.routes.deps import get_recommender
from recommender.schemas import ErrorBody
from recommender.status_update import (
    StatusUpdater,
    firing_alerts,
    load_status_updater,
)


@asynccontextmanager
async def load_templates(app: FastAPI) -> AsyncIterator[None]:
    """Load and check the templates and responders at start-up, not at an incident.

    A broken template or configuration raises ConfigurationError here, so the
    service does not start.
    """
    config_path = app.state.settings.config
    app.state.status_updater = load_status_updater(config_path)
    app.state.responders_config = load_responders_config(config_path)
    yield


router = APIRouter(prefix="/v1", tags=["status updates"], lifespan=load_templates)
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (404, 413, 415, 422, 503)
}


@router.post(
    "/status-updates",
    response_model=StatusUpdateOut,
    responses=ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            {"$ref": "#/components/schemas/PlainAlert"},
                            {"$ref": "#/components/schemas/AlertmanagerWebhook"},
                        ]
                    }
                }
            },
        }
    },
)
async def post_status_update(
    request: Request,
    recommender: Annotated[Recommender, Depends(get_recommender)],
    template: Annotated[
        str | None,
        Query(max_length=200, description="Template name, e.g. stakeholder or chat."),
    ] = None,
) -> StatusUpdateOut:
    """Render a status update for a plain alert or an Alertmanager webhook."""
    updater: StatusUpdater = request.app.state.status_updater
    if template is not None and template not in updater.templates:
        raise ApiError(
            404,
            "not_found",
            f"no status update template named {template!r}; available: "
            f"{', '.join(sorted(updater.templates))}",
            "template",
        )
    alerts = firing_alerts(await read_json(request), "alerts")

    recommendation = await run_queued(request, 1, recommender.recommend, alerts[0])
    config: RespondersConfig = request.app.state.responders_config
    responders = responders_for(alerts[0], recommendation, config)
    update = updater.render(alerts, recommendation, responders, template)
    return StatusUpdateOut(
        template=update.template,
        text=update.text,
        severity=update.context["severity"],
        no_close_precedent=recommendation.no_close_precedent,
        next_update_at=update.context["next_update_at"],
        responders=responders_out(responders),
    )
