"""Routes over alert groups tracked as incidents in progress, and the webhook hook.

The router's lifespan opens the response database and starts the notification
worker, so deliveries left pending by a killed process are sent after a restart.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from indexer.errors import KnowledgeBaseError
from recommender.alerts import Alert
from recommender.errors import InvalidAlertError
from recommender.http_errors import ApiError
from recommender.incident_response import GroupUpdate, IncidentResponse
from recommender.notifications.delivery import DeliveryWorker
from recommender.response_schemas import (
    IncidentInProgressOut,
    IncidentsInProgressOut,
    incident_out,
    incident_summary_out,
)
from recommender.schemas import AlertResults, ErrorBody

logger = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the incident response and run the notification worker while serving."""
    settings = app.state.settings
    app.state.incident_response = None
    try:
        response = IncidentResponse(settings.home, settings.config)
    except KnowledgeBaseError as error:
        # The service still recommends; only tracking and notifications are off.
        logger.warning("incidents in progress and notifications are off: %s", error)
        app.state.incident_response_error = str(error)
        response = None
    if response is None:
        yield
        return

    worker = DeliveryWorker(response.sender)
    app.state.incident_response = response
    app.state.delivery_worker = worker
    worker.start()
    try:
        yield
    finally:
        await run_in_threadpool(worker.stop)


router = APIRouter(
    prefix="/v1/incidents-in-progress",
    tags=["incidents in progress"],
    lifespan=lifespan,
)
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (404, 422)
}


def incident_response(request: Request) -> IncidentResponse:
    """Return the incident response of the running app; 503 when it is off."""
    response = getattr(request.app.state, "incident_response", None)
    if response is None:
        reason = getattr(request.app.state, "incident_response_error", "not started")
        raise ApiError(503, "unavailable", f"incidents in progress are off: {reason}")
    return response


async def track_alert_group(
    request: Request,
    payload: Any,
    parsed: Sequence[Alert | InvalidAlertError],
    answer: AlertResults | Any,
) -> list[GroupUpdate]:
    """Track an Alertmanager webhook's group and queue notifications for a change.

    A response that is not AlertResults (such as a 503 while overloaded) is not
    tracked, because Alertmanager sends the group again. Returns the update of
    each group tracked.
    """
    if not isinstance(payload, dict) or not isinstance(answer, AlertResults):
        return []
    if getattr(request.app.state, "incident_response", None) is None:
        return []
    response = incident_response(request)
    updates = await run_in_threadpool(
        response.handle_webhook, payload, parsed, answer.results
    )
    if any(update.deliveries for update in updates):
        request.app.state.delivery_worker.wake()
    return updates


@router.get("", response_model=IncidentsInProgressOut, responses=ERRORS)
async def list_incidents(
    request: Request,
    status: Annotated[
        Literal["open", "resolved"] | None, Query(description="open or resolved.")
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=500, description="Maximum number of results.")
    ] = 50,
) -> IncidentsInProgressOut:
    """List incidents in progress, most recently updated first."""
    tracker = incident_response(request).tracker
    incidents = await run_in_threadpool(tracker.list, status, limit)
    return IncidentsInProgressOut(
        incidents=[incident_summary_out(incident) for incident in incidents]
    )


@router.get("/{key:path}", response_model=IncidentInProgressOut, responses=ERRORS)
async def get_incident_in_progress(
    request: Request,
    key: Annotated[str, Path(description="Incident id or the group key.")],
) -> IncidentInProgressOut:
    """Return an incident in progress with its alerts and severity history."""
    tracker = incident_response(request).tracker
    incident = await run_in_threadpool(tracker.get, key)
    return incident_out(incident)
