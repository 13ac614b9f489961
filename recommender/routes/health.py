"""Health route: whether the service answers and what knowledge base it serves."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from indexer.knowledge_base import KnowledgeBase
from recommender.routes.deps import get_knowledge_base
from recommender.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
async def health(
    knowledge_base: Annotated[KnowledgeBase, Depends(get_knowledge_base)],
) -> Health:
    """Report that the service is up, with record count and data version."""
    stats = await run_in_threadpool(knowledge_base.stats)
    return Health(
        status="ok" if stats.records else "empty",
        records=stats.records,
        vectors=stats.vectors,
        data_version=stats.data_version,
        model=stats.model,
        index_type=stats.index_type,
    )
