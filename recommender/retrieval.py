"""Hybrid retrieval: dense passage similarity, keyword coverage and shared labels.

A match's score is in [0, 1], higher is closer:

    score = 0.50 * dense + 0.25 * keyword + 0.25 * labels
    keyword = 0.65 * alert coverage + 0.35 * title coverage

dense is the best cosine similarity between the alert and one passage of the record
(clipped at 0), weighted by the passage's role so symptoms count most. Alert
coverage is the share of the alert's IDF weight whose terms appear in the record's
title, alert names, labels and symptom sections. A rare term found only in its
causes, fixes or timeline counts BODY_SHARE of its weight. Title coverage is the
share of the record's title and alert-name terms that the alert mentions
(indexer/terms.py).
labels is 1 when the alert name is the same, 0.5 when only the service is.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from concurrent import futures
from dataclasses import dataclass, field

import numpy as np

from indexer.candidates import CandidatePassages, candidate_passages
from indexer.knowledge_base import KnowledgeBase
from indexer.normalize import expand_identifiers, tokenize
from indexer.record import IncidentRecord
from indexer.scoring_rows import RowValues, ScoringRow, parse_rows
from indexer.term_frequencies import DocumentFrequencies
from indexer.terms import STOPWORDS, title_coverage, title_terms
from recommender.alerts import Alert

DENSE_WEIGHT = 0.50
KEYWORD_WEIGHT = 0.25
# The part of the keyword score that title coverage takes. Alert coverage alone
# prefers whichever sibling runbook repeats the alert's words most; title coverage
# prefers the one whose title the alert names in full. Chosen on runbooks alone,
# not on alerts: see "How parameters were chosen" in docs/EVALUATION.md.
TITLE_SHARE = 0.35
# An alert name shared with a runbook or postmortem is strong evidence: the record
# was written for this very alert.
LABEL_WEIGHT = 0.25
# An alert looks like a symptom, so symptom passages count fully and others less.
ROLE_WEIGHTS = {"symptom": 1.0, "context": 0.95, "cause": 0.9, "fix": 0.85}
# The passages read from the vector index, whose records are then scored exactly.
# At 1,000,000 synthetic records (IVF4096,SQ4), rescoring the index's top 100 found
# 0.969 of the exact top 10 and the top 200 found 0.990. A search at 100,000 records
# took 18.9 ms with 100 and 21.6 ms with 200.
DENSE_CANDIDATES = 200
KEYWORD_CANDIDATES = 50
# FTS5 scores every record that contains any term of the query, so on a synthetic
# knowledge base of 100,000 records one keyword search took 1.1 s. Only terms in at
# most this many records select keyword candidates. Common terms still count in the
# keyword coverage of every candidate, and below this many records nothing changes.
KEYWORD_MAX_DOCUMENTS = 2_000
# The same limit as a share of the records, so that it also binds on smaller
# knowledge bases, but never below KEYWORD_MIN_DOCUMENTS. At 10,000 synthetic
# records a keyword search with the absolute limit took 12.4 ms, longer than the
# query embedding it runs beside.
KEYWORD_MAX_SHARE = 0.02
KEYWORD_MIN_DOCUMENTS = 200
# The part of its IDF weight that a term counts when a record has it only in its
# body (causes, fixes, timelines), not in its title, labels or symptoms. An alert
# describes symptoms, so a symptom hit stays worth more, but an identifier pasted
# from a log or a query (restart_lsn) must still find the postmortem that names it.
BODY_SHARE = 0.5
# Only terms in at most this many records are looked up in the bodies, and at
# most BODY_TERMS of them, rarest first, because each lookup reads the term's list
# of records on the keyword thread, beside the query embedding. In the scale
# benchmark it took 0.2 ms or less per search, from 10,000 to 1,000,000 records.
BODY_MAX_DOCUMENTS = 200
BODY_TERMS = 8
# Threads for the keyword side of searches: as many as the API's default two
# inference workers, so neither waits for the other's keyword search.
KEYWORD_THREADS = 2
SCORE_FORMULA = (
    f"score in [0, 1], higher is closer: {DENSE_WEIGHT:.2f} x dense cosine similarity "
    f"of the best passage (clipped at 0) + {KEYWORD_WEIGHT:.2f} x keyword coverage + "
    f"{LABEL_WEIGHT:.2f} x shared labels"
)

# Labels besides the alert name and the service that count as shared evidence.
_SHARED_KEYS = ("team", "namespace", "cluster")


@dataclass(frozen=True)
class KeywordSide:
    """The keyword candidates of a search, read while the alert is embedded.

    Attributes:
        frequencies: How many records contain each term.
        total: How many records there are.
        rows: The scoring rows of the keyword candidates, best first, as
            stored: they are decoded after the embedding, on the calling thread.
        body: The records whose body contains each of the rarest terms.
    """

    frequencies: dict[str, int]
    total: int
    rows: list[RowValues]
    body: dict[str, set[int]] = field(default_factory=dict)


@dataclass
class Match:
    """A past incident, postmortem or runbook returned for an alert.

    Attributes:
        record: The stored record.
        score: Combined relevance in [0, 1], higher is closer.
        dense: Best role-weighted cosine similarity of one passage, in [-1, 1].
        keyword: Keyword coverage in [0, 1]: the share of the alert's IDF weight
            found in the record, blended with the share of the record's title
            and alert-name terms that the alert mentions.
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
        # the model embeds the alert: SQLite, ONNX Runtime and torch release the GIL.
        # Terms and cached frequencies are found here first, as Python work on
        # that thread would hold up the embedding (see _keyword_side).
        terms = query_terms(text)
        cached = self.frequencies.cached(terms)
        pending = self._background().submit(self._keyword_side, terms, cached, top_k)
        try:
            vector = self.knowledge_base.embed_query(text)
            nearest = self.knowledge_base.nearest_records(
                vector, max(DENSE_CANDIDATES, 10 * top_k)
            )
        except BaseException:
            futures.wait([pending])
            raise
        keyword = pending.result()
        frequencies, total = keyword.frequencies, keyword.total
        keyword_rows = parse_rows(keyword.rows)

        # Only the dense candidates the keyword side did not read are read now.
        fetched = {row.record_pk for row in keyword_rows}
        dense_rows = self.knowledge_base.database.record_rows(
            [pk for pk in nearest if pk not in fetched]
        )
        excluded = set(exclude)
        rows = [
            row for row in dense_rows + keyword_rows if row.record_id not in excluded
        ]
        if not rows:
            return []
        passages = candidate_passages(rows)
        similarities = _passage_similarities(vector, passages)
        dense = _best_per_record(passages, similarities)
        shared = _shared_labels_of_rows(alert, rows, include_alertname)
        contenders = self._contenders(dense, shared, top_k)
        by_id = {row.record_id: row for row in rows}
        coverage = _keyword_coverage(
            terms,
            frequencies,
            total,
            [by_id[rid] for rid in contenders],
            set(title_terms(text)),
            keyword.body,
        )

        scored = []
        for rid in shared:
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

    def _keyword_side(
        self,
        terms: list[str],
        cached: tuple[dict[str, int], int] | None,
        top_k: int,
    ) -> KeywordSide:
        """Find the keyword candidates and read what scoring needs of them.

        This runs beside the query embedding, so it does little Python work. On
        torch, each operation of the embedding waits for the GIL while this thread
        holds it: with a Python-bound thread beside it, one embedding took 540 ms
        instead of 10 ms, and 10 ms beside a thread inside SQLite. ONNX Runtime
        releases the GIL for the whole embedding.
        """
        frequencies, total = cached or self.frequencies.lookup(terms)
        limit = keyword_document_limit(total)
        rare = [t for t in terms if frequencies.get(t, 0) <= limit]
        database = self.knowledge_base.database
        rows = database.keyword_rows(rare, max(KEYWORD_CANDIDATES, 2 * top_k))
        body = database.body_matches(body_terms(rare, frequencies), BODY_MAX_DOCUMENTS)
        return KeywordSide(frequencies=frequencies, total=total, rows=rows, body=body)

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
    terms: list[str],
    frequencies: dict[str, int],
    total: int,
    rows: list[ScoringRow],
    alert_terms: set[str],
    body: dict[str, set[int]] | None = None,
) -> dict[str, tuple[float, list[str]]]:
    """Return each record's keyword coverage, and the alert's terms it contains.

    A row's tokens hold its distinct tokens between single spaces, so a term is
    found as a whole token with one substring search. alert_terms are the
    alert's terms as title_terms() gives them, to compare with each row's. body
    maps a term to the records that have it in their body, which counts
    BODY_SHARE of the term's weight where the row's own tokens lack it.
    """
    if not terms:
        return {}
    idf = {t: _idf(frequencies.get(t, 0), total) for t in terms}
    weight = sum(idf.values())
    rarest_first = sorted(terms, key=lambda t: -idf[t])
    padded = [(t, f" {t} ") for t in rarest_first]

    # Only terms that some record has in its body are checked per row, and most
    # searches have none.
    records_by_term = body or {}
    in_body = [(t, records_by_term[t]) for t in rarest_first if records_by_term.get(t)]
    rank = {t: i for i, t in enumerate(rarest_first)}
    result = {}
    for row in rows:
        matched = [t for t, probe in padded if probe in row.tokens]
        found = sum(idf[t] for t in matched)
        extra = [t for t, pks in in_body if row.record_pk in pks and t not in matched]
        if extra:
            found += BODY_SHARE * sum(idf[t] for t in extra)
            matched = sorted(matched + extra, key=rank.__getitem__)
        found = found / weight if weight else 0.0
        title = title_coverage(row.title_terms, alert_terms)
        score = (1 - TITLE_SHARE) * found + TITLE_SHARE * title
        result[row.record_id] = (score, matched[:10])
    return result


