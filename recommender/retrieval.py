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
from concurrent import futures
from dataclasses import dataclass, field

import numpy as np

from indexer.candidates import (
    CandidatePassages,
    candidate_passages,
    join_passages,
    record_labels,
)
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
# Threads for the keyword side of searches: as many as the API's default two
# inference workers, so neither waits for the other's keyword search.
KEYWORD_THREADS = 2
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


@dataclass(frozen=True)
class KeywordSide:
    """The keyword candidates of a search, read while the alert is embedded.

    Attributes:
        terms: The alert's keyword terms.
        frequencies: How many records contain each term.
        total: How many records there are.
        record_ids: The keyword candidates, best first, excluded ids left out.
        labels: The labels of the candidates that exist.
        passages: Every passage of those candidates, with its vector.
        texts: Their keyword text without the body column.
    """

    terms: list[str]
    frequencies: dict[str, int]
    total: int
    record_ids: list[str]
    labels: dict[str, dict[str, str]]
    passages: CandidatePassages
    texts: dict[str, str]


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
        self._executor: futures.ThreadPoolExecutor | None = None

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

        # The keyword side needs no embedding, so it runs on a second thread while
        # the model embeds the alert, because SQLite and torch both release the GIL.
        excluded = set(exclude)
        pending = self._background().submit(self._keyword_side, text, top_k, excluded)
        try:
            vector = self.knowledge_base.embed_query(text)
            dense_ids = self._dense_candidates(vector, top_k, excluded)
        except BaseException:
            futures.wait([pending])
            raise
        keyword = pending.result()
        terms, frequencies, total = keyword.terms, keyword.frequencies, keyword.total

        # Only the dense candidates the keyword side did not read are read now.
        database = self.knowledge_base.database
        fetched = set(keyword.record_ids)
        more_labels = record_labels(
            database, [rid for rid in dense_ids if rid not in fetched]
        )
        labels_by_record = {**more_labels, **keyword.labels}
        if not labels_by_record:
            return []
        passages = join_passages(
            candidate_passages(database, list(more_labels)), keyword.passages
        )
        similarities = _passage_similarities(vector, passages)
        dense = _best_per_record(passages, similarities)
        shared = {
            rid: _shared_labels(alert, labels, include_alertname)
            for rid, labels in labels_by_record.items()
        }
        contenders = self._contenders(dense, shared, top_k)
        coverage = self._keyword_coverage(
            terms, frequencies, total, contenders, keyword.texts
        )

        scored = []
        for rid in labels_by_record:
            label_score = _label_score(shared[rid])
            score = (
                DENSE_WEIGHT * max(dense.get(rid, 0.0), 0.0)
                + KEYWORD_WEIGHT * coverage.get(rid, (0.0, []))[0]
                + LABEL_WEIGHT * label_score
            )
            scored.append((round(min(max(score, 0.0), 1.0), 4), rid))
        scored.sort(key=lambda item: (-item[0], item[1]))
        top = scored[:top_k]

        # Whole records, and the sections that matched, only for what is returned.
        records = self.knowledge_base.get_many([rid for _, rid in top])
        sections = _best_sections(passages, similarities, {rid for _, rid in top})
        return [
            Match(
                record=records[rid],
                score=score,
                dense=round(dense.get(rid, 0.0), 4),
                keyword=round(coverage.get(rid, (0.0, []))[0], 4),
                labels=_label_score(shared[rid]),
                sections=sections.get(rid, []),
                terms=coverage.get(rid, (0.0, []))[1],
                shared_labels=shared[rid],
            )
            for score, rid in top
            if rid in records
        ]

    def _background(self) -> futures.ThreadPoolExecutor:
        if self._executor is None:
            self._executor = futures.ThreadPoolExecutor(
                max_workers=KEYWORD_THREADS, thread_name_prefix="keyword-search"
            )
        return self._executor

    def _dense_candidates(
        self, vector: np.ndarray, top_k: int, excluded: set[str]
    ) -> list[str]:
        passages = self.knowledge_base.search_passages(
            vector, max(DENSE_CANDIDATES, 10 * top_k)
        )
        ids = dict.fromkeys(ref.record_id for ref, _ in passages)
        return [rid for rid in ids if rid not in excluded]

    def _keyword_side(self, text: str, top_k: int, excluded: set[str]) -> KeywordSide:
        """Find the keyword candidates and read what scoring needs of them."""
        terms = query_terms(text)
        frequencies, total = self.frequencies.lookup(terms)
        rare = [t for t in terms if frequencies.get(t, 0) <= KEYWORD_MAX_DOCUMENTS]
        database = self.knowledge_base.database
        found = database.keyword_search(rare, max(KEYWORD_CANDIDATES, 2 * top_k))
        record_ids = [rid for rid, _ in found if rid not in excluded]

        labels = record_labels(database, record_ids)
        return KeywordSide(
            terms=terms,
            frequencies=frequencies,
            total=total,
            record_ids=record_ids,
            labels=labels,
            passages=candidate_passages(database, list(labels)),
            texts=database.keyword_text(list(labels), symptom_only=True),
        )

    def _contenders(
        self,
        dense: dict[str, float],
        shared: dict[str, dict[str, str]],
        top_k: int,
    ) -> list[str]:
        """Return the candidates that can still reach the top_k once keywords count.

        Dense and label evidence give each candidate a score it has at least;
        keyword coverage adds at most KEYWORD_WEIGHT. A candidate whose most is
        below the top_k-th least cannot be returned, so its keyword text is never
        read or tokenised. The top_k are the same as with every candidate scored.
        """
        least = {
            rid: DENSE_WEIGHT * max(dense.get(rid, 0.0), 0.0)
            + LABEL_WEIGHT * _label_score(labels)
            for rid, labels in shared.items()
        }
        if len(least) <= top_k:
            return list(least)
        bar = sorted(least.values(), reverse=True)[top_k - 1]
        # The margin covers the rounding of scores to four decimals.
        return [rid for rid, low in least.items() if low + KEYWORD_WEIGHT + 1e-3 >= bar]

    def _keyword_coverage(
        self,
        terms: list[str],
        frequencies: dict[str, int],
        total: int,
        record_ids: list[str],
        known_texts: dict[str, str],
    ) -> dict[str, tuple[float, list[str]]]:
        if not terms:
            return {}
        idf = {t: _idf(frequencies.get(t, 0), total) for t in terms}
        weight = sum(idf.values())
        texts = {rid: known_texts[rid] for rid in record_ids if rid in known_texts}
        texts.update(
            self.knowledge_base.database.keyword_text(
                [rid for rid in record_ids if rid not in known_texts], symptom_only=True
            )
        )
        rarest_first = sorted(terms, key=lambda t: -idf[t])

        result = {}
        for record_id, record_text in texts.items():
            lowered = record_text.lower()
            matched = [t for t in rarest_first if _has_token(lowered, t)]
            score = sum(idf[t] for t in matched) / weight if weight else 0.0
            result[record_id] = (score, matched[:10])
        return result


