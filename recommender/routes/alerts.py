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
from recommender.schemas import (
    AlertOut,
    AlertResult,
    AlertResults,
    ErrorBody,
    ErrorDetail,
    recommendation_out,
)

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
    parsed = parse_alertmanager(await read_json(request))
    results = [
        await _result(request, recommender, i, item, limit)
        for i, item in enumerate(parsed)
    ]
    return AlertResults(results=results)


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
    if isinstance(item, InvalidAlertError):
        error = ErrorDetail(
            status=422,
            code="invalid_input",
            message=item.message,
            field=item.field,
            request_id=request_id(request),
        )
        return AlertResult(index=index, outcome="rejected", alert=None, error=error)

    alert_out = AlertOut(
        fingerprint=item.fingerprint,
        alertname=item.alertname,
        status=item.status,
        service=item.service,
        severity=item.severity,
        starts_at=item.starts_at,
        ends_at=item.ends_at,
    )
    if item.status == "resolved":
        return AlertResult(index=index, outcome="resolved", alert=alert_out)

    # Inference runs in a worker thread so the event loop keeps serving health checks.
    recommendation = await run_in_threadpool(recommender.recommend, item, top_k)
    return AlertResult(
        index=index,
        outcome="recommended",
        alert=alert_out,
        recommendation=recommendation_out(recommendation),
    )
