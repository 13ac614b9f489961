"""Routes that take alerts (Alertmanager, Grafana, PagerDuty, plain JSON) and
return the stored ones."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from recommender.alert_store import AlertStore
from recommender.alerts import AlertGroup, parse_alertmanager_group, parse_plain
from recommender.grafana import parse_grafana
from recommender.http_errors import ApiError, error_response
from recommender.inference_queue import InferenceQueue, QueueFullError
from recommender.intake import answer_alerts
from recommender.pagerduty import parse_pagerduty
from recommender.responder_results import add_group_responders
from recommender.routes.body import read_json
from recommender.routes.deps import check_top_k
from recommender.routes.incidents_in_progress import track_alert_group
from recommender.schemas import AlertResults, ErrorBody
from recommender.service_metrics import metrics_of
from recommender.stored_alert_schemas import (
    StoredAlertOut,
    StoredAlertPage,
    stored_alert_out,
    stored_alert_summary,
)

logger = logging.getLogger(__name__)
ResultT = TypeVar("ResultT")

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (413, 415, 422, 503)
}
READ_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (404, 422, 503)
}
MAX_PAGE = 200
# Paths under /v1/alerts that take POST only.
INTAKE_ROUTES = frozenset({"alertmanager", "grafana", "pagerduty"})
TopK = Annotated[int | None, Query(description="Matches per alert.")]


def _body(name: str) -> dict[str, object]:
    schema = {"$ref": f"#/components/schemas/{name}"}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    }


@router.post(
    "/alertmanager",
    response_model=AlertResults,
    responses=ERRORS,
    openapi_extra=_body("AlertmanagerWebhook"),
)
async def post_alertmanager(
    request: Request,
    top_k: TopK = None,
) -> AlertResults | Response:
    """Recommend for each alert of a Prometheus Alertmanager webhook (version 4)."""
    limit = check_top_k(request, top_k)
    payload = await read_json(request, check_text=False)
    group = parse_alertmanager_group(payload)
    answer = await _answer(request, group, limit)
    updates = await track_alert_group(request, payload, group.alerts, answer)
    left_out = [update for update in updates if update.left_out]
    if left_out:
        # The incident counts them resolved, so GET /v1/alerts does as well.
        store = await alert_store_of(request)
        for update in left_out:
            await run_in_threadpool(
                store.resolve_left_out,
                update.left_out,
                "alertmanager",
                update.left_out_ended_by,
            )
    return answer


@router.post(
    "/grafana",
    response_model=AlertResults,
    responses=ERRORS,
    openapi_extra=_body("GrafanaWebhook"),
)
async def post_grafana(
    request: Request,
    top_k: TopK = None,
) -> AlertResults | Response:
    """Recommend for each alert of a Grafana alerting webhook (version 1)."""
    limit = check_top_k(request, top_k)
    group = parse_grafana(await read_json(request, check_text=False))
    return await _answer(request, group, limit)


@router.post(
    "/pagerduty",
    response_model=AlertResults,
    responses=ERRORS,
    openapi_extra=_body("PagerDutyEvents"),
)
async def post_pagerduty(
    request: Request,
    top_k: TopK = None,
) -> AlertResults | Response:
    """Recommend for PagerDuty Events API v2 events: one event or a list."""
    limit = check_top_k(request, top_k)
    group = parse_pagerduty(await read_json(request, check_text=False))
    return await _answer(request, group, limit)


@router.post(
    "",
    response_model=AlertResults,
    responses=ERRORS,
    openapi_extra=_body("PlainAlert"),
)
async def post_alert(
    request: Request,
    top_k: TopK = None,
) -> AlertResults | Response:
    """Recommend for one plain JSON alert (title, description, labels, service)."""
    limit = check_top_k(request, top_k)
    alert = parse_plain(await read_json(request))
    return await _answer(request, AlertGroup(alerts=[alert]), limit)


@router.get("", response_model=StoredAlertPage, responses=READ_ERRORS)
async def list_alerts(
    request: Request,
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE, description="Alerts per page.")
    ] = 50,
    offset: Annotated[
        int, Query(ge=0, le=1_000_000_000, description="Alerts to skip.")
    ] = 0,
) -> StoredAlertPage:
    """List received alerts, the most recently first received first."""
    store = await alert_store_of(request)
    stored, total = await run_in_threadpool(store.page, limit, offset)
    following = offset + len(stored)
    return StoredAlertPage(
        items=[stored_alert_summary(item) for item in stored],
        total=total,
        limit=limit,
        offset=offset,
        next_offset=following if following < total else None,
    )


@router.get(
    "/{key}",
    response_model=StoredAlertOut,
    responses={**READ_ERRORS, 405: {"model": ErrorBody}},
)
async def get_alert(
    request: Request,
    key: Annotated[str, Path(description="The key field of an alert's result.")],
) -> StoredAlertOut:
    """Return a received alert with its stored recommendation."""
    if key in INTAKE_ROUTES:
        # GET /v1/alerts/{key} matches these paths, so without this check a
        # webhook URL opened in a browser would report a missing alert.
        raise ApiError(
            405,
            "method_not_allowed",
            f"/v1/alerts/{key} takes alerts with POST; send the webhook there",
            headers={"Allow": "POST"},
        )
    store = await alert_store_of(request)
    stored = await run_in_threadpool(store.get, key)
    if stored is None:
        raise ApiError(
            404,
            "not_found",
            f"no stored alert has key {key[:64]!r}; use the key field of a result "
            "of POST /v1/alerts or of GET /v1/alerts",
            "key",
        )
    return stored_alert_out(stored)


async def alert_store_of(request: Request) -> AlertStore:
    """Return the alert store of the app, opening it on first use."""
    state = request.app.state
    if getattr(state, "alert_store", None) is None:
        settings = state.settings
        path = settings.alerts_database or settings.home / "alerts.db"
        store = await run_in_threadpool(AlertStore, path)
        if getattr(state, "alert_store", None) is None:
            state.alert_store = store
    return state.alert_store


def inference_queue_of(request: Request) -> InferenceQueue:
    """Return the inference queue of the app, creating it on first use."""
    state = request.app.state
    if getattr(state, "inference_queue", None) is None:
        settings = state.settings
        state.inference_queue = InferenceQueue(
            settings.max_pending, settings.inference_workers
        )
    return state.inference_queue


async def run_queued(
    request: Request,
    items: int,
    function: Callable[..., ResultT],
    *args: Any,
    timed: bool = True,
) -> ResultT:
    """Run work other than alert intake in the inference queue, or raise 503.

    Coverage checks, status updates, patterns and pasted alerts compute on the
    same CPU as alerts, so they take places in the same queue, items per call.
    With timed=False the call does not count towards the time per alert.
    """
    queue = inference_queue_of(request)
    try:
        async with queue.slot(items):
            return await queue.run(function, *args, items=items if timed else 0)
    except QueueFullError as error:
        raise ApiError(
            503,
            "overloaded",
            str(error),
            headers={"Retry-After": str(error.retry_after)},
        ) from error


async def _answer(
    request: Request, group: AlertGroup, top_k: int
) -> AlertResults | Response:
    store = await alert_store_of(request)
    queue = inference_queue_of(request)
    try:
        results = await answer_alerts(
            request,
            group,
            top_k,
            store=store,
            queue=queue,
            observe=metrics_of(request).observe_recommendation,
        )
    except QueueFullError as error:
        # One line for the first rejection and then one per 100, not one each.
        if queue.rejected % 100 == 1:
            logger.warning(
                "returned 503, %d requests rejected since start: %s",
                queue.rejected,
                error,
            )
        response = error_response(request, 503, "overloaded", str(error))
        response.headers["Retry-After"] = str(error.retry_after)
        return response
    metrics_of(request).replays.inc(sum(r.replayed for r in results.results))
    return await add_group_responders(request, group, results)