def query_terms(text: str) -> list[str]:
    """Return the distinct keyword terms of an alert text, stopwords removed."""
    tokens = tokenize(expand_identifiers(text))
    return list(dict.fromkeys(t for t in tokens if t not in _STOPWORDS and len(t) > 1))


def _has_token(text: str, term: str) -> bool:
    """Return whether term occurs in text as a whole token, as tokenize() splits.

    A substring search per term with a look at the two neighbouring characters
    took about half the time of one regular expression of every term (3.2 ms
    against 5.8 ms for the 230 candidates of a search at 100,000 records).
    """
    start = text.find(term)
    while start != -1:
        end = start + len(term)
        if (start == 0 or not text[start - 1].isalnum()) and (
            end == len(text) or not text[end].isalnum()
        ):
            return True
        start = text.find(term, start + 1)
    return False


def shared_labels(
    alert: Alert, record: IncidentRecord, include_alertname: bool
) -> dict[str, str]:
    """Return the labels that the alert and the record have in common."""
    return _shared_labels(alert, record.labels, include_alertname)


def _shared_labels(
    alert: Alert, labels: dict[str, str], include_alertname: bool
) -> dict[str, str]:
    shared = {}
    # The same split as IncidentRecord.alert_names, from the labels alone.
    names = {n.strip().lower() for n in labels.get("alertname", "").split(",")}
    if include_alertname and alert.alertname and alert.alertname.lower() in names:
        shared["alertname"] = alert.alertname
    service = alert.service.lower()
    if service and service == labels.get("service", "").lower():
        shared["service"] = alert.service
    for key in ("team", "namespace", "cluster"):
        value = alert.labels.get(key, "")
        if value and value.lower() == labels.get(key, "").lower():
            shared[key] = value
    return shared


def _passage_similarities(
    vector: np.ndarray, passages: CandidatePassages
) -> np.ndarray:
    """Return each passage's cosine similarity to the alert, weighted by its role."""
    if not len(passages):
        return np.zeros(0)
    weights = np.array([ROLE_WEIGHTS.get(role, 0.9) for role in passages.roles])
    return (passages.vectors @ vector) * weights


def _best_per_record(
    passages: CandidatePassages, similarities: np.ndarray
) -> dict[str, float]:
    """Return each record's best passage similarity, at least -1."""
    if not len(passages):
        return {}
    positions: dict[str, int] = {}
    rows = np.array(
        [positions.setdefault(rid, len(positions)) for rid in passages.record_ids]
    )
    best = np.full(len(positions), -1.0)
    np.maximum.at(best, rows, similarities)
    values = best.tolist()
    return {rid: values[position] for rid, position in positions.items()}


def _best_sections(
    passages: CandidatePassages, similarities: np.ndarray, record_ids: set[str]
) -> dict[str, list[tuple[str, float]]]:
    """Return the three closest sections of each of record_ids, best first."""
    best: dict[str, dict[str, float]] = {}
    for rid, section, similarity in zip(
        passages.record_ids, passages.sections, similarities.tolist(), strict=True
    ):
        if rid in record_ids:
            by_section = best.setdefault(rid, {})
            by_section[section] = max(similarity, by_section.get(section, -1.0))
    return {
        rid: [
            (section, round(value, 4))
            for section, value in sorted(by_section.items(), key=lambda item: -item[1])[
                :3
            ]
        ]
        for rid, by_section in best.items()
    }


def _label_score(shared: dict[str, str]) -> float:
    if "alertname" in shared:
        return 1.0
    if "service" in shared:
        return 0.5
    return 0.0


def _idf(document_frequency: int, total: int) -> float:
    # BM25's IDF, always positive: rare terms weigh most.
    return math.log(1 + (total - document_frequency + 0.5) / (document_frequency + 0.5))
