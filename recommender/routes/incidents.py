"""Routes over stored records: free-text search, one incident, similar incidents."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from indexer.knowledge_base import KnowledgeBase
from recommender.alerts import Alert, alert_from_text
from recommender.http_errors import ApiError
from recommender.recommendation import Recommender
from recommender.routes.deps import check_top_k, get_knowledge_base, get_recommender
from recommender.schemas import ErrorBody, IncidentOut, SearchResults, match_out
from recommender.write_schemas import feedback_summary_out

router = APIRouter(prefix="/v1", tags=["incidents"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (404, 422)
}


@router.get("/search", response_model=SearchResults, responses=ERRORS)
async def search(
    request: Request,
    recommender: Annotated[Recommender, Depends(get_recommender)],
    q: Annotated[
        str, Query(max_length=10_000, description="Free text, e.g. an error.")
    ],
    top_k: Annotated[int | None, Query(description="Matches to return.")] = None,
) -> Response:
    """Search past incidents, postmortems and runbooks by free text."""
    return _json(await search_results(request, recommender, q, top_k))


async def search_results(
    request: Request, recommender: Recommender, q: str, top_k: int | None
) -> SearchResults:
    """Return the matches of a free-text search, for the API and the search page."""
    limit = check_top_k(request, top_k)
    alert = alert_from_text(q)
    return await _search(recommender, alert, q, limit, exclude=())


@router.get(
    "/incidents/{incident_id:path}/similar",
    response_model=SearchResults,
    responses=ERRORS,
)
async def similar(
    request: Request,
    recommender: Annotated[Recommender, Depends(get_recommender)],
    knowledge_base: Annotated[KnowledgeBase, Depends(get_knowledge_base)],
    incident_id: Annotated[str, Path(description="Record id.")],
    top_k: Annotated[int | None, Query(description="Matches to return.")] = None,
) -> Response:
    """List the records most similar to a stored incident ("more like this")."""
    return _json(
        await similar_results(request, recommender, knowledge_base, incident_id, top_k)
    )


async def similar_results(
    request: Request,
    recommender: Recommender,
    knowledge_base: KnowledgeBase,
    incident_id: str,
    top_k: int | None,
) -> SearchResults:
    """Return the records most similar to a stored one, for the API and the pages."""
    limit = check_top_k(request, top_k)
    record = await run_in_threadpool(knowledge_base.get, _required(incident_id))
    symptom = [
        record.sections.get(s, "")
        for s in ("summary", "description", "meaning", "impact")
    ]
    alert = Alert(
        fingerprint=record.id,
        alertname=",".join(record.alert_names[:1]),
        title=record.title,
        description="\n".join(s for s in symptom if s),
        labels={k: v for k, v in record.labels.items() if k != "alertname"},
    )
    return await _search(recommender, alert, record.id, limit, exclude=(record.id,))


@router.get(
    "/incidents/{incident_id:path}", response_model=IncidentOut, responses=ERRORS
)
async def get_incident(
    knowledge_base: Annotated[KnowledgeBase, Depends(get_knowledge_base)],
    recommender: Annotated[Recommender, Depends(get_recommender)],
    incident_id: Annotated[str, Path(description="Record id.")],
) -> IncidentOut:
    """Return one stored incident, postmortem or runbook by id, with its feedback."""
    record = await run_in_threadpool(knowledge_base.get, _required(incident_id))
    feedback = await run_in_threadpool(recommender.feedback.summary, record.id)
    return IncidentOut(**record.to_dict(), feedback=feedback_summary_out(feedback))


async def _search(
    recommender: Recommender,
    alert: Alert,
    query: str,
    top_k: int,
    exclude: tuple[str, ...],
) -> SearchResults:
    matches = await run_in_threadpool(
        recommender.retriever.search, alert, top_k, exclude
    )
    threshold = recommender.threshold
    return SearchResults(
        query=query,
        matches=[match_out(m, threshold) for m in matches],
        no_close_precedent=not matches or matches[0].score < threshold,
        threshold=threshold,
    )


def _json(results: SearchResults) -> Response:
    # Written directly: FastAPI would validate the model again before writing it,
    # which took about 0.18 ms against 0.01 ms for ten matches.
    return Response(results.model_dump_json(), media_type="application/json")


def _required(incident_id: str) -> str:
    if not incident_id.strip():
        raise ApiError(
            404, "not_found", "missing incident id: use /v1/incidents/ID", "id"
        )
    return incident_id
