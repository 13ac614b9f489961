"""Add suggested responders to alert results, for the CLI and the API."""

from __future__ import annotations

from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from indexer.knowledge_base import KnowledgeBase
from recommender.alerts import Alert, AlertGroup
from recommender.errors import InvalidAlertError
from recommender.readiness import wait_until_loaded
from recommender.recommendation import Recommendation
from recommender.responder_schemas import responders_out
from recommender.responders import (
    load_responders_config,
    responders_for,
    suggest_responders,
)
from recommender.schemas import AlertResult, AlertResults


def add_responders(
    result: AlertResult,
    item: Alert | InvalidAlertError,
    recommendation: Recommendation | None,
    config_path: Path | None,
) -> AlertResult:
    """Return the result with responders for a recommended alert."""
    if result.recommendation is None or recommendation is None:
        return result
    if not isinstance(item, Alert):
        return result
    config = load_responders_config(config_path)
    suggestion = responders_for(item, recommendation, config)
    result.recommendation.responders = responders_out(suggestion)
    return result


async def add_group_responders(
    request: Request, group: AlertGroup, results: AlertResults
) -> AlertResults:
    """Add responders to every recommended result of an API delivery.

    Responders are worked out from the stored matches and the configuration in
    force now, so a replayed recommendation gets them too.
    """
    if not any(result.recommendation is not None for result in results.results):
        return results
    # A stored recommendation can be replayed while the knowledge base loads,
    # but responders come from its records.
    await wait_until_loaded(request)
    settings = request.app.state.settings
    knowledge_base: KnowledgeBase = request.app.state.knowledge_base
    config = load_responders_config(settings.config)
    for result in results.results:
        recommendation = result.recommendation
        item = group.alerts[result.index] if result.index < len(group.alerts) else None
        if recommendation is None or not isinstance(item, Alert):
            continue
        ids = [match.id for match in recommendation.matches]
        records = await run_in_threadpool(knowledge_base.get_many, ids)
        scored = [
            (records[match.id], match.score)
            for match in recommendation.matches
            if match.id in records
        ]
        suggestion = suggest_responders(item, scored, config, recommendation.threshold)
        recommendation.responders = responders_out(suggestion)
    return results
