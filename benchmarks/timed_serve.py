"""`recommender serve` that records where the time of each GET /v1/search goes.

benchmarks.served_search starts the service through this module to split the
latency of a search over HTTP into the search itself (on the worker thread),
the hop to and from that thread, and the rest of the app around it. Three
wrappers record perf_counter spans; on SIGTERM the spans are written as JSON to
the file named by BENCHMARK_TIMINGS and the process exits.

Usage: BENCHMARK_TIMINGS=FILE python -m benchmarks.timed_serve --home DIR serve
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from recommender import api, retrieval
from recommender.routes import incidents

SEARCH_PATH = "/v1/search"

spans: dict[str, list[float]] = {"search": [], "worker_thread": [], "app": []}


def _time_search() -> None:
    """Time Retriever.search, which runs on a worker thread."""
    search = retrieval.Retriever.search

    def timed(self: retrieval.Retriever, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return search(self, *args, **kwargs)
        finally:
            spans["search"].append(time.perf_counter() - started)

    retrieval.Retriever.search = timed  # type: ignore[method-assign]


def _time_worker_thread() -> None:
    """Time the route's call onto a worker thread, from the event loop's side."""
    run_in_threadpool = incidents.run_in_threadpool

    async def timed(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await run_in_threadpool(function, *args, **kwargs)
        finally:
            spans["worker_thread"].append(time.perf_counter() - started)

    incidents.run_in_threadpool = timed  # type: ignore[assignment]


def _time_app() -> None:
    """Time the whole ASGI app, middleware included, for each search request."""
    create_app = api.create_app

    def timed_app(*args: Any, **kwargs: Any) -> Any:
        app = create_app(*args, **kwargs)
        build = app.build_middleware_stack

        def build_timed() -> Callable[..., Awaitable[None]]:
            stack = build()

            async def timed(scope: Any, receive: Any, send: Any) -> None:
                started = time.perf_counter()
                await stack(scope, receive, send)
                if scope["type"] == "http" and scope["path"] == SEARCH_PATH:
                    spans["app"].append(time.perf_counter() - started)

            return timed

        app.build_middleware_stack = build_timed  # type: ignore[method-assign]
        return app

    api.create_app = timed_app  # type: ignore[assignment]


def _write_and_exit(*_: object) -> None:
    Path(os.environ["BENCHMARK_TIMINGS"]).write_text(json.dumps(spans))
    sys.exit(0)


def main() -> int:
    """Install the wrappers, then run the recommender command line."""
    _time_search()
    _time_worker_thread()
    _time_app()
    signal.signal(signal.SIGTERM, _write_and_exit)

    from recommender.cli import main as recommender_main

    return recommender_main()


if __name__ == "__main__":
    sys.exit(main())
