"""The bounded queue of recommendation work, run off the event loop.

Recommendations run on worker threads of their own, limited apart from the
thread pool that other routes use, so a burst of alerts never holds up health
checks. Admission counts alerts, not requests, because one webhook may carry a
thousand alerts. A request whose alerts would take the count past max_pending is
turned away at once with a time to retry, instead of piling up until the caller
times out and retries anyway.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter

ResultT = TypeVar("ResultT")
# Seconds one recommendation is assumed to take before any has been timed.
INITIAL_ESTIMATE_SECONDS = 0.5
# Weight of the newest timing in the running mean of recommendation times.
SMOOTHING = 0.2


class QueueFullError(Exception):
    """Raised when a request would put more than max_pending alerts in line."""

    def __init__(self, pending: int, alerts: int, retry_after: int) -> None:
        super().__init__(
            f"{_alerts(pending)} already computing or waiting for "
            f"recommendations, and {alerts} more would pass the limit of this "
            f"server; retry after {retry_after} seconds"
        )
        self.retry_after = retry_after


def _alerts(count: int) -> str:
    return "1 alert is" if count == 1 else f"{count} alerts are"


class InferenceQueue:
    """Admits requests while at most max_pending alerts wait, on `workers` threads.

    A request with more alerts than max_pending is admitted only onto an empty
    queue, so a large group is still computed but nothing waits behind it.
    Must be created inside a running event loop, such as in a request handler.
    """

    def __init__(self, max_pending: int, workers: int) -> None:
        self.max_pending = max_pending
        self.workers = workers
        self.pending = 0
        self.rejected = 0
        self.in_flight: dict[str, asyncio.Future[Any]] = {}
        self._limiter = CapacityLimiter(workers)
        self._mean_seconds = INITIAL_ESTIMATE_SECONDS

    @asynccontextmanager
    async def slot(self, alerts: int = 1) -> AsyncIterator[Callable[[], None]]:
        """Hold places for `alerts` alerts, or raise QueueFullError at once.

        Yields a function to call after each alert is computed, which frees its
        place, so the count and Retry-After follow the work that is left.
        """
        if self.pending and self.pending + alerts > self.max_pending:
            self.rejected += 1
            raise QueueFullError(self.pending, alerts, self.retry_after())
        self.pending += alerts
        remaining = alerts

        def finish_one() -> None:
            nonlocal remaining
            if remaining:
                remaining -= 1
                self.pending -= 1

        try:
            yield finish_one
        finally:
            self.pending -= remaining

    async def run(
        self, function: Callable[..., ResultT], *args: Any, items: int = 1
    ) -> ResultT:
        """Run function(*args) on a recommendation thread and time it.

        items is how many alerts or rules the call computes, so the running mean
        stays a time per item. With 0, as for work that is not per alert, the call
        is not timed.
        """

        def timed() -> ResultT:
            started = time.perf_counter()
            result = function(*args)
            if items > 0:
                elapsed = (time.perf_counter() - started) / items
                self._mean_seconds += SMOOTHING * (elapsed - self._mean_seconds)
            return result

        return await anyio.to_thread.run_sync(timed, limiter=self._limiter)

    def retry_after(self) -> int:
        """Estimate the seconds until the alerts in line are computed, at least 1."""
        return max(1, math.ceil(self._mean_seconds * self.pending / self.workers))
