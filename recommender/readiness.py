"""Start-up in the background: the API serves probes at once and is ready once loaded.

Loading the embedding model and the vector index takes seconds. The loader runs in
a thread, so /livez returns 200 during that time and /readyz returns 503 until the
loader is done.
A request that needs the knowledge base waits up to INCIDENT_READY_WAIT seconds for
the loader, then gets 503 with Retry-After. After a failed load it gets 503 at
once, without Retry-After, since only a restart helps.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sqlite3
import threading
import time
from collections.abc import Callable

from fastapi import FastAPI, Request
from sqlalchemy.exc import SQLAlchemyError

from indexer.errors import IncidentRecommenderError
from indexer.knowledge_base import KnowledgeBase
from recommender.http_errors import ApiError
from recommender.recommendation import Recommender
from recommender.settings import ServiceSettings
from recommender.severity_policy import load_scale

# How often a request made during start-up looks whether loading has finished.
READY_POLL_SECONDS = 0.05
logger = logging.getLogger(__name__)

# Seconds a client should wait before retrying a request made during start-up.
RETRY_AFTER_SECONDS = 5

KnowledgeBaseSource = KnowledgeBase | Callable[[], KnowledgeBase] | None


class Readiness:
    """Whether the loader has finished, and its error if it failed."""

    def __init__(self) -> None:
        self.loaded = threading.Event()
        self.error: str | None = None
        # Set when the server is asked to stop, so requests waiting for the
        # loader get 503 at once instead of holding up the shutdown.
        self.stopping = False
        # The driver's message once a request found a database file damaged.
        self.damaged: str | None = None


def warm_search(recommender: Recommender) -> None:
    """Read what the first searches would otherwise read one at a time.

    That is the passage-to-record map, the scoring rows (into the page cache)
    and the document frequencies of common terms.
    """
    knowledge_base = recommender.knowledge_base
    knowledge_base.owners.catch_up()
    started = time.perf_counter()
    knowledge_base.database.warm_scoring_rows()
    logger.info(
        "read the scoring rows into the page cache in %.1f s",
        time.perf_counter() - started,
    )
    started = time.perf_counter()
    terms = recommender.retriever.frequencies.fill()
    logger.info(
        "cached the document frequencies of %d common terms in %.1f s",
        terms,
        time.perf_counter() - started,
    )


def start_loading(
    app: FastAPI,
    settings: ServiceSettings,
    source: KnowledgeBaseSource,
    freeze_loaded: bool = False,
) -> threading.Thread:
    """Open the knowledge base, load the model and index, then mark the app ready.

    With freeze_loaded, the objects loaded are left out of later garbage
    collections, which suits a process that serves one app until it exits.
    """
    readiness: Readiness = app.state.readiness

    def load() -> None:
        started = time.perf_counter()
        try:
            if isinstance(source, KnowledgeBase):
                knowledge_base = source
            elif source is not None:
                knowledge_base = source()
            else:
                knowledge_base = KnowledgeBase(settings)
            recommender = Recommender(
                knowledge_base,
                threshold=settings.threshold,
                severity_scale=load_scale(settings.config),
            )
            stats = knowledge_base.stats()
            warm_search(recommender)
            # Through the knowledge base, so that a model other than the one
            # the vectors came from fails loading, and /readyz reports it.
            knowledge_base.embed_query("warm up")
            recommender.classifiers.warm()
            if freeze_loaded:
                # At 1,000,000 records a full collection walked the half million
                # objects loaded so far in 190 ms, in the middle of a search.
                gc.collect()
                gc.freeze()
        except (IncidentRecommenderError, OSError) as error:
            readiness.error = str(error)
            logger.error("loading the knowledge base failed: %s", error)
            return
        except (SQLAlchemyError, sqlite3.Error) as error:
            # The driver's own message ("database disk image is malformed")
            # names the problem without the SQL, which goes to the log only.
            cause = getattr(error, "orig", None) or error
            readiness.error = (
                f"the knowledge base database cannot be read: {cause}; restore it "
                "from a backup or rebuild it with 'indexer build SOURCES'"
            )
            logger.error("loading the knowledge base failed", exc_info=error)
            return
        except Exception as error:
            readiness.error = f"unexpected error: {type(error).__name__}"
            logger.error("loading the knowledge base failed", exc_info=error)
            return

        app.state.knowledge_base = knowledge_base
        app.state.recommender = recommender
        readiness.loaded.set()
        logger.info(
            "service ready in %.1f s: %s records, %s vectors, model %s, dimension %s, "
            "queries embedded by %s, index %s",
            time.perf_counter() - started,
            stats.records,
            stats.vectors,
            stats.model,
            stats.dimension,
            knowledge_base.embedder.query_runtime(),
            settings.index_path,
        )

    thread = threading.Thread(target=load, name="knowledge-base-loader", daemon=True)
    thread.start()
    return thread


async def wait_until_loaded(request: Request) -> None:
    """Return once the app has loaded, or raise 503 after INCIDENT_READY_WAIT.

    It waits on the event loop. A worker thread per waiting request would use up
    the pool that other routes share: 40 requests made while a large knowledge
    base loaded held every thread, and others waited twice as long.
    """
    readiness: Readiness = request.app.state.readiness
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


def not_ready_error(readiness: Readiness) -> ApiError:
    """Return the 503 error for a service that is loading or failed to load."""
    if readiness.error is not None:
        message = (
            f"the service could not load its knowledge base: {readiness.error}; "
            "fix the cause and restart the service"
        )
    elif readiness.stopping:
        message = "the service is stopping; retry on another instance"
    else:
        message = (
            "the service is still loading the model and index; retry in "
            f"{RETRY_AFTER_SECONDS} seconds"
        )
    # A failed load needs a restart, so a retry soon would fail the same way.
    headers = (
        {} if readiness.error is not None else {"Retry-After": str(RETRY_AFTER_SECONDS)}
    )
    return ApiError(503, "unavailable", message, headers=headers)
