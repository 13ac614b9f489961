"""Recurring patterns: past incidents and postmortems clustered by root cause.

Each record is represented by the mean of its stored root-cause passage vectors
(the text of the whole record when it has no root-cause section), so nothing is
embedded again. Agglomerative clustering with average linkage over cosine distance
groups records whose causes are closer than a distance threshold, and TF-IDF over
each cluster's root-cause text names it by its top terms.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sklearn.cluster import AgglomerativeClustering
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import silhouette_score

from indexer.knowledge_base import KnowledgeBase
from indexer.normalize import normalize_text
from indexer.record import IncidentRecord, Kind
from recommender.action_items import ActionItem, parse_action_items

logger = logging.getLogger(__name__)

# Cosine distance (1 - cosine similarity) under which average linkage still joins
# two clusters. On the dfds public postmortems, 0.40 puts each of the four known
# recurring groups together. At 0.30 two of them split, and at 0.50 most Kubernetes
# incidents merge into one cluster.
DEFAULT_DISTANCE_THRESHOLD = 0.40
# Sections that explain why an incident happened, in the order they are preferred.
ROOT_CAUSE_SECTIONS = ("root_cause", "trigger", "contributing_factors")
PERIODS = ("quarter", "month")
TOP_TERMS = 5
UNDATED = "undated"


@dataclass
class PatternRecord:
    """One incident or postmortem in a cluster."""

    id: str
    kind: str
    title: str
    service: str | None
    started_at: str | None
    period: str
    used_root_cause: bool


@dataclass
class Pattern:
    """A cluster of records with similar root causes.

    Attributes:
        id: Cluster number, 1 for the largest.
        name: Its top TF-IDF terms joined by " / ".
        terms: The top terms, most distinctive first.
        records: The incidents and postmortems in it, oldest first.
        counts: Number of records per period ("2024-Q1" or "2024-03").
        open_action_items: Action items of its records not checked or marked done.
        closed_action_items: How many of its action items are done or closed.
    """

    id: int
    name: str
    terms: list[str]
    records: list[PatternRecord]
    counts: dict[str, int]
    open_action_items: list[ActionItem] = field(default_factory=list)
    closed_action_items: int = 0

    @property
    def recurring(self) -> bool:
        """Return True when the cluster contains two or more records."""
        return len(self.records) >= 2


@dataclass
class PatternReport:
    """All clusters of one knowledge base, largest first."""

    patterns: list[Pattern]
    records: int
    with_root_cause: int
    distance_threshold: float
    period: str
    silhouette: float | None
    data_version: int

    @property
    def recurring(self) -> list[Pattern]:
        """Return the clusters of two or more records."""
        return [pattern for pattern in self.patterns if pattern.recurring]


def find_patterns(
    knowledge_base: KnowledgeBase,
    distance_threshold: float = DEFAULT_DISTANCE_THRESHOLD,
    period: str = "quarter",
) -> PatternReport:
    """Cluster the incidents and postmortems of a knowledge base by root cause."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, got {period!r}")
    ids = sorted(knowledge_base.database.record_hashes())
    records = [
        record
        for record in knowledge_base.get_many(ids).values()
        if record.kind is not Kind.RUNBOOK
    ]
    records.sort(key=lambda record: record.id)
    vectors, used_root_cause = record_vectors(knowledge_base, records)
    report = cluster_records(records, vectors, used_root_cause, distance_threshold)
    report = _with_periods(report, records, period)
    report.data_version = knowledge_base.database.data_version()
    logger.info(
        "found %d recurring pattern(s) in %d records (threshold %.2f)",
        len(report.recurring),
        report.records,
        distance_threshold,
    )
    return report


def record_vectors(
    knowledge_base: KnowledgeBase, records: Sequence[IncidentRecord]
) -> tuple[np.ndarray, list[bool]]:
    """Return one unit vector per record from its stored passages.

    The vector is the mean of the record's root-cause passages, or of all its
    passages when it has none. The flags mark the records that had a root cause.
    """
    by_record: dict[str, list[tuple[str, np.ndarray]]] = defaultdict(list)
    for ref, vector in knowledge_base.database.record_passages(
        [record.id for record in records]
    ):
        by_record[ref.record_id].append((ref.section, vector))

    vectors, used_root_cause = [], []
    for record in records:
        passages = by_record.get(record.id, [])
        cause = [
            vector for section, vector in passages if section in ROOT_CAUSE_SECTIONS
        ]
        chosen = cause or [vector for _, vector in passages]
        if not chosen:
            # A record is always stored with its head passage; this guards a
            # database written by another version.
            chosen = [knowledge_base.embedder.embed([normalize_text(record.title)])[0]]
        mean = np.mean(np.stack(chosen), axis=0)
        vectors.append(mean / (np.linalg.norm(mean) or 1.0))
        used_root_cause.append(bool(cause))
    return np.stack(vectors).astype(np.float32), used_root_cause


