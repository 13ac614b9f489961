"""Response bodies of the stored alerts: one alert, and a page of recent ones."""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from recommender.alert_store import StoredAlert
from recommender.schemas import RecommendationOut

logger = logging.getLogger(__name__)

Outcome = Literal["recommended", "pending", "resolved", "acknowledged"]


class AlertDetail(BaseModel):
    """An alert as it was stored: its identity, text, labels and source format."""

    fingerprint: str
    alertname: str
    status: str
    service: str
    severity: str | None
    starts_at: str | None
    ends_at: str | None
    title: str
    description: str
    labels: dict[str, str]
    annotations: dict[str, str]
    source: str = Field(
        description="Intake format: alertmanager, grafana, pagerduty or plain."
    )


class StoredAlertOut(BaseModel):
    """A stored alert with its recommendation.

    outcome is "pending" for a firing alert whose recommendation was not computed,
    for example because the server was overloaded; the next delivery computes it.
    """

    key: str
    outcome: Outcome
    alert: AlertDetail
    recommendation: RecommendationOut | None
    data_version: int | None = Field(
        description="Knowledge base version the recommendation was computed on."
    )
    received_at: str = Field(description="First delivery, ISO 8601 UTC.")
    last_received_at: str = Field(description="Latest delivery, ISO 8601 UTC.")
    computed_at: str | None = Field(description="When it was computed, ISO 8601.")
    deliveries: int


class StoredAlertSummary(BaseModel):
    """One line of the list of stored alerts."""

    key: str
    outcome: Outcome
    source: str
    fingerprint: str
    alertname: str
    title: str
    service: str
    severity: str | None
    status: str
    starts_at: str | None
    received_at: str
    last_received_at: str
    computed_at: str | None
    deliveries: int
    data_version: int | None
    no_close_precedent: bool | None = Field(
        description="From the recommendation; null while there is none."
    )
    best_match_id: str | None
    best_score: float | None = Field(description="Score of the best match, [0, 1].")


class StoredAlertPage(BaseModel):
    """Stored alerts, the most recently first received first."""

    items: list[StoredAlertSummary]
    total: int
    limit: int
    offset: int
    next_offset: int | None = Field(description="Offset of the next page, or null.")


def stored_recommendation(stored: StoredAlert) -> RecommendationOut | None:
    """Read a stored recommendation, or None if its JSON no longer fits the model.

    A recommendation stored by an older version of the service may lack a field
    that is required now. Such a recommendation is computed again on the next
    delivery.
    """
    if stored.recommendation is None:
        return None
    try:
        return RecommendationOut.model_validate(stored.recommendation)
    except ValidationError as error:
        logger.warning(
            "stored recommendation of alert %s is unreadable, it will be "
            "recomputed: %s",
            stored.key,
            error.errors()[0]["msg"],
        )
        return None


def stored_alert_out(stored: StoredAlert) -> StoredAlertOut:
    """Convert a stored alert for the API."""
    recommendation = stored_recommendation(stored)
    return StoredAlertOut(
        key=stored.key,
        outcome=stored.outcome,  # type: ignore[arg-type]
        alert=AlertDetail.model_validate(stored.alert),
        recommendation=recommendation,
        data_version=stored.data_version,
        received_at=stored.received_at,
        last_received_at=stored.last_received_at,
        computed_at=stored.computed_at,
        deliveries=stored.deliveries,
    )


def stored_alert_summary(stored: StoredAlert) -> StoredAlertSummary:
    """Convert a stored alert to one line of the list."""
    alert = stored.alert
    recommendation = stored.recommendation or {}
    matches = recommendation.get("matches") or [{}]
    return StoredAlertSummary(
        key=stored.key,
        outcome=stored.outcome,  # type: ignore[arg-type]
        source=alert["source"],
        fingerprint=alert["fingerprint"],
        alertname=alert["alertname"],
        title=alert["title"],
        service=alert["service"],
        severity=alert["severity"],
        status=stored.status,
        starts_at=alert["starts_at"],
        received_at=stored.received_at,
        last_received_at=stored.last_received_at,
        computed_at=stored.computed_at,
        deliveries=stored.deliveries,
        data_version=stored.data_version,
        no_close_precedent=recommendation.get("no_close_precedent"),
        best_match_id=matches[0].get("id"),
        best_score=matches[0].get("score"),
    )
