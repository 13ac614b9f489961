"""Shared route helpers: the objects a request works with and common parameters."""

from __future__ import annotations

import asyncio
import time

from fastapi import Request

from indexer.knowledge_base import KnowledgeBase
from recommender.http_errors import ApiError
from recommender.readiness import not_ready_error
from recommender.recommendation import Recommender

# How often a request made during start-up looks whether loading has finished.
READY_POLL_SECONDS = 0.05


async def get_recommender(request: Request) -> Recommender:
    """Return the recommender of the running app, once it has loaded."""
    await _loaded(request)
    return request.app.state.recommender


async def get_knowledge_base(request: Request) -> KnowledgeBase:
    """Return the knowledge base of the running app, once it has loaded."""
    await _loaded(request)
    return request.app.state.knowledge_base


async def _loaded(request: Request) -> None:
    """Return once the app has loaded, or raise 503 after INCIDENT_READY_WAIT.

    It waits on the event loop. A worker thread per waiting request would use up
    the pool that other routes share: 40 requests made while a large knowledge
    base loaded held every thread, and others waited twice as long.
    """
    readiness = request.app.state.readiness
    deadline = time.monotonic() + request.app.state.settings.ready_wait
    # Without a body to keep, a GET or HEAD can look for the client's
    # disconnect: a client that gave up would otherwise hold its place in
    # uvicorn's concurrency limit until the wait ends.
    bodiless = request.method in ("GET", "HEAD")
    while readiness.error is None and not readiness.loaded.is_set():
        remaining = deadline - time.monotonic()
        if remaining <= 0 or readiness.stopping:
            break
        if bodiless and await request.is_disconnected():
            raise ApiError(503, "unavailable", "the client closed the connection")
        await asyncio.sleep(min(READY_POLL_SECONDS, remaining))
    if readiness.error is None and readiness.loaded.is_set():
        return
    raise not_ready_error(readiness)


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
