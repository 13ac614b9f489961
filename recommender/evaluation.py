"""Measure the recommender on labelled queries: retrieval, labels and abstention.

The query file is JSON Lines with one labelled query per line, and docs/EVALUATE.md
documents its fields. read_queries parses it, predict runs the recommender on each
query, and score turns any list of predictions into metrics with bootstrap intervals.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from indexer.severity import Severity, normalize_severity
from recommender.metrics import (
    CONFIDENCE,
    classification_scores,
    coverage_accuracy_curve,
    estimate,
    ndcg_at_k,
    precedent_flag,
    recall_at_k,
    reciprocal_rank,
)
from recommender.queries import LabelledQuery, normalised_category
from recommender.recommendation import Recommender

logger = logging.getLogger(__name__)


@dataclass
class Prediction:
    """The output of the recommender, or of a baseline, for one query.

    Attributes:
        query_id: Id of the LabelledQuery it is for.
        ranked_ids: Record ids of the matches, best first.
        scores: Match scores in the same order.
        best_score: Score of the best match, 0.0 when nothing matched.
        no_close_precedent: Whether the recommender flagged the query.
        precedent_bar: Score the best match needed for the query to be answered,
            or None for a baseline, whose bar is the threshold. The recommender
            asks more of a match for an alert whose name no nearby record carries.
        severity: Suggested severity, such as "SEV2", or None.
        category: Suggested root-cause category, or None.
        fix_types: Kinds of the suggested fixes that have a kind.
    """

    query_id: str
    ranked_ids: list[str]
    scores: list[float]
    best_score: float
    no_close_precedent: bool
    precedent_bar: float | None = None
    severity: str | None = None
    category: str | None = None
    fix_types: list[str] = field(default_factory=list)


def predict(
    recommender: Recommender, queries: Iterable[LabelledQuery], top_k: int = 10
) -> list[Prediction]:
    """Run the recommender on each query and return one Prediction per query.

    A query's exclude_ids are never retrieved, and suggestions come only from the
    remaining matches.
    """
    predictions = []
    for query in queries:
        alert = query.to_alert()
        recommendation = recommender.recommend(
            alert, top_k=top_k, exclude=query.exclude_ids
        )
        predictions.append(
            Prediction(
                query_id=query.id,
                ranked_ids=[m.record.id for m in recommendation.matches],
                scores=[m.score for m in recommendation.matches],
                best_score=_best(recommendation.matches),
                no_close_precedent=recommendation.no_close_precedent,
                precedent_bar=round(recommendation.precedent_bar, 4),
                severity=_severity_label(recommendation.severity.value),
                category=recommendation.category.value,
                fix_types=[f.fix_type for f in recommendation.fixes if f.fix_type],
            )
        )
    return predictions


def score(
    queries: Sequence[LabelledQuery],
    predictions: Sequence[Prediction],
    threshold: float,
    bootstrap: int = 1000,
    seed: int = 0,
    known_ids: Collection[str] | None = None,
) -> dict[str, Any]:
    """Score predictions against the labelled queries; the result is JSON-ready.

    Args:
        queries: The labelled queries.
        predictions: One prediction per query, in the same order.
        threshold: Best match score below which a query counts as flagged, unless
            its prediction has a precedent_bar of its own.
        bootstrap: Bootstrap resamples per interval; 0 leaves the intervals out.
        seed: Seed of the bootstrap, so the same input gives the same intervals.
        known_ids: Ids of the records in the knowledge base, when known. A relevant
            id outside it cannot be retrieved, so it is treated like an excluded id
            and listed in "unknown_relevant_ids".
    """
    _check_pairs(queries, predictions)
    known = None if known_ids is None else frozenset(known_ids)
    expected = [_expected_ids(query, known) for query in queries]
    pairs = list(zip(queries, predictions, expected, strict=True))

    result: dict[str, Any] = {
        "queries": len(queries),
        "threshold": threshold,
        "bootstrap": {"resamples": bootstrap, "seed": seed, "confidence": CONFIDENCE},
        "retrieval": _retrieval(pairs, bootstrap, seed),
        "severity": _labels(queries, predictions, "severity", bootstrap, seed),
        "category": _labels(queries, predictions, "category", bootstrap, seed),
        "fix_type": _fix_type(queries, predictions, bootstrap, seed),
        "no_close_precedent": _precedent(pairs, threshold, bootstrap, seed),
    }
    if known is not None:
        relevant = {rid for query in queries for rid in query.relevant_ids or ()}
        result["unknown_relevant_ids"] = sorted(relevant - known)
    return result


def _retrieval(
    pairs: list[tuple[LabelledQuery, Prediction, frozenset[str]]],
    bootstrap: int,
    seed: int,
) -> dict[str, Any]:
    labelled = [(q, p, ids) for q, p, ids in pairs if ids]
    per_query: dict[str, list[float]] = {
        "recall@1": [recall_at_k(p.ranked_ids, ids, 1) for _, p, ids in labelled],
        "recall@5": [recall_at_k(p.ranked_ids, ids, 5) for _, p, ids in labelled],
        "mrr@10": [reciprocal_rank(p.ranked_ids, ids, 10) for _, p, ids in labelled],
        "ndcg@10": [ndcg_at_k(p.ranked_ids, ids, 10) for _, p, ids in labelled],
    }
    result: dict[str, Any] = {
        name: asdict(estimate(values, bootstrap, seed))
        for name, values in per_query.items()
    }
    hits = per_query["recall@5"]
    result["missed_at_5"] = [
        query.id for (query, _, _), hit in zip(labelled, hits, strict=True) if not hit
    ]
    return result


def _labels(
    queries: Sequence[LabelledQuery],
    predictions: Sequence[Prediction],
    name: str,
    bootstrap: int,
    seed: int,
) -> dict[str, Any]:
    normalise = _normalised_severity if name == "severity" else normalised_category
    expected, predicted = [], []
    for query, prediction in zip(queries, predictions, strict=True):
        label = normalise(getattr(query, name))
        if label is not None:
            expected.append(label)
            predicted.append(normalise(getattr(prediction, name)))
    return asdict(classification_scores(expected, predicted, bootstrap, seed))


def _fix_type(
    queries: Sequence[LabelledQuery],
    predictions: Sequence[Prediction],
    bootstrap: int,
    seed: int,
) -> dict[str, Any]:
    agreement = []
    for query, prediction in zip(queries, predictions, strict=True):
        if query.fix_type is not None:
            suggested = {kind.lower() for kind in prediction.fix_types}
            agreement.append(1.0 if query.fix_type.lower() in suggested else 0.0)
    return {"agreement": asdict(estimate(agreement, bootstrap, seed))}


def _precedent(
    pairs: list[tuple[LabelledQuery, Prediction, frozenset[str]]],
    threshold: float,
    bootstrap: int,
    seed: int,
) -> dict[str, Any]:
    # Whether answering was right is known only for queries with relevant_ids.
    labelled = [(p, ids) for q, p, ids in pairs if q.relevant_ids is not None]
    top_relevant = [
        bool(p.ranked_ids) and p.ranked_ids[0] in ids for p, ids in labelled
    ]
    expects = [bool(ids) for _, ids in labelled]
    # The flag counts the outcome each query got. The curve moves the threshold,
    # and a query whose bar was raised keeps its margin above the moved one.
    bars = [
        threshold if p.precedent_bar is None else p.precedent_bar for p, _ in labelled
    ]
    answered = [p.best_score >= bar for (p, _), bar in zip(labelled, bars, strict=True)]
    best = [
        round(p.best_score - bar + threshold, 6)
        for (p, _), bar in zip(labelled, bars, strict=True)
    ]

    flag = precedent_flag(
        best, top_relevant, expects, threshold, bootstrap, seed, answered=answered
    )
    curve = coverage_accuracy_curve(best, top_relevant)
    return {**asdict(flag), "curve": [asdict(point) for point in curve]}


def _check_pairs(
    queries: Sequence[LabelledQuery], predictions: Sequence[Prediction]
) -> None:
    if len(queries) != len(predictions):
        raise ValueError(
            f"got {len(queries)} queries but {len(predictions)} predictions; "
            "pass one prediction per query, in the same order"
        )
    for position, (query, prediction) in enumerate(
        zip(queries, predictions, strict=True)
    ):
        if query.id != prediction.query_id:
            raise ValueError(
                f"prediction {position} is for query {prediction.query_id!r} but "
                f"query {position} is {query.id!r}; keep the queries' order"
            )


def _expected_ids(query: LabelledQuery, known: frozenset[str] | None) -> frozenset[str]:
    ids = query.expected_ids()
    return ids if known is None else ids & known


def _best(matches: Sequence[Any]) -> float:
    return float(matches[0].score) if matches else 0.0


def _severity_label(severity: Severity | None) -> str | None:
    return None if severity is None else severity.value


def _normalised_severity(value: str | None) -> str | None:
    """Return "SEV1" to "SEV4", or the value itself when it is not a severity."""
    severity = normalize_severity(value)
    return value if severity is None else severity.value
