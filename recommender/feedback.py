"""Engineers' verdicts on matches, stored with the knowledge base, and their effect.

A verdict is given for an alert (by alert name, fingerprint or both), one record and
one target: the match itself, or the root cause, fix, severity or category taken
from the record. The latest verdict of each (alert, record, target) counts. "wrong"
on the match hides the record from later recommendations for that alert. "wrong" on
a part sets only that part of the record aside, so a wrong root cause does not take
away the record's fix. "helpful" raises the record's score by HELPFUL_BOOST for each
helpful verdict, up to MAX_BOOST. The table sits in the knowledge base's database
but apart from the records, so `indexer build` and `sync` keep it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Literal

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    or_,
    select,
)

from indexer.database import Database
from indexer.schema import create_tables
from recommender.alerts import Alert
from recommender.retrieval import Match

logger = logging.getLogger(__name__)

Verdict = Literal["helpful", "wrong"]
Target = Literal["match", "root_cause", "fix", "severity", "category"]
VERDICTS: tuple[str, ...] = ("helpful", "wrong")
TARGETS: tuple[str, ...] = ("match", "root_cause", "fix", "severity", "category")
# A helpful verdict raises a match a little. A few clicks are weak evidence next to
# the score, so the boost is capped well below the gap between confidence levels.
HELPFUL_BOOST = 0.03
MAX_BOOST = 0.09
# Message name of each part of a record that a verdict can set aside.
PART_NAMES = {
    "root_cause": "root cause",
    "fix": "fix",
    "severity": "severity",
    "category": "category",
}
MAX_NOTE_CHARS = 2_000
MAX_NAME_CHARS = 200

feedback_metadata = MetaData()

feedback_table = Table(
    "feedback",
    feedback_metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("alertname", String, nullable=False, index=True),
    Column("fingerprint", String, nullable=False, index=True),
    Column("record_id", String, nullable=False, index=True),
    Column("verdict", String, nullable=False),
    Column("target", String, nullable=False),
    Column("note", Text, nullable=False),
    Column("author", String, nullable=False),
    Column("created_at", String, nullable=False),
)


@dataclass(frozen=True)
class FeedbackEntry:
    """One verdict on one record for one alert."""

    record_id: str
    verdict: str
    alertname: str = ""
    fingerprint: str = ""
    target: str = "match"
    note: str = ""
    author: str = ""
    created_at: str = ""
    id: int = 0


@dataclass(frozen=True)
class FeedbackSummary:
    """Verdict counts of one record, and its latest entries, newest first."""

    helpful: int
    wrong: int
    entries: list[FeedbackEntry]


@dataclass
class FeedbackEffect:
    """Records hidden or raised by engineers' verdicts in one recommendation.

    Attributes:
        hidden: Record ids left out because their latest verdict for this alert
            is "wrong".
        boosted: Record id to the score added for helpful verdicts.
    """

    hidden: list[str] = field(default_factory=list)
    boosted: dict[str, float] = field(default_factory=dict)
    set_aside: dict[str, list[str]] = field(default_factory=dict)

    def message(self) -> str:
        """Return sentences for the recommendation's message, or an empty string."""
        text = ""
        if self.hidden:
            text += (
                f" Left out {len(self.hidden)} record(s) that engineers marked wrong "
                f"for this alert: {', '.join(self.hidden)}."
            )
        for target, records in self.set_aside.items():
            part = PART_NAMES[target]
            text += (
                f" Did not use the {part} of {', '.join(records)}, which engineers "
                "marked wrong for this alert."
            )
        return text


