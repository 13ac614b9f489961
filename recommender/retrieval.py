"""Hybrid retrieval: dense passage similarity, keyword coverage and shared labels.

A match's score is in [0, 1], higher is closer:

    score = 0.50 * dense + 0.25 * keyword + 0.25 * labels

dense is the best cosine similarity between the alert and one passage of the record
(clipped at 0), weighted by the passage's role so symptoms count most; keyword is the
share of the alert's IDF weight whose terms appear in the record's title, alert names,
labels and symptom sections; labels is 1 when the alert name is the same, 0.5 when
only the service is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from indexer.database import tokenize
from indexer.knowledge_base import KnowledgeBase
from indexer.normalize import expand_identifiers
from indexer.record import IncidentRecord
from indexer.term_frequencies import DocumentFrequencies
from recommender.alerts import Alert

DENSE_WEIGHT = 0.50
KEYWORD_WEIGHT = 0.25
# An alert name shared with a runbook or postmortem is strong evidence: the record
# was written for this very alert.
LABEL_WEIGHT = 0.25
# An alert looks like a symptom, so symptom passages count fully and others less.
ROLE_WEIGHTS = {"symptom": 1.0, "context": 0.95, "cause": 0.9, "fix": 0.85}
DENSE_CANDIDATES = 200
KEYWORD_CANDIDATES = 50
# FTS5 scores every record that contains any term of the query, so on a synthetic
# knowledge base of 100,000 records one keyword search took 1.1 s. Only terms in at
# most this many records select keyword candidates. Common terms still count in the
# keyword coverage of every candidate, and below this many records nothing changes.
KEYWORD_MAX_DOCUMENTS = 2_000
SCORE_FORMULA = (
    f"score in [0, 1], higher is closer: {DENSE_WEIGHT:.2f} x dense cosine similarity "
    f"of the best passage (clipped at 0) + {KEYWORD_WEIGHT:.2f} x keyword coverage + "
    f"{LABEL_WEIGHT:.2f} x shared labels"
)

_STOPWORDS = frozenset(
    "a an and are as at be been by for from has have in is it its of on or that the "
    "this to was were will with than then there these those not no into over under "
    "more less had can could should would".split()
)


@dataclass
class Match:
    """A past incident, postmortem or runbook returned for an alert.

    Attributes:
        record: The stored record.
        score: Combined relevance in [0, 1], higher is closer.
        dense: Best role-weighted cosine similarity of one passage, in [-1, 1].
        keyword: Share of the alert's IDF weight found in the record, in [0, 1].
        labels: Shared-label evidence, 1 for the same alert name, 0.5 for the service.
        sections: Sections whose passages were closest, with their cosine similarity.
        terms: Alert terms found in the record, rarest first.
        shared_labels: Labels the alert and the record have in common.
    """

    record: IncidentRecord
    score: float
    dense: float
    keyword: float
    labels: float
    sections: list[tuple[str, float]] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)
    shared_labels: dict[str, str] = field(default_factory=dict)


class Retriever:
    """Finds the records closest to an alert in a knowledge base."""

    def __init__(self, knowledge_base: KnowledgeBase) -> None:
        self.knowledge_base = knowledge_base
        self.frequencies = DocumentFrequencies(knowledge_base.database)

    def search(
        self,
        alert: Alert,
        top_k: int,
        exclude: Sequence[str] = (),
        include_alertname: bool = True,
    ) -> list[Match]:
        """Return the top_k matches for an alert, best first.

        Args:
            alert: The alert or free text to match.
            top_k: How many matches to return at most.
            exclude: Record ids never to return, such as the record being compared.
            include_alertname: Whether the alert name takes part in the match.
        """
        text = alert.query_text(include_alertname=include_alertname)
        if top_k <= 0 or not text:
            return []

        vector = self.knowledge_base.embed_query(text)
        terms = query_terms(text)
        frequencies, total = self.frequencies.lookup(terms)
        rare = [t for t in terms if frequencies.get(t, 0) <= KEYWORD_MAX_DOCUMENTS]
        candidates = self._candidates(vector, rare, top_k)
        candidates = [c for c in candidates if c not in set(exclude)]
        if not candidates:
            return []

        records = self.knowledge_base.get_many(candidates)
        dense = self._dense_scores(vector, list(records))
        contenders = self._contenders(alert, records, dense, top_k, include_alertname)
        coverage = self._keyword_coverage(terms, frequencies, total, contenders)
        matches = [
            self._match(
                alert,
                record,
                dense.get(rid, (0.0, [])),
                coverage.get(rid, (0.0, [])),
                include_alertname,
            )
            for rid, record in records.items()
        ]
        matches.sort(key=lambda m: (-m.score, m.record.id))
        return matches[:top_k]

    def _candidates(
        self, vector: np.ndarray, terms: list[str], top_k: int
    ) -> list[str]:
        passages = self.knowledge_base.search_passages(
            vector, max(DENSE_CANDIDATES, 10 * top_k)
        )
        ids = list(dict.fromkeys(ref.record_id for ref, _ in passages))
        keyword = self.knowledge_base.database.keyword_search(
            terms, max(KEYWORD_CANDIDATES, 2 * top_k)
        )
        ids += [rid for rid, _ in keyword if rid not in ids]
        return ids

    def _contenders(
        self,
        alert: Alert,
        records: dict[str, IncidentRecord],
        dense: dict[str, tuple[float, list[tuple[str, float]]]],
        top_k: int,
        include_alertname: bool,
    ) -> list[str]:
        """Return the candidates that can still reach the top_k once keywords count.

        Dense and label evidence give each candidate a score it has at least;
        keyword coverage adds at most KEYWORD_WEIGHT. A candidate whose most is
        below the top_k-th least cannot be returned, so its keyword text is never
        read or tokenised. The top_k are the same as with every candidate scored.
        """
        least = {}
        for record_id, record in records.items():
            shared = shared_labels(alert, record, include_alertname)
            least[record_id] = DENSE_WEIGHT * max(
                dense.get(record_id, (0.0, []))[0], 0.0
            ) + LABEL_WEIGHT * _label_score(shared)
        if len(least) <= top_k:
            return list(least)
        bar = sorted(least.values(), reverse=True)[top_k - 1]
        # The margin covers the rounding of scores to four decimals.
        return [rid for rid, low in least.items() if low + KEYWORD_WEIGHT + 1e-3 >= bar]

    def _dense_scores(
        self, vector: np.ndarray, record_ids: list[str]
    ) -> dict[str, tuple[float, list[tuple[str, float]]]]:
        """Score every passage of each candidate exactly; keep the best per record."""
        rows = self.knowledge_base.database.record_passages(record_ids)
        if not rows:
            return {}
        weights = np.array([ROLE_WEIGHTS.get(ref.role, 0.9) for ref, _ in rows])
        similarities = (np.stack([v for _, v in rows]) @ vector) * weights
        per_record: dict[str, list[tuple[str, float]]] = {}
        for (ref, _), similarity in zip(rows, similarities.tolist(), strict=True):
            per_record.setdefault(ref.record_id, []).append((ref.section, similarity))

        result = {}
        for record_id, scored in per_record.items():
            best_by_section: dict[str, float] = {}
            for section, similarity in scored:
                best_by_section[section] = max(
                    similarity, best_by_section.get(section, -1.0)
                )
            ranked = sorted(best_by_section.items(), key=lambda item: -item[1])
            result[record_id] = (
                ranked[0][1],
                [(s, round(v, 4)) for s, v in ranked[:3]],
            )
        return result

    def _keyword_coverage(
        self,
        terms: list[str],
        frequencies: dict[str, int],
        total: int,
        record_ids: list[str],
    ) -> dict[str, tuple[float, list[str]]]:
        if not terms:
            return {}
        idf = {t: _idf(frequencies.get(t, 0), total) for t in terms}
        weight = sum(idf.values())
        texts = self.knowledge_base.database.keyword_text(record_ids, symptom_only=True)

        result = {}
        for record_id, record_text in texts.items():
            present = set(tokenize(record_text))
            matched = sorted((t for t in terms if t in present), key=lambda t: -idf[t])
            score = sum(idf[t] for t in matched) / weight if weight else 0.0
            result[record_id] = (score, matched[:10])
        return result

    def _match(
        self,
        alert: Alert,
        record: IncidentRecord,
        dense: tuple[float, list[tuple[str, float]]],
        keyword: tuple[float, list[str]],
        include_alertname: bool,
    ) -> Match:
        shared = shared_labels(alert, record, include_alertname)
        label_score = _label_score(shared)
        score = (
            DENSE_WEIGHT * max(dense[0], 0.0)
            + KEYWORD_WEIGHT * keyword[0]
            + LABEL_WEIGHT * label_score
        )
        return Match(
            record=record,
            score=round(min(max(score, 0.0), 1.0), 4),
            dense=round(dense[0], 4),
            keyword=round(keyword[0], 4),
            labels=label_score,
            sections=dense[1],
            terms=keyword[1],
            shared_labels=shared,
        )


def query_terms(text: str) -> list[str]:
    """Return the distinct keyword terms of an alert text, stopwords removed."""
    tokens = tokenize(expand_identifiers(text))
    return list(dict.fromkeys(t for t in tokens if t not in _STOPWORDS and len(t) > 1))


def shared_labels(
    alert: Alert, record: IncidentRecord, include_alertname: bool
) -> dict[str, str]:
    """Return the labels that the alert and the record have in common."""
    shared = {}
    names = {name.lower() for name in record.alert_names}
    if include_alertname and alert.alertname and alert.alertname.lower() in names:
        shared["alertname"] = alert.alertname
    service = alert.service.lower()
    if service and service == record.labels.get("service", "").lower():
        shared["service"] = alert.service
    for key in ("team", "namespace", "cluster"):
        value = alert.labels.get(key, "")
        if value and value.lower() == record.labels.get(key, "").lower():
            shared[key] = value
    return shared


def _label_score(shared: dict[str, str]) -> float:
    if "alertname" in shared:
        return 1.0
    if "service" in shared:
        return 0.5
    return 0.0


def _idf(document_frequency: int, total: int) -> float:
    # BM25's IDF, always positive: rare terms weigh most.
    return math.log(1 + (total - document_frequency + 0.5) / (document_frequency + 0.5))
