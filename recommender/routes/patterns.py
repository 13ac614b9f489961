"""Patterns route: recurring root causes in the knowledge base."""

from __future__ import annotations

import threading
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from indexer.knowledge_base import KnowledgeBase
from recommender.patterns import DEFAULT_DISTANCE_THRESHOLD, find_patterns
from recommender.patterns_report import report_to_dict
from recommender.report_schemas import PatternsOut
from recommender.routes.alerts import run_queued
from recommender.routes.deps import get_knowledge_base
from recommender.schemas import ErrorBody

router = APIRouter(prefix="/v1", tags=["patterns"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (422, 503)
}
# Reports kept per app, keyed by data version and parameters.
_CACHE_SIZE = 8
_cache_lock = threading.Lock()
ReportCache = dict[tuple[int, float, str], dict[str, Any]]


@router.get("/patterns", response_model=PatternsOut, responses=ERRORS)
async def get_patterns(
    request: Request,
    knowledge_base: Annotated[KnowledgeBase, Depends(get_knowledge_base)],
    distance_threshold: Annotated[
        float,
        Query(gt=0.0, lt=2.0, description="Cosine distance that joins root causes."),
    ] = DEFAULT_DISTANCE_THRESHOLD,
    period: Annotated[
        Literal["quarter", "month"], Query(description="Time bucket of counts.")
    ] = "quarter",
    recurring_only: Annotated[
        bool, Query(description="Leave out clusters of one record.")
    ] = True,
) -> PatternsOut:
    """Cluster past incidents and postmortems by root cause, recurring ones first."""
    state = request.app.state
    if getattr(state, "patterns_cache", None) is None:
        state.patterns_cache = {}
    report = await run_queued(
        request,
        1,
        _report,
        state.patterns_cache,
        knowledge_base,
        distance_threshold,
        period,
        timed=False,
    )
    if recurring_only:
        report = {
            **report,
            "patterns": [p for p in report["patterns"] if p["recurring"]],
        }
    return PatternsOut(**report)


def _report(
    cache: ReportCache,
    knowledge_base: KnowledgeBase,
    distance_threshold: float,
    period: str,
) -> dict[str, Any]:
    """Return the report, computed again only when the data version changed."""
    key = (knowledge_base.database.data_version(), distance_threshold, period)
    with _cache_lock:
        cached = cache.get(key)
    if cached is not None:
        return cached
    report = report_to_dict(find_patterns(knowledge_base, distance_threshold, period))
    with _cache_lock:
        if len(cache) >= _CACHE_SIZE:
            cache.pop(next(iter(cache)))
        cache[key] = report
    return report
