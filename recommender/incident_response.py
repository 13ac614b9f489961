"""The live response to alert groups: track them as incidents and queue notifications.

One object contains the severity scale, the incident tracker, the outbox and the sender,
built from the `severity` and `notifications` sections of the configuration file,
so the API and the CLI handle a webhook the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from indexer.errors import ConfigurationError
from recommender.alerts import Alert
from recommender.config import config_section
from recommender.errors import InvalidAlertError
from recommender.incidents_in_progress import (
    IncidentInProgress,
    IncidentTracker,
    SeverityChange,
    TrackedAlert,
    group_key_of,
)
from recommender.notifications.config import NotificationsConfig
from recommender.notifications.delivery import Sender
from recommender.notifications.messages import incident_document
from recommender.notifications.outbox import (
    Delivery,
    DeliveryNotDeadError,
    DeliveryOutdatedError,
    Outbox,
)
from recommender.response_db import open_response_db
from recommender.schemas import AlertResult, RecommendationOut
from recommender.severity_policy import load_scale

logger = logging.getLogger(__name__)


@dataclass
class GroupUpdate:
    """The effect of one webhook on its incident in progress.

    Attributes:
        incident: The incident after the webhook.
        change: The change of severity or status, None when there was none.
        deliveries: Ids of the notifications queued for the change.
        left_out: Fingerprints of alerts that the webhook left out of its whole
            group, which the incident therefore counts as resolved.
        left_out_ended_by: The time by which those alerts had ended, "" when
            any start counts.
    """

    incident: IncidentInProgress
    change: SeverityChange | None
    deliveries: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    left_out_ended_by: str = ""


class IncidentResponse:
    """Tracks alert groups as incidents in progress and queues their notifications."""

    def __init__(self, home: Path, config_path: Path | None) -> None:
        self.scale = load_scale(config_path)
        self.notifications = config_section(
            config_path, "notifications", NotificationsConfig
        )
        self._check_route_severities(config_path)
        engine = open_response_db(Path(home))
        self.tracker = IncidentTracker(engine, self.scale)
        self.outbox = Outbox(engine)
        self.sender = Sender(self.notifications, self.outbox)

    def handle_webhook(
        self,
        payload: dict[str, Any],
        parsed: Sequence[Alert | InvalidAlertError],
        results: Sequence[AlertResult],
        now: datetime | None = None,
    ) -> list[GroupUpdate]:
        """Track the webhook's group and queue notifications for a change.

        Returns one update per group: none when no alert of the webhook was
        valid, and several when a webhook without groupKey or groupLabels contains
        alerts of several groups (see _groups).
        """
        now = now or datetime.now(timezone.utc)
        tracked: list[TrackedAlert] = []
        recommendations: dict[str, tuple[str, str, RecommendationOut]] = {}
        by_index = {result.index: result for result in results}
        for index, item in enumerate(parsed):
            if isinstance(item, InvalidAlertError):
                continue
            result = by_index.get(index)
            recommendation = result.recommendation if result is not None else None
            severity = source = None
            if recommendation is not None:
                severity = self.scale.normalize(recommendation.severity.value)
                source = severity_source(recommendation)
                recommendations[item.fingerprint] = (
                    item.fingerprint,
                    item.alertname,
                    recommendation,
                )
            tracked.append(TrackedAlert(item, severity, source))

        # Alertmanager sends the whole group unless it reports truncated alerts. A
        # rejected alert may still be firing, so it also leaves the list incomplete.
        complete = (
            bool(payload.get("groupKey"))
            and not payload.get("truncatedAlerts")
            and len(tracked) == len(parsed)
        )
        updates = []
        for group in self._groups(payload, tracked):
            alerts = [entry.alert for entry in group]
            key, labels = group_key_of(payload, alerts, self.scale.config.group_by)
            # Alertmanager sets the group's status to resolved only when every
            # alert of the group is, also those that max_alerts left out.
            complete_resolve = (
                bool(payload.get("groupKey"))
                and payload.get("status") == "resolved"
                and all(alert.status == "resolved" for alert in alerts)
            )
            voted = [
                recommendations[a.fingerprint]
                for a in alerts
                if a.fingerprint in recommendations
            ]
            deliveries: list[str] = []

            def queue(
                connection: Connection,
                incident: IncidentInProgress,
                change: SeverityChange,
                deliveries: list[str] = deliveries,
                voted: list[tuple[str, str, RecommendationOut]] = voted,
            ) -> None:
                if change.event == "resolved" and change.previous is None:
                    # The group's first webhook reports it resolved already, so
                    # no receiver was notified that it opened, and a lone
                    # "resolved" would confuse them. The incident is kept.
                    return
                deliveries.extend(self._queue(connection, incident, change, voted))

            left_out: list[str] = []
            ended_by: list[str] = []

            def note_left_out(
                fingerprints: Sequence[str],
                ended: str,
                left_out: list[str] = left_out,
                ended_by: list[str] = ended_by,
            ) -> None:
                left_out.extend(fingerprints)
                ended_by.append(ended)

            incident, change = self.tracker.track(
                key,
                labels,
                group,
                now,
                complete,
                on_change=queue,
                group_resolved=complete_resolve,
                on_left_out=note_left_out,
            )
            updates.append(
                GroupUpdate(
                    incident=incident,
                    change=change,
                    deliveries=deliveries,
                    left_out=left_out,
                    left_out_ended_by=ended_by[0] if ended_by else "",
                )
            )
        return updates

    def _groups(
        self, payload: dict[str, Any], tracked: list[TrackedAlert]
    ) -> list[list[TrackedAlert]]:
        """Split a webhook's alerts into the groups they belong to.

        Alertmanager names the group of a webhook (groupKey, groupLabels), so its
        alerts are one group. Other senders may put alerts of unrelated services
        in one body, so those are grouped by their group_by labels.
        """
        if not tracked:
            return []
        if payload.get("groupKey") or payload.get("groupLabels"):
            return [tracked]
        groups: dict[tuple[str, ...], list[TrackedAlert]] = {}
        for entry in tracked:
            labels = entry.alert.labels
            key = tuple(labels.get(name, "") for name in self.scale.config.group_by)
            groups.setdefault(key, []).append(entry)
        return list(groups.values())

    def retry(self, delivery_id: str, now: float) -> Delivery:
        """Make a dead letter pending again with fresh attempts; return it.

        Raises:
            DeliveryNotFoundError: No delivery has this id, or it is not dead.
            ConfigurationError: Its channel is not in the configuration file, so
                it would be a dead letter again at its next attempt.
            DeliveryOutdatedError: A newer delivery of its incident to the same
                channel was delivered, so the receiver already has a later state.
        """
        delivery = self.outbox.get(delivery_id)
        if delivery.status != "dead":
            raise DeliveryNotDeadError(delivery_id, delivery.status)
        if delivery.channel not in self.notifications.channels:
            raise ConfigurationError(
                f"notification delivery {delivery_id} goes to channel "
                f"{delivery.channel!r}, which is not in the configuration file; add "
                "the channel back under notifications.channels (or set "
                "INCIDENT_CONFIG to the service's file), then retry"
            )
        newer = self.outbox.newer_delivered(delivery_id)
        if newer is not None:
            raise DeliveryOutdatedError(
                f"notification delivery {delivery_id} ({delivery.event}) of incident "
                f"{delivery.incident_id} is older than delivery {newer.id} "
                f"({newer.event}), which channel {delivery.channel!r} received at "
                f"{newer.delivered_at}; sending it now would leave the receiver with "
                "an outdated state, so it stays a dead letter"
            )
        return self.outbox.retry(delivery_id, now)

    def _queue(
        self,
        connection: Connection,
        incident: IncidentInProgress,
        change: SeverityChange,
        recommendations: list[tuple[str, str, RecommendationOut]],
    ) -> list[str]:
        services = sorted({alert.service for alert in incident.alerts if alert.service})
        names = self.notifications.channels_for(services, change.severity, change.event)
        if not names:
            return []
        document = incident_document(incident, change, recommendations)
        now = time.time()
        ids = []
        for name in names:
            channel = self.notifications.channels[name]
            ids.append(
                self.outbox.add(
                    name,
                    channel.type,
                    incident.id,
                    change.event,
                    document,
                    now,
                    connection=connection,
                )
            )
        logger.info(
            "incident %s %s: queued notifications to %s",
            incident.id,
            change.event,
            ", ".join(names),
        )
        return ids

    def _check_route_severities(self, config_path: Path | None) -> None:
        for position, route in enumerate(self.notifications.routes):
            for name in route.severities:
                if name not in self.scale.names:
                    raise ConfigurationError(
                        f"invalid configuration in {config_path}: notifications."
                        f"routes[{position}].severities: {name!r} is not a level of "
                        f"the severity scale ({', '.join(self.scale.names)})"
                    )


def severity_source(recommendation: RecommendationOut) -> str:
    """Return what gave a recommendation's severity (impact.SEVERITY_SOURCES)."""
    evidence = recommendation.severity.evidence
    if evidence == ["alert label"]:
        return "label"
    if not recommendation.no_close_precedent:
        return "precedents"
    if evidence == ["history model"]:
        return "model"
    return "nearest_model" if "history model" in evidence else "nearest"