def keyword_document_limit(total: int) -> int:
    """Return how many records a term may be in and still select keyword candidates."""
    share = max(KEYWORD_MIN_DOCUMENTS, int(KEYWORD_MAX_SHARE * total))
    return min(KEYWORD_MAX_DOCUMENTS, share)


def body_terms(terms: Sequence[str], frequencies: dict[str, int]) -> list[str]:
    """Return the terms to look up in records' bodies: the BODY_TERMS rarest.

    A term counted in no record is still looked up. Its cached count may predate
    the record that added it, and FTS5 counts "naive" where the alert writes
    "naïve", since the full-text index folds diacritics.
    """
    rare = [t for t in terms if frequencies.get(t, 0) <= BODY_MAX_DOCUMENTS]
    return sorted(rare, key=lambda t: frequencies.get(t, 0))[:BODY_TERMS]


def query_terms(text: str) -> list[str]:
    """Return the distinct keyword terms of an alert text, stopwords removed."""
    tokens = tokenize(expand_identifiers(text))
    return list(dict.fromkeys(t for t in tokens if t not in STOPWORDS and len(t) > 1))


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
    for key in _SHARED_KEYS:
        value = alert.labels.get(key, "")
        if value and value.lower() == labels.get(key, "").lower():
            shared[key] = value
    return shared


