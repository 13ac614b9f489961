"""Response bodies of incidents in progress and notification deliveries."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, Field

from recommender.incidents_in_progress import IncidentInProgress
from recommender.notifications.outbox import Delivery


class GroupAlertOut(BaseModel):
    """One alert of an incident in progress, as last reported."""

    fingerprint: str
    status: str
    alertname: str
    service: str
    instance: str
    customer_facing: bool
    starts_at: str | None
    history_severity: str | None = Field(
        description="Severity the alert's recommendation suggested."
    )
    severity_source: str | None = Field(
        default=None,
        description=(
            "What gave history_severity: precedents (similar past incidents), "
            "label (the alert's own severity label), or with no close precedent "
            "nearest (the nearest past incidents), model (the history model) or "
            "nearest_model (both)."
        ),
    )


class SeverityChangeOut(BaseModel):
    """One entry of the severity history."""

    changed_at: str
    event: str = Field(description="opened, raised, lowered, resolved or reopened.")
    previous: str | None
    severity: str
    reasons: list[str]
    firing_alerts: int


class IncidentSummaryOut(BaseModel):
    """An alert group tracked as an incident, without its alerts and history."""

    id: str = Field(description="SHA-256 of the group key, 16 hex digits.")
    group_key: str
    status: str = Field(description="open or resolved.")
    severity: str
    reasons: list[str] = Field(
        description="Reasons for the current severity, one per rule."
    )
    group_labels: dict[str, str]
    opened_at: str
    updated_at: str
    resolved_at: str | None


class IncidentInProgressOut(IncidentSummaryOut):
    """An alert group tracked as an incident, with its alerts and severity history."""

    alerts: list[GroupAlertOut]
    history: list[SeverityChangeOut]


class IncidentsInProgressOut(BaseModel):
    """Incidents in progress, most recently updated first."""

    incidents: list[IncidentSummaryOut]


class DeliveryOut(BaseModel):
    """A notification to one channel; channel URLs are never shown."""

    id: str
    channel: str
    channel_type: str
    incident_id: str
    event: str
    status: str = Field(description="pending, delivered or dead.")
    attempts: int
    next_attempt_at: str | None = Field(
        description="ISO 8601 time of the next attempt, while pending."
    )
    last_error: str | None
    created_at: str
    updated_at: str
    delivered_at: str | None
    body: dict[str, Any]


class DeliveriesOut(BaseModel):
    """Notification deliveries, newest first."""

    deliveries: list[DeliveryOut]


def incident_out(incident: IncidentInProgress) -> IncidentInProgressOut:
    """Convert an incident in progress for the API."""
    return IncidentInProgressOut(
        id=incident.id,
        group_key=incident.group_key,
        status=incident.status,
        severity=incident.severity,
        reasons=incident.reasons,
        group_labels=incident.group_labels,
        opened_at=incident.opened_at,
        updated_at=incident.updated_at,
        resolved_at=incident.resolved_at,
        alerts=[
            GroupAlertOut(
                fingerprint=alert.fingerprint,
                status=alert.status,
                alertname=alert.alertname,
                service=alert.service,
                instance=alert.instance,
                customer_facing=alert.customer_facing,
                starts_at=alert.starts_at.isoformat() if alert.starts_at else None,
                history_severity=alert.history_severity,
                severity_source=alert.severity_source,
            )
            for alert in incident.alerts
        ],
        history=[SeverityChangeOut(**vars(change)) for change in incident.history],
    )


def incident_summary_out(incident: IncidentInProgress) -> IncidentSummaryOut:
    """Convert an incident in progress for a listing."""
    return IncidentSummaryOut(
        **{name: getattr(incident, name) for name in IncidentSummaryOut.model_fields}
    )


def delivery_out(delivery: Delivery) -> DeliveryOut:
    """Convert a delivery for the API."""
    values = vars(delivery).copy()
    values["next_attempt_at"] = None
    if delivery.status == "pending":
        # ISO 8601 like every other time of the API; the outbox keeps Unix time.
        values["next_attempt_at"] = datetime.fromtimestamp(
            delivery.next_attempt_at, tz=timezone.utc
        ).isoformat()
    return DeliveryOut(**values)
