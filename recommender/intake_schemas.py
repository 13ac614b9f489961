"""OpenAPI schemas of the Grafana and PagerDuty request bodies.

The routes parse these bodies by hand, so that one bad alert is rejected on its
own; the models here only document the shape.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, RootModel


class GrafanaAlert(BaseModel):
    """One alert inside a Grafana alerting webhook."""

    status: Literal["firing", "resolved"] | None = None
    labels: dict[str, str | None] = Field(default_factory=dict)
    annotations: dict[str, str | None] = Field(default_factory=dict)
    startsAt: str | None = None
    endsAt: str | None = None
    values: dict[str, float | None] | None = Field(
        default=None, description="Evaluated query values; not used for matching."
    )
    valueString: str | None = None
    generatorURL: str | None = None
    fingerprint: str | None = None
    silenceURL: str | None = None
    dashboardURL: str | None = None
    panelURL: str | None = None
    imageURL: str | None = None


class GrafanaWebhook(BaseModel):
    """Grafana alerting webhook payload, version "1"."""

    version: str | None = "1"
    receiver: str | None = None
    status: str | None = None
    orgId: int | None = None
    alerts: list[GrafanaAlert]
    groupLabels: dict[str, str | None] = Field(default_factory=dict)
    commonLabels: dict[str, str | None] = Field(default_factory=dict)
    commonAnnotations: dict[str, str | None] = Field(default_factory=dict)
    externalURL: str | None = None
    groupKey: str | None = None
    truncatedAlerts: int | None = Field(default=None, ge=0)
    title: str | None = None
    state: str | None = None
    message: str | None = None


class PagerDutyPayload(BaseModel):
    """The payload of a PagerDuty trigger event."""

    summary: str = Field(examples=["Disk almost full on orders-db-1"])
    source: str | None = None
    severity: Literal["critical", "error", "warning", "info"] | None = None
    timestamp: str | None = None
    component: str | None = None
    group: str | None = None
    # "class" is a Python keyword, so the field has an alias.
    event_class: str | None = Field(default=None, alias="class")
    custom_details: dict[str, object] | str | None = None


class PagerDutyEvent(BaseModel):
    """A PagerDuty Events API v2 event; routing_key is accepted and never stored."""

    routing_key: str | None = None
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: str | None = Field(default=None, max_length=255)
    payload: PagerDutyPayload | None = None
    client: str | None = None
    client_url: str | None = None
    images: list[object] | None = None
    links: list[object] | None = None


class PagerDutyEvents(RootModel[PagerDutyEvent | list[PagerDutyEvent]]):
    """One PagerDuty event or a list of them."""
