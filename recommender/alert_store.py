"""The store of received alerts and their recommendations, keyed for idempotency.

Alert pipelines deliver the same alert more than once: Alertmanager re-sends a
whole group, HA pairs send twice, and callers retry on timeouts. Each alert is
stored under its fingerprint plus its start time, so a repeated delivery gets
the stored recommendation. A firing alert sent without a start time is a repeat
only within REPLAY_WINDOW of the first delivery of an open alert with its
fingerprint. Without a start time, a later delivery may be a new occurrence of
the same problem. The store is a SQLite file beside the knowledge base and
apart from it, because `indexer build` replaces the knowledge base.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    select,
    update,
)
from sqlalchemy.engine import Connection, Row

from indexer.schema import create_tables
from recommender.alerts import Alert
from recommender.impact import canonical_time, late_firing, parse_time

logger = logging.getLogger(__name__)

FILE_NAME = "alerts.db"
# Milliseconds a writer waits for another process's transaction before failing.
BUSY_TIMEOUT_MS = 30_000
# How long after its first delivery a firing alert without a start time is
# replayed. Later deliveries, or any after a resolve, are computed afresh.
REPLAY_WINDOW = timedelta(minutes=10)

metadata = MetaData()
alerts_table = Table(
    "alerts",
    metadata,
    Column("key", String, primary_key=True),
    Column("fingerprint", String, nullable=False),
    Column("starts_at", String),
    Column("source", String, nullable=False),
    Column("status", String, nullable=False),
    Column("alert_json", Text, nullable=False),
    Column("recommendation_json", Text),
    Column("data_version", Integer),
    Column("received_at", String, nullable=False),
    Column("last_received_at", String, nullable=False),
    Column("computed_at", String),
    Column("deliveries", Integer, nullable=False),
    Column("best_match_id", String),
    Column("best_score", Float),
    Index("alerts_received_at", "received_at"),
    Index("alerts_fingerprint", "fingerprint"),
)


@dataclass
class StoredAlert:
    """One stored alert with its recommendation, when one was computed.

    Attributes:
        key: Hash of the fingerprint and the start time.
        alert: The alert as last delivered (fields of AlertDetail).
        status: Its last status: firing, resolved or acknowledged.
        recommendation: The recommendation as the API returned it, or None.
        data_version: Knowledge base version the recommendation was computed on.
        received_at: First delivery, ISO 8601 UTC.
        last_received_at: Latest delivery, ISO 8601 UTC.
        computed_at: When the recommendation was stored, ISO 8601 UTC.
        deliveries: How many times the alert was delivered.
    """

    key: str
    alert: dict[str, Any]
    status: str
    recommendation: dict[str, Any] | None
    data_version: int | None
    received_at: str
    last_received_at: str
    computed_at: str | None
    deliveries: int

    @property
    def outcome(self) -> str:
        """Return recommended, pending (firing, not computed yet) or the status."""
        if self.recommendation is not None:
            return "recommended"
        return "pending" if self.status == "firing" else self.status


def alert_key(
    alert: Alert, received_at: str = "", labels: dict[str, str] | None = None
) -> str:
    """Return the store key of an alert: a hash of its fingerprint and start time.

    received_at is the first delivery time, part of the key of firing alerts sent
    without a start time, so that each replay window has its own entry. labels are
    part of the key of an alert whose fingerprint is stored with other labels.
    """
    # One key per instant, however the sender spells the start time.
    start = canonical_time(alert.starts_at) if alert.starts_at else ""
    parts: list[object] = [alert.fingerprint, start]
    if received_at:
        parts.append(received_at)
    if labels is not None:
        parts.append(sorted(labels.items()))
    encoded = json.dumps(parts).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]


def alert_detail(alert: Alert) -> dict[str, Any]:
    """Return the fields of an alert that are stored and returned by the API."""
    return {
        "fingerprint": alert.fingerprint,
        "alertname": alert.alertname,
        "status": alert.status,
        "service": alert.service,
        "severity": alert.severity,
        "starts_at": alert.starts_at,
        "ends_at": alert.ends_at,
        "title": alert.title,
        "description": alert.description,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "source": alert.source,
    }


class AlertStore:
    """Received alerts and their recommendations in a SQLite file.

    The file uses WAL mode and every transaction starts with BEGIN IMMEDIATE, so
    several worker processes can share it: writers take turns and readers never
    see a half-written row.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.engine: Engine = create_engine(f"sqlite:///{path}")
        event.listen(self.engine, "connect", _configure)
        event.listen(self.engine, "begin", _begin_immediate)
        create_tables(self.engine, metadata)

    def receive(self, alerts: list[Alert]) -> list[StoredAlert | None]:
        """Store each alert, or count one more delivery of an alert already stored.

        An acknowledge or resolve event without a start time updates the latest
        open alert with the same fingerprint and source. When there is none, it
        is not stored and its entry is None, because it contains no alert to
        keep. A firing alert without a start time is a repeat of an open alert
        only if that one was first received less than REPLAY_WINDOW ago.
        """
        now = _now()
        with self.engine.begin() as connection:
            return [self._receive_one(connection, alert, now) for alert in alerts]

    def save_recommendation(
        self,
        key: str,
        recommendation: dict[str, Any],
        data_version: int,
        replace: bool = False,
    ) -> tuple[StoredAlert, bool]:
        """Store a recommendation unless another delivery stored one first.

        Returns the stored alert and whether this call's recommendation is the one
        stored. With replace, an existing recommendation is overwritten.
        """
        matches = recommendation.get("matches") or [{}]
        statement = (
            update(alerts_table)
            .where(alerts_table.c.key == key)
            .values(
                recommendation_json=json.dumps(recommendation),
                data_version=data_version,
                computed_at=_now(),
                best_match_id=matches[0].get("id"),
                best_score=matches[0].get("score"),
            )
        )
        if not replace:
            statement = statement.where(alerts_table.c.recommendation_json.is_(None))
        with self.engine.begin() as connection:
            saved = connection.execute(statement).rowcount == 1
            stored = self._get(connection, key)
        if stored is None:
            raise LookupError(f"alert {key} is not in the store; receive it first")
        return stored, saved

    def get(self, key: str) -> StoredAlert | None:
        """Return a stored alert, or None when the key is unknown."""
        with self.engine.begin() as connection:
            return self._get(connection, key)

    def page(self, limit: int, offset: int) -> tuple[list[StoredAlert], int]:
        """Return stored alerts, most recently first received first, and the total."""
        query = (
            select(alerts_table)
            .order_by(alerts_table.c.received_at.desc(), alerts_table.c.key)
            .limit(limit)
            .offset(offset)
        )
        with self.engine.begin() as connection:
            rows = connection.execute(query).all()
            total = connection.execute(
                select(func.count()).select_from(alerts_table)
            ).scalar_one()
        return [_stored(row) for row in rows], int(total)

    def resolve_left_out(
        self, fingerprints: list[str], source: str, ended_by: str
    ) -> int:
        """Resolve the open alerts of these fingerprints that started by ended_by.

        An empty ended_by resolves them whatever their start.

        The incident tracker calls an alert resolved when a whole-group
        webhook leaves it out, so its stored entry is resolved as well instead
        of being listed as firing for good. Returns how many were resolved.
        """
        if not fingerprints:
            return 0
        with self.engine.begin() as connection:
            return self._resolve_ended(connection, fingerprints, source, ended_by, "")

    def prune(self, older_than: timedelta) -> int:
        """Delete alerts last delivered more than older_than ago; return the count.

        Nothing else deletes received alerts, and each keeps its recommendation
        JSON of a few kilobytes.
        """
        cutoff = _time_text(datetime.now(timezone.utc) - older_than)
        statement = alerts_table.delete().where(
            alerts_table.c.last_received_at < cutoff
        )
        with self.engine.begin() as connection:
            return int(connection.execute(statement).rowcount)

    def _receive_one(
        self, connection: Connection, alert: Alert, now: str
    ) -> StoredAlert | None:
        key = alert_key(alert)
        if alert.starts_at is None and alert.status == "firing":
            recent = _time_text(datetime.fromisoformat(now) - REPLAY_WINDOW)
            key = self._open_key(connection, alert, recent) or alert_key(alert, now)
        elif alert.starts_at is None:
            open_key = self._open_key(connection, alert)
            if open_key is None:
                return None
            key = open_key
        detail = json.dumps(alert_detail(alert))

        stored = self._get(connection, key)
        if (
            stored is not None
            and alert.status == "firing"
            and stored.alert.get("labels") != alert.labels
        ):
            # A sender may reuse a fingerprint or dedup_key for another alert.
            # That alert gets its own entry instead of the other's recommendation.
            logger.warning(
                "alert fingerprint %s was delivered with other labels than the "
                "stored one; it is stored and computed apart",
                alert.fingerprint[:80],
            )
            received = now if alert.starts_at is None else ""
            key = alert_key(alert, received, labels=alert.labels)
            stored = self._get(connection, key)
        if stored is None:
            connection.execute(
                alerts_table.insert().values(
                    key=key,
                    fingerprint=alert.fingerprint,
                    starts_at=alert.starts_at,
                    source=alert.source,
                    status=alert.status,
                    alert_json=detail,
                    received_at=now,
                    last_received_at=now,
                    deliveries=1,
                )
            )
        else:
            status = alert.status
            if late_firing(stored.status, stored.alert.get("starts_at"), alert):
                # A firing copy of an occurrence that is already resolved, from a
                # retry or a second Alertmanager replica: it stays resolved. A
                # new occurrence of the alert has a new start time.
                status, detail = stored.status, json.dumps(stored.alert)
            elif alert.status != "firing":
                # A resolve or acknowledge event may carry no text, so only the
                # status of the stored alert changes.
                ends_at = alert.ends_at or stored.alert.get("ends_at")
                changed = {**stored.alert, "status": alert.status, "ends_at": ends_at}
                detail = json.dumps(changed)
            connection.execute(
                update(alerts_table)
                .where(alerts_table.c.key == key)
                .values(
                    status=status,
                    alert_json=detail,
                    last_received_at=now,
                    deliveries=alerts_table.c.deliveries + 1,
                )
            )
        if alert.status == "resolved" and alert.starts_at and alert.ends_at:
            # Alertmanager keeps the earliest start its Prometheus replicas
            # report, so one occurrence may have been stored under two starts.
            # A fingerprint fires once at a time: whatever started by the end
            # of this one has ended too.
            self._resolve_ended(
                connection, [alert.fingerprint], alert.source, alert.ends_at, key
            )
        result = self._get(connection, key)
        assert result is not None, "the alert was written in this transaction"
        return result

    def _resolve_ended(
        self,
        connection: Connection,
        fingerprints: list[str],
        source: str,
        ended_by: str,
        except_key: str,
    ) -> int:
        """Resolve open entries of the fingerprints that started by ended_by.

        An empty ended_by means any start; another time that cannot be read
        resolves nothing.
        """
        end = parse_time(ended_by)
        if end is None and ended_by:
            return 0
        rows = connection.execute(
            select(alerts_table.c.key, alerts_table.c.alert_json)
            .where(alerts_table.c.fingerprint.in_(fingerprints))
            .where(alerts_table.c.source == source)
            .where(alerts_table.c.status != "resolved")
            .where(alerts_table.c.key != except_key)
        ).all()
        resolved = 0
        for row in rows:
            detail = json.loads(row.alert_json)
            started = parse_time(detail.get("starts_at"))
            if end is not None and (started is None or started > end):
                continue
            detail["status"] = "resolved"
            connection.execute(
                update(alerts_table)
                .where(alerts_table.c.key == row.key)
                .values(status="resolved", alert_json=json.dumps(detail))
            )
            resolved += 1
        return resolved

    def _open_key(
        self, connection: Connection, alert: Alert, received_since: str = ""
    ) -> str | None:
        query = (
            select(alerts_table.c.key)
            .where(alerts_table.c.fingerprint == alert.fingerprint)
            .where(alerts_table.c.source == alert.source)
            .where(alerts_table.c.status != "resolved")
            .order_by(alerts_table.c.received_at.desc())
            .limit(1)
        )
        if received_since:
            query = query.where(alerts_table.c.starts_at.is_(None)).where(
                alerts_table.c.received_at >= received_since
            )
        return connection.execute(query).scalar()

    def _get(self, connection: Connection, key: str) -> StoredAlert | None:
        row = connection.execute(
            select(alerts_table).where(alerts_table.c.key == key)
        ).first()
        return _stored(row) if row is not None else None


def _stored(row: Row[Any]) -> StoredAlert:
    recommendation = row.recommendation_json
    return StoredAlert(
        key=row.key,
        alert=json.loads(row.alert_json),
        status=row.status,
        recommendation=json.loads(recommendation) if recommendation else None,
        data_version=row.data_version,
        received_at=row.received_at,
        last_received_at=row.last_received_at,
        computed_at=row.computed_at,
        deliveries=row.deliveries,
    )


def _now() -> str:
    return _time_text(datetime.now(timezone.utc))


def _time_text(moment: datetime) -> str:
    """Format a UTC time so that text order is time order, as SQL compares it."""
    return moment.isoformat(timespec="milliseconds")


def _configure(dbapi_connection: Any, _record: object) -> None:
    # The driver's own transaction handling is turned off, so that _begin_immediate
    # decides how each transaction starts.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.close()


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")
