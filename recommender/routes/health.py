"""Probe and metrics routes: liveness, readiness, health and Prometheus metrics."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from indexer.database import SEARCH_TABLES
from indexer.errors import IncidentRecommenderError
from indexer.knowledge_base import KnowledgeBase, Stats
from recommender.feedback import feedback_table
from recommender.http_errors import error_response
from recommender.readiness import Readiness, not_ready_error
from recommender.routes.deps import get_knowledge_base
from recommender.schemas import ErrorBody, Health
from recommender.service_metrics import metrics_of

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])
UNAVAILABLE: dict[int | str, dict[str, Any]] = {503: {"model": ErrorBody}}
# The knowledge base's tables read to recommend for an alert: the search's, and
# the feedback that adjusts its matches.
ANSWER_TABLES = (*SEARCH_TABLES, feedback_table.name)


@router.get("/health", response_model=Health, responses=UNAVAILABLE)
async def health(
    request: Request,
    knowledge_base: Annotated[KnowledgeBase, Depends(get_knowledge_base)],
) -> Health | Response:
    """Report that the service is up, with record count and data version."""
    readiness: Readiness = request.app.state.readiness
    if readiness.damaged is not None:
        return error_response(request, 503, "unavailable", _damaged(readiness))
    failure = await _search_failure(knowledge_base)
    if failure is not None:
        return error_response(request, 503, "unavailable", failure)
    stats = await run_in_threadpool(knowledge_base.stats)
    return Health(
        status="ok" if stats.records else "empty",
        records=stats.records,
        vectors=stats.vectors,
        data_version=stats.data_version,
        model=stats.model,
        index_type=stats.index_type,
        query_embedding=knowledge_base.embedder.query_runtime(),
    )


@router.get("/livez")
async def livez() -> dict[str, str]:
    """Report that the process serves requests, without checking the knowledge base."""
    return {"status": "alive"}


@router.get("/readyz", responses=UNAVAILABLE)
async def readyz(request: Request) -> Response:
    """Report 200 when the model and index are loaded and the database reads."""
    readiness: Readiness = request.app.state.readiness
    if not readiness.loaded.is_set():
        error = not_ready_error(readiness)
        return error_response(
            request, error.status, error.code, error.message, None, error.headers
        )

    stats = await _ready_stats(readiness, request.app.state.knowledge_base)
    if isinstance(stats, str):
        return error_response(request, 503, "unavailable", stats)
    return JSONResponse(
        {
            "status": "ready",
            "records": stats.records,
            "vectors": stats.vectors,
            "data_version": stats.data_version,
        }
    )


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Return Prometheus metrics in the text exposition format."""
    readiness = request.app.state.readiness
    stats = None
    if readiness.loaded.is_set():
        # The same checks as /readyz, so that incident_ready agrees with it.
        checked = await _ready_stats(readiness, request.app.state.knowledge_base)
        stats = None if isinstance(checked, str) else checked
    body = metrics_of(request).render(
        stats,
        load_failed=readiness.error is not None,
        damaged=readiness.damaged is not None,
    )
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)


async def _ready_stats(
    readiness: Readiness, knowledge_base: KnowledgeBase
) -> Stats | str:
    """Return the stats of a loaded service that can answer, or why it cannot."""
    if readiness.damaged is not None:
        return _damaged(readiness)
    # The tables go first, so that a missing one is named. The counts read only some.
    failure = await _search_failure(knowledge_base)
    if failure is not None:
        return failure
    stats = await _stats(knowledge_base)
    if stats is None:
        return "the knowledge base database cannot be read; see the service log"
    return stats


async def _stats(knowledge_base: KnowledgeBase) -> Stats | None:
    """Return the knowledge base's stats, or None when the database fails."""
    try:
        return await run_in_threadpool(knowledge_base.stats)
    except (SQLAlchemyError, IncidentRecommenderError) as error:
        logger.error("readiness check failed: %s", error)
        return None


def _damaged(readiness: Readiness) -> str:
    # SQLite's message does not name the file, so the message names each one.
    return (
        f"a database file of the service is damaged ({readiness.damaged}): the "
        "knowledge base (knowledge.db), received alerts (alerts.db) or incidents "
        "and notifications (response.db) in INCIDENT_HOME. Find it with sqlite3 "
        "FILE 'PRAGMA quick_check', restore it from a backup (the knowledge base "
        "can also be rebuilt with 'indexer build SOURCES'), then restart the "
        "service"
    )


async def _search_failure(knowledge_base: KnowledgeBase) -> str | None:
    """Return why searches would fail on the database, or None when they can run."""
    failures = await run_in_threadpool(
        knowledge_base.database.unreadable_tables, ANSWER_TABLES
    )
    if not failures:
        return None
    for table, error in failures.items():
        logger.error("readiness check failed: table %s unreadable: %s", table, error)
    tables = "; ".join(f"table {table}: {error}" for table, error in failures.items())
    return (
        f"searches would fail because the knowledge base database cannot be read "
        f"({tables}); restore the file from a backup or rebuild it with "
        "'indexer build SOURCES', then restart the service"
    )
