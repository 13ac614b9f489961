"""The persistent outbox: each delivery to a channel, its attempts and dead letters.

A delivery is written in the same database as the incident before anything is
sent, so a killed process sends it after restart. A delivery that is being sent
holds a lease: its next_attempt_at lies in the future. If the process dies mid-send,
the lease runs out and the delivery is sent again. Receivers may therefore see a
delivery twice and should deduplicate by its id, sent as X-Delivery-ID.

A channel gets the deliveries of one incident in the order they were queued: a
delivery waits while an older one of the same incident to the same channel is
still pending, also while that one waits to be retried. Otherwise a retried
"opened" could arrive after "resolved" and leave the receiver showing the
incident open.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Float,
    Integer,
    Select,
    String,
    Table,
    Text,
    exists,
    literal_column,
    select,
    update,
)
from sqlalchemy.engine import Connection

from indexer.errors import IncidentRecommenderError, RecordNotFoundError
from recommender.response_db import metadata

STATUSES = ("pending", "delivered", "dead")

outbox_table = Table(
    "notification_outbox",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("channel", String, nullable=False),
    Column("channel_type", String, nullable=False),
    Column("incident_id", String(16), nullable=False, index=True),
    Column("event", String, nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String, nullable=False, index=True),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Float, nullable=False),
    Column("last_error", Text),
    Column("created_at", String, nullable=False),
    Column("updated_at", String, nullable=False),
    Column("delivered_at", String),
)


class DeliveryNotFoundError(RecordNotFoundError):
    """No delivery in the outbox has the requested id."""

    def __init__(self, delivery_id: str, status: str | None = None) -> None:
        where = f"with status {status} " if status else ""
        IncidentRecommenderError.__init__(
            self,
            f"no notification delivery {where}with id {delivery_id!r}; list them "
            "with 'recommender notifications list' or GET /v1/notifications",
        )
        self.record_id = delivery_id


class DeliveryNotDeadError(DeliveryNotFoundError):
    """A delivery to retry exists but is not a dead letter."""

    def __init__(self, delivery_id: str, status: str) -> None:
        IncidentRecommenderError.__init__(
            self,
            f"notification delivery {delivery_id} is {status}, not a dead letter: "
            "only dead letters can be retried; list them with 'recommender "
            "notifications list --status dead'",
        )
        self.record_id = delivery_id


class DeliveryOutdatedError(IncidentRecommenderError):
    """A dead letter to retry is older than a delivered one of its incident."""


@dataclass
class Delivery:
    """One notification to one channel.

    Attributes:
        id: Random id, also sent as X-Delivery-ID for deduplication.
        channel: Channel name from the configuration file.
        channel_type: "webhook" or "slack".
        incident_id: The incident in progress it is about.
        event: The change it notifies (opened, raised, ...).
        body: The JSON body to send.
        status: "pending", "delivered" or "dead" (attempts used up).
        attempts: Attempts made so far.
        next_attempt_at: Unix time of the next attempt while pending.
        last_error: Why the last attempt failed, without the URL.
    """

    id: str
    channel: str
    channel_type: str
    incident_id: str
    event: str
    body: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: str
    updated_at: str
    delivered_at: str | None


@dataclass(frozen=True)
class Lane:
    """The deliveries that one sending thread takes: one channel's, or the rest.

    Attributes:
        channel: The channel whose deliveries the lane takes, or None for the
            deliveries to every channel not in other_than.
        other_than: With channel None, the channels that have lanes of their own.
    """

    channel: str | None
    other_than: tuple[str, ...] = ()


class Outbox:
    """Pending, delivered and dead deliveries in the response database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(
        self,
        channel: str,
        channel_type: str,
        incident_id: str,
        event: str,
        body: dict[str, Any],
        now: float,
        connection: Connection | None = None,
    ) -> str:
        """Store a delivery that is due now; return its id.

        With a connection, the delivery is written in that connection's
        transaction, so it is stored together with the change it notifies.
        """
        delivery_id = uuid.uuid4().hex
        stamp = _iso(now)
        statement = outbox_table.insert().values(
            id=delivery_id,
            channel=channel,
            channel_type=channel_type,
            incident_id=incident_id,
            event=event,
            body=json.dumps(body),
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=stamp,
            updated_at=stamp,
        )
        if connection is not None:
            connection.execute(statement)
            return delivery_id
        with self.engine.begin() as own:
            own.execute(statement)
        return delivery_id

    def claim_due(
        self,
        now: float,
        lease_seconds: float,
        limit: int,
        lane: Lane | None = None,
    ) -> list[Delivery]:
        """Take up to `limit` due deliveries, counting the attempt and leasing them.

        With a lane, only that lane's deliveries are taken, oldest due first. A
        delivery behind an older pending one of its incident and channel waits.
        """
        query = (
            select(outbox_table)
            .where(outbox_table.c.status == "pending")
            .where(outbox_table.c.next_attempt_at <= now)
            .where(~_older_pending())
            .order_by(outbox_table.c.next_attempt_at)
            .limit(limit)
        )
        with self.engine.begin() as connection:
            rows = connection.execute(_in_lane(query, lane)).all()
            for row in rows:
                _lease(connection, row, now, lease_seconds)
        claimed = [_delivery(row) for row in rows]
        for delivery in claimed:
            delivery.attempts += 1
        return claimed

    def claim(
        self, delivery_id: str, now: float, lease_seconds: float
    ) -> Delivery | None:
        """Take one due delivery by id, counting the attempt and leasing it.

        Returns None when it is not pending, not due (leased by an attempt in
        progress, or waiting to be retried), or waits behind an older pending
        delivery of its incident and channel.
        """
        query = (
            select(outbox_table)
            .where(outbox_table.c.id == delivery_id)
            .where(outbox_table.c.status == "pending")
            .where(outbox_table.c.next_attempt_at <= now)
            .where(~_older_pending())
        )
        with self.engine.begin() as connection:
            row = connection.execute(query).first()
            if row is None:
                return None
            _lease(connection, row, now, lease_seconds)
        delivery = _delivery(row)
        delivery.attempts += 1
        return delivery

    def mark_delivered(self, delivery_id: str, now: float) -> None:
        """Record a successful delivery."""
        self._set(
            delivery_id,
            status="delivered",
            delivered_at=_iso(now),
            updated_at=_iso(now),
            last_error=None,
        )

    def mark_failed(
        self,
        delivery_id: str,
        error: str,
        retry_at: float | None,
        now: float,
        attempted: bool = True,
    ) -> None:
        """Record a failed attempt: retry at `retry_at`, or a dead letter if None.

        With attempted False, nothing was sent, so the attempt that claiming the
        delivery counted is taken back.
        """
        # One line, so that listings of deliveries stay one line per delivery.
        line = " ".join(error.split())
        values: dict[str, Any] = {"last_error": line[:1000], "updated_at": _iso(now)}
        if retry_at is None:
            values["status"] = "dead"
        else:
            values["next_attempt_at"] = retry_at
        if not attempted:
            values["attempts"] = outbox_table.c.attempts - 1
        self._set(delivery_id, **values)

    def retry(self, delivery_id: str, now: float) -> Delivery:
        """Send a dead letter again: make it pending and due now with fresh attempts."""
        with self.engine.begin() as connection:
            updated = connection.execute(
                update(outbox_table)
                .where(outbox_table.c.id == delivery_id)
                .where(outbox_table.c.status == "dead")
                .values(
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    updated_at=_iso(now),
                )
            )
        if updated.rowcount == 0:
            raise DeliveryNotFoundError(delivery_id, "dead")
        return self.get(delivery_id)

    def newer_delivered(self, delivery_id: str) -> Delivery | None:
        """Return the last delivered of the deliveries queued after this one, or None.

        Only deliveries of the same incident to the same channel count.
        """
        newer = outbox_table.alias("newer")
        this = outbox_table.alias("this")
        query = (
            select(newer)
            .join(
                this,
                (this.c.channel == newer.c.channel)
                & (this.c.incident_id == newer.c.incident_id),
            )
            .where(this.c.id == delivery_id)
            .where(newer.c.status == "delivered")
            .where(literal_column("newer.rowid") > literal_column("this.rowid"))
            .order_by(literal_column("newer.rowid").desc())
            .limit(1)
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else _delivery(row)

    def get(self, delivery_id: str) -> Delivery:
        """Return one delivery by id."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(outbox_table).where(outbox_table.c.id == delivery_id)
            ).first()
        if row is None:
            raise DeliveryNotFoundError(delivery_id)
        return _delivery(row)

    def list(
        self,
        status: str | None = None,
        incident_id: str | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        """Return deliveries, newest first."""
        query = select(outbox_table).order_by(outbox_table.c.created_at.desc())
        if status is not None:
            query = query.where(outbox_table.c.status == status)
        if incident_id is not None:
            query = query.where(outbox_table.c.incident_id == incident_id)
        with self.engine.connect() as connection:
            rows = connection.execute(query.limit(limit)).all()
        return [_delivery(row) for row in rows]

    def next_due(self, lane: Lane | None = None) -> float | None:
        """Return the earliest next_attempt_at of a pending delivery, in a lane.

        Deliveries waiting behind an older one of their incident do not count, so
        a worker does not wake for a delivery it cannot take yet.
        """
        query = (
            select(outbox_table.c.next_attempt_at)
            .where(outbox_table.c.status == "pending")
            .where(~_older_pending())
            .order_by(outbox_table.c.next_attempt_at)
            .limit(1)
        )
        with self.engine.connect() as connection:
            return connection.execute(_in_lane(query, lane)).scalar()

    def _set(self, delivery_id: str, **values: Any) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(outbox_table)
                .where(outbox_table.c.id == delivery_id)
                .values(**values)
            )


def _older_pending() -> Any:
    """Return whether an older delivery of the incident to the channel is pending."""
    # rowid is the order in which the deliveries were added.
    older = outbox_table.alias("older")
    return exists().where(
        older.c.channel == outbox_table.c.channel,
        older.c.incident_id == outbox_table.c.incident_id,
        older.c.status == "pending",
        literal_column("older.rowid") < literal_column(f"{outbox_table.name}.rowid"),
    )


def _lease(connection: Connection, row: Any, now: float, lease_seconds: float) -> None:
    """Count an attempt of a claimed delivery and lease it for lease_seconds."""
    connection.execute(
        update(outbox_table)
        .where(outbox_table.c.id == row.id)
        .values(
            attempts=row.attempts + 1,
            next_attempt_at=now + lease_seconds,
            updated_at=_iso(now),
        )
    )


def _in_lane(query: Select[Any], lane: Lane | None) -> Select[Any]:
    if lane is None:
        return query
    if lane.channel is not None:
        return query.where(outbox_table.c.channel == lane.channel)
    return query.where(outbox_table.c.channel.not_in(lane.other_than))


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        channel=row.channel,
        channel_type=row.channel_type,
        incident_id=row.incident_id,
        event=row.event,
        body=json.loads(row.body),
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        delivered_at=row.delivered_at,
    )


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat()