def cluster_records(
    records: Sequence[IncidentRecord],
    vectors: np.ndarray,
    used_root_cause: Sequence[bool],
    distance_threshold: float = DEFAULT_DISTANCE_THRESHOLD,
) -> PatternReport:
    """Cluster records whose root-cause vectors are within the distance threshold."""
    if not 0.0 < distance_threshold < 2.0:
        raise ValueError(
            "distance_threshold is a cosine distance in (0, 2), "
            f"got {distance_threshold}"
        )
    labels = _labels(vectors, distance_threshold)
    silhouette = None
    if 2 <= len(set(labels)) < len(records):
        silhouette = round(float(silhouette_score(vectors, labels, metric="cosine")), 4)

    members: dict[int, list[int]] = defaultdict(list)
    for position, label in enumerate(labels):
        members[label].append(position)
    # Largest first, then by the first record id, so cluster numbers are stable.
    ordered = sorted(
        members.values(), key=lambda group: (-len(group), records[group[0]].id)
    )
    terms = _top_terms([[records[i] for i in group] for group in ordered])

    patterns = []
    for number, (group, top) in enumerate(zip(ordered, terms, strict=True), start=1):
        chosen = [records[i] for i in group]
        items = [
            item
            for record in chosen
            for item in parse_action_items(
                record.id, record.sections.get("action_items", "")
            )
        ]
        patterns.append(
            Pattern(
                id=number,
                name=" / ".join(top[:3]) or chosen[0].title,
                terms=top,
                records=[
                    _pattern_record(record, used_root_cause[i])
                    for i, record in zip(group, chosen, strict=True)
                ],
                counts={},
                open_action_items=[item for item in items if item.open],
                closed_action_items=sum(not item.open for item in items),
            )
        )
    return PatternReport(
        patterns=patterns,
        records=len(records),
        with_root_cause=sum(used_root_cause),
        distance_threshold=distance_threshold,
        period="quarter",
        silhouette=silhouette,
        data_version=0,
    )


def period_of(started_at: datetime | None, period: str) -> str:
    """Return "2024-Q1" (quarter) or "2024-03" (month) for a start time."""
    if started_at is None:
        return UNDATED
    if period == "month":
        return f"{started_at.year}-{started_at.month:02d}"
    return f"{started_at.year}-Q{(started_at.month - 1) // 3 + 1}"


def root_cause_text(record: IncidentRecord) -> str:
    """Return the root-cause text of a record, or its whole text without one."""
    parts = [
        record.sections[name] for name in ROOT_CAUSE_SECTIONS if name in record.sections
    ]
    if not parts:
        parts = [record.title, *record.sections.values()]
    return normalize_text("\n".join(parts))


def _labels(vectors: np.ndarray, distance_threshold: float) -> list[int]:
    if len(vectors) < 2:
        return [0] * len(vectors)
    model = AgglomerativeClustering(
        n_clusters=None,
        distance_threshold=distance_threshold,
        metric="cosine",
        linkage="average",
    )
    return [int(label) for label in model.fit_predict(vectors)]


def _top_terms(groups: list[list[IncidentRecord]]) -> list[list[str]]:
    """Name each cluster by the terms that weigh most in it against the others.

    Each cluster's titles and root-cause text are one document, so a term common
    to every cluster (such as "service") gets a low inverse document frequency.
    """
    documents = [
        " ".join(f"{r.title}\n{root_cause_text(r)}" for r in group) for group in groups
    ]
    if len(documents) < 2:
        return [[] for _ in documents]
    vectorizer = TfidfVectorizer(
        stop_words="english",
        token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z0-9_-]{2,}\b",
        sublinear_tf=True,
    )
    try:
        matrix = vectorizer.fit_transform(documents)
    except ValueError:  # Every document is empty or only stop words.
        return [[] for _ in documents]
    vocabulary = vectorizer.get_feature_names_out()
    names = []
    for row in matrix.toarray():
        order = np.argsort(-row, kind="stable")
        names.append([str(vocabulary[i]) for i in order[:TOP_TERMS] if row[i] > 0])
    return names


def _pattern_record(record: IncidentRecord, used_root_cause: bool) -> PatternRecord:
    return PatternRecord(
        id=record.id,
        kind=record.kind.value,
        title=record.title,
        service=record.labels.get("service"),
        started_at=record.started_at.isoformat() if record.started_at else None,
        period=UNDATED,
        used_root_cause=used_root_cause,
    )


def _with_periods(
    report: PatternReport, records: Sequence[IncidentRecord], period: str
) -> PatternReport:
    """Set each record's period and count records per period in every cluster."""
    started = {record.id: record.started_at for record in records}
    for pattern in report.patterns:
        for item in pattern.records:
            item.period = period_of(started[item.id], period)
        pattern.records.sort(key=lambda item: (item.started_at or "9999", item.id))
        counts = Counter(item.period for item in pattern.records)
        pattern.counts = dict(sorted(counts.items()))
    report.period = period
    return report
