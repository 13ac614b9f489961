"""Shared route helpers: the objects a request works with and common parameters."""

from __future__ import annotations

from fastapi import Request

from indexer.knowledge_base import KnowledgeBase
from recommender.http_errors import ApiError
from recommender.readiness import wait_until_loaded
from recommender.recommendation import Recommender


async def get_recommender(request: Request) -> Recommender:
    """Return the recommender of the running app, once it has loaded."""
    await wait_until_loaded(request)
    return request.app.state.recommender


async def get_knowledge_base(request: Request) -> KnowledgeBase:
    """Return the knowledge base of the running app, once it has loaded."""
    await wait_until_loaded(request)
    return request.app.state.knowledge_base


def check_top_k(request: Request, top_k: int | None) -> int:
    """Return top_k, or the default, after checking it is in 1..max_top_k."""
    settings = request.app.state.settings
    if top_k is None:
        return int(settings.default_top_k)
    if not 1 <= top_k <= settings.max_top_k:
        raise ApiError(
            422,
            "invalid_input",
            f"top_k must be between 1 and {settings.max_top_k}, got {top_k}",
            "top_k",
        )
    return top_k
