"""Routes over notification deliveries: the outbox, dead letters and retries.

No route takes a URL: deliveries go only to the channels of the configuration file.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from indexer.errors import ConfigurationError
from recommender.auth import require_write_token
from recommender.http_errors import ApiError
from recommender.notifications.outbox import DeliveryOutdatedError
from recommender.response_schemas import DeliveriesOut, DeliveryOut, delivery_out
from recommender.routes.incidents_in_progress import incident_response
from recommender.schemas import ErrorBody

router = APIRouter(prefix="/v1/notifications", tags=["notifications"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (404, 422)
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 403, 404, 409, 422)
}


@router.get("", response_model=DeliveriesOut, responses=ERRORS)
async def list_deliveries(
    request: Request,
    status: Annotated[
        Literal["pending", "delivered", "dead"] | None,
        Query(description="pending, delivered or dead."),
    ] = None,
    incident_id: Annotated[
        str | None, Query(max_length=64, description="Incident in progress id.")
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=500, description="Maximum number of results.")
    ] = 100,
) -> DeliveriesOut:
    """List notification deliveries, newest first."""
    outbox = incident_response(request).outbox
    deliveries = await run_in_threadpool(outbox.list, status, incident_id, limit)
    return DeliveriesOut(deliveries=[delivery_out(d) for d in deliveries])


@router.get("/dead-letters", response_model=DeliveriesOut, responses=ERRORS)
async def list_dead_letters(
    request: Request,
    limit: Annotated[
        int, Query(ge=1, le=500, description="Maximum number of results.")
    ] = 100,
) -> DeliveriesOut:
    """List deliveries that used up their attempts, newest first."""
    outbox = incident_response(request).outbox
    deliveries = await run_in_threadpool(outbox.list, "dead", None, limit)
    return DeliveriesOut(deliveries=[delivery_out(d) for d in deliveries])


@router.post(
    "/{delivery_id}/retry",
    response_model=DeliveryOut,
    responses=WRITE_ERRORS,
    dependencies=[Depends(require_write_token)],
)
async def retry_dead_letter(
    request: Request,
    delivery_id: Annotated[str, Path(max_length=64, description="Delivery id.")],
) -> DeliveryOut:
    """Send a dead letter again to its configured channel, with fresh attempts."""
    if await request.body():
        raise ApiError(
            422,
            "invalid_input",
            "this endpoint takes no body: a delivery goes only to the channel URL "
            "of the configuration file",
            "body",
        )
    response = incident_response(request)
    try:
        delivery = await run_in_threadpool(response.retry, delivery_id, time.time())
    except ConfigurationError as error:
        raise ApiError(409, "not_configured", str(error), "id") from error
    except DeliveryOutdatedError as error:
        raise ApiError(409, "conflict", str(error), "id") from error
    request.app.state.delivery_worker.wake()
    return delivery_out(delivery)