class FeedbackStore:
    """Feedback rows in the knowledge base's database."""

    def __init__(self, database: Database) -> None:
        self.engine = database.engine
        create_tables(self.engine, feedback_metadata)

    def add(self, entry: FeedbackEntry) -> FeedbackEntry:
        """Store one verdict and return it with its id and time."""
        stored = replace(
            entry,
            created_at=entry.created_at or datetime.now(timezone.utc).isoformat(),
        )
        values = {
            "alertname": stored.alertname,
            "fingerprint": stored.fingerprint,
            "record_id": stored.record_id,
            "verdict": stored.verdict,
            "target": stored.target,
            "note": stored.note,
            "author": stored.author,
            "created_at": stored.created_at,
        }
        with self.engine.begin() as conn:
            result = conn.execute(insert(feedback_table).values(**values))
            key = result.inserted_primary_key
        stored = replace(stored, id=int(key[0]) if key else 0)
        logger.info(
            "feedback %d: %s for record %s, alertname=%s fingerprint=%s",
            stored.id,
            stored.verdict,
            stored.record_id,
            stored.alertname or "-",
            stored.fingerprint or "-",
        )
        return stored

    def summary(self, record_id: str, limit: int = 20) -> FeedbackSummary:
        """Return the verdict counts and latest entries for one record."""
        with self.engine.connect() as conn:
            counts: dict[str, int] = dict(
                conn.execute(
                    select(feedback_table.c.verdict, func.count())
                    .where(feedback_table.c.record_id == record_id)
                    .group_by(feedback_table.c.verdict)
                ).all()
            )
            rows = conn.execute(
                select(feedback_table)
                .where(feedback_table.c.record_id == record_id)
                .order_by(feedback_table.c.pk.desc())
                .limit(limit)
            ).all()
        return FeedbackSummary(
            helpful=int(counts.get("helpful", 0)),
            wrong=int(counts.get("wrong", 0)),
            entries=[_entry(row) for row in rows],
        )

    def for_alert(self, alert: Alert) -> list[FeedbackEntry]:
        """Return the entries for this alert's name or fingerprint, oldest first."""
        conditions = []
        if alert.alertname:
            conditions.append(feedback_table.c.alertname == alert.alertname)
        if alert.fingerprint:
            conditions.append(feedback_table.c.fingerprint == alert.fingerprint)
        if not conditions:
            return []
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(feedback_table)
                .where(or_(*conditions))
                .order_by(feedback_table.c.pk)
            ).all()
        return [_entry(row) for row in rows]


def rejected_parts(entries: Sequence[FeedbackEntry]) -> dict[str, list[str]]:
    """Return, per target, the record ids whose latest verdict on it is "wrong".

    entries are oldest first, as FeedbackStore.for_alert() returns them.
    """
    latest: dict[tuple[str, str], str] = {}
    for entry in entries:
        latest[(entry.target, entry.record_id)] = entry.verdict
    rejected: dict[str, list[str]] = {}
    for (target, record), verdict in sorted(latest.items()):
        if verdict == "wrong":
            rejected.setdefault(target, []).append(record)
    return rejected


def boost_matches(
    matches: list[Match], entries: Sequence[FeedbackEntry]
) -> tuple[list[Match], dict[str, float]]:
    """Raise the score of matches with helpful verdicts and re-rank them.

    entries are oldest first, as FeedbackStore.for_alert() returns them.

    Returns the re-ranked matches and the boost given to each record id. Scores
    stay in [0, 1].
    """
    # Helpful verdicts count per record and target since that pair's latest
    # wrong verdict, which replaces the ones before it.
    since_wrong: dict[tuple[str, str], int] = {}
    for entry in entries:
        key = (entry.record_id, entry.target)
        if entry.verdict == "wrong":
            since_wrong[key] = 0
        elif entry.verdict == "helpful":
            since_wrong[key] = since_wrong.get(key, 0) + 1
    helpful: dict[str, int] = {}
    for (record_id, _), count in since_wrong.items():
        if count:
            helpful[record_id] = helpful.get(record_id, 0) + count
    if not helpful:
        return matches, {}

    boosted: dict[str, float] = {}
    result = []
    for match in matches:
        count = helpful.get(match.record.id, 0)
        if count:
            boost = min(HELPFUL_BOOST * count, MAX_BOOST)
            boosted[match.record.id] = boost
            match = replace(match, score=round(min(match.score + boost, 1.0), 4))
        result.append(match)
    result.sort(key=lambda m: m.score, reverse=True)
    return result, boosted


def _entry(row: object) -> FeedbackEntry:
    mapping = row._mapping  # type: ignore[attr-defined]
    return FeedbackEntry(
        id=int(mapping["pk"]),
        record_id=mapping["record_id"],
        verdict=mapping["verdict"],
        alertname=mapping["alertname"],
        fingerprint=mapping["fingerprint"],
        target=mapping["target"],
        note=mapping["note"],
        author=mapping["author"],
        created_at=mapping["created_at"],
    )