def _shared_labels_of_rows(
    alert: Alert, rows: list[ScoringRow], include_alertname: bool
) -> dict[str, dict[str, str]]:
    """Return the labels each candidate shares with the alert, keyed by record id.

    A record can share a label only when the label's value occurs in its labels'
    JSON, so only those few records have their labels decoded.
    """
    values = [alert.service, *(alert.labels.get(k, "") for k in _SHARED_KEYS)]
    if include_alertname:
        values.append(alert.alertname)
    probes = [value.lower() for value in values if value]
    # JSON escapes quotes, backslashes and control characters, so a value with
    # any of them may not occur verbatim: such alerts decode every record's labels.
    verbatim = all(_json_verbatim(probe) for probe in probes)
    shared: dict[str, dict[str, str]] = {}
    for row in rows:
        lowered = row.labels.lower()
        if not verbatim or any(probe in lowered for probe in probes):
            labels = json.loads(row.labels)
            shared[row.record_id] = _shared_labels(alert, labels, include_alertname)
        else:
            shared[row.record_id] = {}
    return shared


def _json_verbatim(value: str) -> bool:
    """Return whether json.dumps(..., ensure_ascii=False) writes value unchanged."""
    return '"' not in value and "\\" not in value and value.isprintable()


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
    # Each record's passages are consecutive rows, so one reduceat finds the best.
    best = np.maximum.reduceat(similarities, passages.starts)
    return dict(zip(passages.records, best.tolist(), strict=True))


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
