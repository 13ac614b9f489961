"""Build the results of one delivery: replay stored recommendations, compute the rest.

Every valid alert is stored before anything is computed, so an alert is kept even
when the server is overloaded or the process is killed while computing. Its
recommendation is stored as soon as it is computed, so a retried delivery
continues where the last one stopped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from recommender.alert_store import AlertStore, StoredAlert
from recommender.alerts import Alert, AlertGroup
from recommender.errors import InvalidAlertError
from recommender.http_errors import request_id
from recommender.inference_queue import InferenceQueue
from recommender.readiness import wait_until_loaded
from recommender.recommendation import Recommendation, Recommender
from recommender.schemas import (
    AlertResult,
    AlertResults,
    ErrorDetail,
    alert_result,
    recommendation_out,
)
from recommender.stored_alert_schemas import stored_recommendation

logger = logging.getLogger(__name__)


async def answer_alerts(
    request: Request,
    group: AlertGroup,
    top_k: int,
    store: AlertStore,
    queue: InferenceQueue,
    observe: Callable[[Recommendation], None] | None = None,
) -> AlertResults:
    """Return one result per alert of the group, in order.

    Args:
        request: The request, for its recommender and request id.
        group: The parsed alerts.
        top_k: Matches per recommendation.
        store: Where alerts and recommendations are stored.
        queue: Where recommendations are computed.
        observe: Called with each recommendation computed, for metrics.

    Raises:
        QueueFullError: The alerts that need recommendations would take the
            queue past its limit. The alerts are stored, and a retry computes them.
    """
    alerts = [item for item in group.alerts if isinstance(item, Alert)]
    stored = await run_in_threadpool(store.receive, alerts) if alerts else []
    entries = {id(alert): entry for alert, entry in zip(alerts, stored, strict=True)}
    missing = [
        (alert, entry)
        for alert in alerts
        if alert.status == "firing"
        and (entry := entries[id(alert)]) is not None
        and stored_recommendation(entry) is None
    ]

    computed: dict[str, StoredAlert] = {}
    answers: dict[int, tuple[StoredAlert, bool]] = {}
    if missing:
        # The alerts are stored already, so an alert that comes while the
        # knowledge base loads is kept even when this wait ends in 503.
        await wait_until_loaded(request)
        compute = _Computation(request.app.state.recommender, store, queue, observe)
        async with queue.slot(len(missing)) as finish_one:
            for alert, entry in missing:
                if entry.key in computed:
                    # The same alert twice in one group is computed once.
                    answers[id(alert)] = (computed[entry.key], True)
                else:
                    answers[id(alert)] = await compute(alert, entry, top_k)
                    computed[entry.key] = answers[id(alert)][0]
                finish_one()

    results = [
        _result(request, index, item, entries.get(id(item)), answers.get(id(item)))
        for index, item in enumerate(group.alerts)
    ]
    return AlertResults(results=results, truncated_alerts=group.truncated_alerts)


class _Computation:
    """Computes and stores recommendations, once per alert across deliveries."""

    def __init__(
        self,
        recommender: Recommender,
        store: AlertStore,
        queue: InferenceQueue,
        observe: Callable[[Recommendation], None] | None,
    ) -> None:
        self.recommender = recommender
        self.store = store
        self.queue = queue
        self.observe = observe

    async def __call__(
        self, alert: Alert, entry: StoredAlert, top_k: int
    ) -> tuple[StoredAlert, bool]:
        """Compute and store one recommendation; return the stored alert and replayed.

        A delivery of the same alert that is already computing in this process is
        awaited instead of computed twice. Between processes, the first stored
        recommendation wins and the others return it.
        """
        running = self.queue.in_flight.get(entry.key)
        if running is not None:
            finished = await asyncio.shield(running)
            if finished is not None:
                return finished, True

        future: asyncio.Future[StoredAlert | None] = (
            asyncio.get_running_loop().create_future()
        )
        self.queue.in_flight[entry.key] = future
        result: StoredAlert | None = None
        saved = False
        try:
            recommendation, data_version = await self.queue.run(
                _recommend, self.recommender, alert, top_k
            )
            if self.observe is not None:
                self.observe(recommendation)
            body = recommendation_out(recommendation).model_dump(mode="json")
            result, saved = await run_in_threadpool(
                self.store.save_recommendation,
                entry.key,
                body,
                data_version,
                entry.recommendation is not None,
            )
        finally:
            self.queue.in_flight.pop(entry.key, None)
            # With None, waiters compute for themselves because this one failed.
            future.set_result(result)
        assert result is not None, "save_recommendation returned the stored alert"
        return result, not saved


def _recommend(
    recommender: Recommender, alert: Alert, top_k: int
) -> tuple[Recommendation, int]:
    data_version = recommender.knowledge_base.database.data_version()
    return recommender.recommend(alert, top_k), data_version


def _result(
    request: Request,
    index: int,
    item: Alert | InvalidAlertError,
    entry: StoredAlert | None,
    answer: tuple[StoredAlert, bool] | None,
) -> AlertResult:
    result = alert_result(index, item, None, request_id(request))
    if isinstance(item, Alert) and item.status != "firing" and entry is None:
        return result.model_copy(
            update={
                "outcome": "unknown",
                "error": ErrorDetail(
                    status=404,
                    code="not_found",
                    message=(
                        f"no open alert has fingerprint {item.fingerprint[:80]!r} "
                        f"(for PagerDuty the dedup_key), so nothing was "
                        f"{item.status} or stored; send the trigger first"
                    ),
                    field="dedup_key" if item.source == "pagerduty" else "fingerprint",
                    request_id=request_id(request),
                ),
            }
        )
    if entry is None:
        return result

    stored, replayed = answer if answer is not None else (entry, True)
    recommendation = stored_recommendation(stored)
    update: dict[str, object] = {"key": stored.key}
    if isinstance(item, Alert) and item.status == "firing" and recommendation:
        update |= {
            "outcome": "recommended",
            "recommendation": recommendation,
            "replayed": replayed,
            "computed_at": stored.computed_at,
            "data_version": stored.data_version,
        }
    return result.model_copy(update=update)
