"""Alert groups tracked as incidents in progress, with their severity history.

An incident in progress is keyed by Alertmanager's groupKey (or, without one, by
the configured grouping labels). Each webhook for the group updates its alerts,
re-evaluates the severity from history and live impact, and stores every change of
severity with its reasons and time in the response database.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Integer,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection

from indexer.errors import IncidentRecommenderError, RecordNotFoundError
from recommender.alerts import Alert
from recommender.impact import (
    AlertState,
    GroupImpact,
    assess_severity,
    before_end,
    before_reopen,
    instance_of,
    is_customer_facing,
    measure_impact,
    parse_time,
)
from recommender.response_db import metadata
from recommender.severity_policy import SeverityScale

logger = logging.getLogger(__name__)

groups_table = Table(
    "incident_groups",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("group_key", Text, nullable=False, unique=True),
    Column("status", String, nullable=False),
    Column("severity", String, nullable=False),
    Column("reasons", Text, nullable=False),
    Column("group_labels", Text, nullable=False),
    Column("opened_at", String, nullable=False),
    Column("updated_at", String, nullable=False),
    Column("resolved_at", String),
)

group_alerts_table = Table(
    "incident_group_alerts",
    metadata,
    Column("group_id", String(16), primary_key=True),
    Column("fingerprint", String, primary_key=True),
    Column("status", String, nullable=False),
    Column("alertname", Text, nullable=False),
    Column("service", Text, nullable=False),
    Column("instance", Text, nullable=False),
    Column("customer_facing", Integer, nullable=False),
    Column("starts_at", String),
    Column("history_severity", String),
    # Where history_severity came from: SEVERITY_SOURCES of impact.py.
    Column("severity_source", String),
    # Start of the occurrence that had resolved when the alert fired again with
    # a later start. Copies that started then or earlier are out of date.
    Column("reopened_after", String),
    # When a webhook reported the alert resolved (its endsAt). Empty while it
    # fires, and for an alert resolved because a webhook left it out.
    Column("ended_at", String),
    Column("updated_at", String, nullable=False),
)

severity_changes_table = Table(
    "severity_changes",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("group_id", String(16), nullable=False, index=True),
    Column("changed_at", String, nullable=False),
    Column("event", String, nullable=False),
    Column("previous", String),
    Column("severity", String, nullable=False),
    Column("reasons", Text, nullable=False),
    Column("firing_alerts", Integer, nullable=False),
)


class IncidentNotFoundError(RecordNotFoundError):
    """No incident in progress has the requested id or group key."""

    def __init__(self, key: str) -> None:
        IncidentRecommenderError.__init__(
            self,
            f"no incident in progress with id or group key {key!r}; list them with "
            "'recommender incidents list' or GET /v1/incidents-in-progress",
        )
        self.record_id = key


@dataclass
class SeverityChange:
    """One entry of an incident's severity history.

    Attributes:
        changed_at: When the webhook that caused it was handled (UTC, ISO 8601).
        event: "opened", "raised", "lowered", "resolved" or "reopened".
        previous: Severity before, None when the incident opened.
        severity: Severity after.
        reasons: One sentence per rule that set or moved the level.
        firing_alerts: Alerts of the group firing after the webhook.
    """

    changed_at: str
    event: str
    previous: str | None
    severity: str
    reasons: list[str]
    firing_alerts: int


@dataclass
class IncidentInProgress:
    """An alert group followed from its first webhook until it resolves."""

    id: str
    group_key: str
    status: str
    severity: str
    reasons: list[str]
    group_labels: dict[str, str]
    opened_at: str
    updated_at: str
    resolved_at: str | None
    alerts: list[AlertState] = field(default_factory=list)
    history: list[SeverityChange] = field(default_factory=list)
    impact: GroupImpact | None = None


@dataclass
class TrackedAlert:
    """An alert of a webhook with the severity its recommendation suggested."""

    alert: Alert
    history_severity: str | None
    severity_source: str | None = None


def incident_id(group_key: str) -> str:
    """Return the short, URL-safe id of a group key (its SHA-256, 16 hex digits)."""
    return hashlib.sha256(group_key.encode("utf-8")).hexdigest()[:16]


def group_name(group_labels: dict[str, str], group_key: str) -> str:
    """Return a readable name of a group: its group labels, else its group key."""
    labels = ", ".join(f"{k}={v}" for k, v in sorted(group_labels.items()))
    return labels or group_key


def group_key_of(
    payload: dict[str, Any], alerts: Sequence[Alert], group_by: Sequence[str]
) -> tuple[str, dict[str, str]]:
    """Return the group key of a webhook and its group labels.

    Alertmanager sends groupKey. Other senders get a key from the grouping labels:
    the webhook's groupLabels, else the group_by labels of its first alert.
    """
    raw_labels = payload.get("groupLabels")
    labels = (
        {str(k): str(v) for k, v in raw_labels.items()}
        if isinstance(raw_labels, dict)
        else {}
    )
    key = payload.get("groupKey")
    if isinstance(key, str) and key.strip():
        return key, labels
    if not labels and alerts:
        first = alerts[0].labels
        labels = {name: first[name] for name in group_by if first.get(name)}
    return "labels:" + json.dumps(labels, sort_keys=True), labels


# Called with the transaction's connection, the incident and its change.
OnChange = Callable[[Connection, "IncidentInProgress", "SeverityChange"], None]
# Called with the fingerprints a whole-group webhook left out and resolved, and
# the time by which they had ended (RFC 3339).
OnLeftOut = Callable[[Sequence[str], str], None]


class IncidentTracker:
    """Stores incidents in progress and re-evaluates their severity per webhook."""

    def __init__(self, engine: Engine, scale: SeverityScale) -> None:
        self.engine = engine
        self.scale = scale

    def track(
        self,
        group_key: str,
        group_labels: dict[str, str],
        alerts: Sequence[TrackedAlert],
        now: datetime,
        complete: bool = False,
        on_change: OnChange | None = None,
        group_resolved: bool = False,
        on_left_out: OnLeftOut | None = None,
    ) -> tuple[IncidentInProgress, SeverityChange | None]:
        """Apply one webhook to its group; return the incident and its change.

        The change is None when the severity and status stayed the same. With
        `complete`, the webhook lists every alert of the group, so a stored firing
        alert that it leaves out is marked resolved: Alertmanager drops resolved
        alerts from the group without a resolved entry when send_resolved is off.
        on_change is called with a change inside the transaction that stores it,
        so that what it writes, such as notifications, is stored with the change
        or not at all. With `group_resolved`, the sender says every alert of the
        group is resolved, including those it left out of a truncated list.
        on_left_out is called with the alerts resolved that way, after the
        transaction commits.
        """
        group_id = incident_id(group_key)
        stamp = now.isoformat()
        with self.engine.begin() as connection:
            before = connection.execute(
                select(groups_table).where(groups_table.c.id == group_id)
            ).first()
            current = [
                self._store_alert(connection, group_id, tracked, stamp)
                for tracked in alerts
            ]
            # A webhook with an out-of-date alert may be a late copy of the
            # whole group, so it does not resolve the alerts it leaves out.
            left_out: tuple[Sequence[str], str] = ((), stamp)
            if (complete or group_resolved) and all(current):
                left_out = self._resolve_left_out(
                    connection, group_id, alerts, stamp, group_resolved
                )

            states = _alert_states(connection, group_id)
            impact = measure_impact(states, self.scale.config.impact, now)
            assessment = assess_severity(states, impact, self.scale)
            status = "open" if impact.firing_alerts else "resolved"
            severity = assessment.value
            reasons = assessment.reasons
            if status == "resolved" and before is not None:
                # A resolved group keeps the severity it had while firing.
                severity = before.severity
                reasons = json.loads(before.reasons)
            if status == "resolved" and (before is None or before.status == "open"):
                reasons = [*reasons, "every alert of the group is resolved"]
            event = _event(before, status, severity, self.scale)

            values = {
                "status": status,
                "severity": severity,
                "reasons": json.dumps(reasons),
                "updated_at": stamp,
                "resolved_at": stamp if status == "resolved" else None,
            }
            if group_labels or before is None:
                values["group_labels"] = json.dumps(group_labels)
            if before is None:
                connection.execute(
                    insert(groups_table).values(
                        id=group_id, group_key=group_key, opened_at=stamp, **values
                    )
                )
            else:
                connection.execute(
                    update(groups_table)
                    .where(groups_table.c.id == group_id)
                    .values(**values)
                )

            change = None
            if event is not None:
                change = SeverityChange(
                    changed_at=stamp,
                    event=event,
                    previous=None if before is None else before.severity,
                    severity=severity,
                    reasons=reasons,
                    firing_alerts=impact.firing_alerts,
                )
                connection.execute(
                    insert(severity_changes_table).values(
                        group_id=group_id,
                        changed_at=change.changed_at,
                        event=change.event,
                        previous=change.previous,
                        severity=change.severity,
                        reasons=json.dumps(change.reasons),
                        firing_alerts=change.firing_alerts,
                    )
                )
            incident = self._read(connection, group_id)
            incident.impact = impact
            if change is not None and on_change is not None:
                on_change(connection, incident, change)

        if change is not None:
            logger.info(
                "incident in progress %s %s: %s -> %s (%d alerts firing)",
                group_id,
                change.event,
                change.previous or "-",
                change.severity,
                change.firing_alerts,
            )
        if left_out[0] and on_left_out is not None:
            on_left_out(*left_out)
        return incident, change

    def get(self, key: str) -> IncidentInProgress:
        """Return an incident in progress by its id or its group key."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(groups_table.c.id).where(
                    (groups_table.c.id == key) | (groups_table.c.group_key == key)
                )
            ).first()
            if row is None:
                raise IncidentNotFoundError(key)
            return self._read(connection, row.id)

    def list(
        self, status: str | None = None, limit: int = 50
    ) -> list[IncidentInProgress]:
        """Return incidents, most recently updated first, without alerts or history."""
        query = select(groups_table).order_by(groups_table.c.updated_at.desc())
        if status is not None:
            query = query.where(groups_table.c.status == status)
        with self.engine.connect() as connection:
            rows = connection.execute(query.limit(limit)).all()
        return [_incident(row) for row in rows]

    def _resolve_left_out(
        self,
        connection: Connection,
        group_id: str,
        alerts: Sequence[TrackedAlert],
        stamp: str,
        group_resolved: bool,
    ) -> tuple[Sequence[str], str]:
        """Resolve the firing alerts that a whole-group webhook leaves out.

        A resolved group applies only to alerts that started before its last
        alert ended, because one that started later fired after the webhook
        was made. Returns the fingerprints resolved and the time by which they
        had ended: the group's last end, else "" for any time.
        """
        sent = {tracked.alert.fingerprint for tracked in alerts}
        ends = [parse_time(t.alert.ends_at) for t in alerts if t.alert.ends_at]
        last_end = max((end for end in ends if end is not None), default=None)
        firing = connection.execute(
            select(group_alerts_table.c.fingerprint, group_alerts_table.c.starts_at)
            .where(group_alerts_table.c.group_id == group_id)
            .where(group_alerts_table.c.status == "firing")
        ).all()
        left_out = []
        for row in firing:
            if row.fingerprint in sent and not group_resolved:
                continue
            started = parse_time(row.starts_at)
            if group_resolved and last_end and started and started > last_end:
                continue
            left_out.append(row.fingerprint)
        if left_out:
            connection.execute(
                update(group_alerts_table)
                .where(group_alerts_table.c.group_id == group_id)
                .where(group_alerts_table.c.fingerprint.in_(left_out))
                .values(status="resolved", updated_at=stamp)
            )
        # A whole firing group resolves the alerts it leaves out whatever their
        # start, as above, also one that the sender's clock puts after ours.
        ended_by = last_end.isoformat() if group_resolved and last_end else ""
        return left_out, ended_by

    def _store_alert(
        self, connection: Connection, group_id: str, tracked: TrackedAlert, stamp: str
    ) -> bool:
        """Store one alert of a webhook; return False when it was out of date.

        A delivery held up behind a newer one (a retry, or a second Alertmanager
        replica) is out of date. That is a firing copy that started before a
        reported resolve (impact.before_end), or any copy of an occurrence that
        ended before the alert fired again (impact.before_reopen).
        """
        alert = tracked.alert
        rules = self.scale.config.impact
        values = {
            "status": alert.status,
            "alertname": alert.alertname,
            "service": alert.service,
            "instance": instance_of(alert.labels),
            "customer_facing": int(is_customer_facing(alert.labels, rules)),
            "starts_at": alert.starts_at,
            "updated_at": stamp,
        }
        if tracked.history_severity is not None:
            values["history_severity"] = tracked.history_severity
            values["severity_source"] = tracked.severity_source
        where = (group_alerts_table.c.group_id == group_id) & (
            group_alerts_table.c.fingerprint == alert.fingerprint
        )
        stored = connection.execute(
            select(
                group_alerts_table.c.status,
                group_alerts_table.c.starts_at,
                group_alerts_table.c.reopened_after,
                group_alerts_table.c.ended_at,
            ).where(where)
        ).first()
        if stored is not None and (
            before_end(stored.ended_at, alert)
            or before_reopen(stored.reopened_after, alert)
        ):
            logger.info(
                "incident in progress %s: a late %s copy of alert %s (started %s) "
                "is ignored; the stored occurrence started %s and is %s",
                group_id,
                alert.status,
                alert.fingerprint[:80],
                alert.starts_at,
                stored.starts_at,
                stored.status,
            )
            return False
        values["ended_at"] = (
            (alert.ends_at or alert.starts_at or stamp)
            if alert.status == "resolved"
            else None
        )
        if stored is not None and _fires_again(stored, alert):
            values["reopened_after"] = stored.starts_at
        updated = connection.execute(update(group_alerts_table).where(where), values)
        if updated.rowcount == 0:
            connection.execute(
                insert(group_alerts_table).values(
                    group_id=group_id, fingerprint=alert.fingerprint, **values
                )
            )
        return True

    def _read(self, connection: Connection, group_id: str) -> IncidentInProgress:
        row = connection.execute(
            select(groups_table).where(groups_table.c.id == group_id)
        ).one()
        incident = _incident(row)
        incident.alerts = _alert_states(connection, group_id)
        changes = connection.execute(
            select(severity_changes_table)
            .where(severity_changes_table.c.group_id == group_id)
            .order_by(severity_changes_table.c.pk)
        ).all()
        incident.history = [
            SeverityChange(
                changed_at=change.changed_at,
                event=change.event,
                previous=change.previous,
                severity=change.severity,
                reasons=json.loads(change.reasons),
                firing_alerts=change.firing_alerts,
            )
            for change in changes
        ]
        return incident


