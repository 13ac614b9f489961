"""Routes that take alerts: Alertmanager webhooks and plain JSON alerts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from recommender.alerts import Alert, parse_alertmanager, parse_plain
from recommender.errors import InvalidAlertError
from recommender.http_errors import request_id
from recommender.recommendation import Recommender
from recommender.routes.body import read_json
from recommender.routes.deps import check_top_k, get_recommender
from recommender.routes.incidents_in_progress import track_alert_group
from recommender.schemas import (
    AlertResult,
    AlertResults,
    ErrorBody,
    alert_result,
)
from recommender.service_metrics import metrics_of

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (413, 415, 422)
}


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
    recommender: Annotated[Recommender, Depends(get_recommender)],
    top_k: Annotated[int | None, Query(description="Matches per alert.")] = None,
) -> AlertResults:
    """Recommend for each alert of a Prometheus Alertmanager webhook (version 4)."""
    limit = check_top_k(request, top_k)
    payload = await read_json(request)
    parsed = parse_alertmanager(payload)
    results = [
        await _result(request, recommender, i, item, limit)
        for i, item in enumerate(parsed)
    ]
    answer = AlertResults(results=results)
    await track_alert_group(request, payload, parsed, answer)
    return answer


@router.post(
    "",
    response_model=AlertResults,
    responses=ERRORS,
    openapi_extra=_body("PlainAlert"),
)
async def post_alert(
    request: Request,
    recommender: Annotated[Recommender, Depends(get_recommender)],
    top_k: Annotated[int | None, Query(description="Matches to return.")] = None,
) -> AlertResults:
    """Recommend for one plain JSON alert (title, description, labels, service)."""
    limit = check_top_k(request, top_k)
    alert = parse_plain(await read_json(request))
    return AlertResults(results=[await _result(request, recommender, 0, alert, limit)])


async def _result(
    request: Request,
    recommender: Recommender,
    index: int,
    item: Alert | InvalidAlertError,
    top_k: int,
) -> AlertResult:
    recommendation = None
    if isinstance(item, Alert) and item.status == "firing":
        # Inference runs in a worker thread so the event loop keeps serving health.
        recommendation = await run_in_threadpool(recommender.recommend, item, top_k)
        metrics_of(request).observe_recommendation(recommendation)
    return alert_result(index, item, recommendation, request_id(request))