def _fires_again(stored: Any, alert: Alert) -> bool:
    """Return whether an alert fires as a new occurrence, later than the stored one.

    Alertmanager only ever moves an occurrence's start earlier, so a later start
    is a new occurrence, and the stored one ended, whether or not its resolve
    has arrived.
    """
    if alert.status != "firing":
        return False
    incoming, previous = parse_time(alert.starts_at), parse_time(stored.starts_at)
    return incoming is not None and previous is not None and incoming > previous


def _event(before: Any, status: str, severity: str, scale: SeverityScale) -> str | None:
    if before is None:
        return "opened" if status == "open" else "resolved"
    if before.status == "resolved":
        return "reopened" if status == "open" else None
    if status == "resolved":
        return "resolved"
    if severity == before.severity or before.severity not in scale.names:
        return None if severity == before.severity else "raised"
    return "raised" if scale.rank(severity) < scale.rank(before.severity) else "lowered"


def _alert_states(connection: Connection, group_id: str) -> list[AlertState]:
    rows = connection.execute(
        select(group_alerts_table)
        .where(group_alerts_table.c.group_id == group_id)
        .order_by(group_alerts_table.c.fingerprint)
    ).all()
    return [
        AlertState(
            fingerprint=row.fingerprint,
            status=row.status,
            alertname=row.alertname,
            service=row.service,
            instance=row.instance,
            customer_facing=bool(row.customer_facing),
            starts_at=parse_time(row.starts_at),
            history_severity=row.history_severity,
            severity_source=row.severity_source,
        )
        for row in rows
    ]


def _incident(row: Any) -> IncidentInProgress:
    return IncidentInProgress(
        id=row.id,
        group_key=row.group_key,
        status=row.status,
        severity=row.severity,
        reasons=json.loads(row.reasons),
        group_labels=json.loads(row.group_labels),
        opened_at=row.opened_at,
        updated_at=row.updated_at,
        resolved_at=row.resolved_at,
    )
