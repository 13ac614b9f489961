"""Ranking, classification and abstention metrics with bootstrap confidence intervals.

Every function is pure: it takes per-query values or labels and returns numbers, so
the recommender and any baseline are scored by the same code.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

logger = logging.getLogger(__name__)

# Label of confusion matrices for a query where the recommender suggested nothing.
NO_PREDICTION = "(none)"
DEFAULT_RESAMPLES = 1000
CONFIDENCE = 0.95
# Resampled query positions drawn at once. Larger runs draw in batches of about
# this many, so an int64 array stays near 40 MB whatever the query count and
# --bootstrap. Smaller runs draw one batch, the same numbers as a single draw.
MAX_BOOTSTRAP_CELLS = 5_000_000
# Thresholds of the coverage-against-accuracy curve: 0.00, 0.01, ..., 1.00.
CURVE_THRESHOLDS = tuple(round(step / 100, 2) for step in range(101))


@dataclass
class Estimate:
    """A metric over a set of queries with its percentile bootstrap interval.

    Attributes:
        value: The metric over all n queries, or None when n is 0.
        ci_low: Lower end of the 95% interval, or None when n is 0.
        ci_high: Upper end of the 95% interval, or None when n is 0.
        n: Number of queries the metric is over.
    """

    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int


@dataclass
class ClassificationScores:
    """Accuracy, macro-F1 and confusion matrix of one labelled field.

    Attributes:
        accuracy: Share of queries whose prediction equals the expected label.
        macro_f1: Unweighted mean of the per-label F1 over the expected labels.
        labels: Row and column order of the confusion matrix, NO_PREDICTION last.
        confusion_matrix: Counts; rows are expected labels, columns predictions.
    """

    accuracy: Estimate
    macro_f1: Estimate
    labels: list[str]
    confusion_matrix: list[list[int]]


@dataclass
class CurvePoint:
    """Coverage and accuracy of the "no close precedent" flag at one threshold.

    Attributes:
        threshold: Best match score a query needs to be answered.
        coverage: Share of queries answered (best score >= threshold).
        accuracy: Share of answered queries whose top match is relevant, or None
            when no query is answered.
        answered: Number of answered queries.
    """

    threshold: float
    coverage: float
    accuracy: float | None
    answered: int


@dataclass
class PrecedentFlag:
    """The "no close precedent" flag at one threshold.

    Attributes:
        threshold: Best match score a query needs to be answered.
        answered: Share of queries answered, the curve's coverage at threshold.
        accuracy: Share of answered queries whose top match is relevant.
        flagged: Share of the queries that expect no precedent which are flagged;
            n is 0 when the query set has no such query.
    """

    threshold: float
    answered: Estimate
    accuracy: Estimate
    flagged: Estimate


def recall_at_k(ranked_ids: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Return 1.0 when a relevant id is among the first k ranked ids, else 0.0.

    This is the per-query hit form of Recall@k (also called success@k), which the
    alert-to-runbook benchmark uses too. Averaged over queries it is the share of
    queries with a relevant record in the top k. With one relevant record per query
    it equals the textbook recall, the share of relevant records retrieved.
    """
    _check_k(k)
    return 1.0 if any(rid in relevant for rid in ranked_ids[:k]) else 0.0


def reciprocal_rank(
    ranked_ids: Sequence[str], relevant: Collection[str], k: int = 10
) -> float:
    """Return 1/rank of the first relevant id among the first k, or 0.0 if none.

    The mean over queries is MRR@k.
    """
    _check_k(k)
    for rank, rid in enumerate(ranked_ids[:k], start=1):
        if rid in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(
    ranked_ids: Sequence[str], relevant: Collection[str], k: int = 10
) -> float:
    """Return nDCG@k with binary relevance, in [0, 1].

    DCG sums 1/log2(rank + 1) over the relevant ids among the first k. The ideal DCG
    puts min(len(relevant), k) relevant ids first. A repeated id counts once.
    """
    _check_k(k)
    if not relevant:
        return 0.0
    top = list(dict.fromkeys(ranked_ids))[:k]
    gains = np.array([1.0 if rid in relevant else 0.0 for rid in top])
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = float(np.dot(gains, discounts[: len(gains)]))
    ideal = float(discounts[: min(len(relevant), k)].sum())
    return dcg / ideal


def estimate(
    values: Sequence[float] | np.ndarray,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Estimate:
    """Return the mean of per-query values with its percentile bootstrap 95% CI.

    The queries are resampled with replacement `resamples` times from a generator
    seeded with `seed`, so the same input always gives the same interval. With
    resamples 0 the interval is left out (both ends None).
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return Estimate(None, None, None, 0)

    value = float(data.mean())
    if resamples <= 0:
        return Estimate(value, None, None, int(data.size))
    means = [
        data[rows].mean(axis=1)
        for rows in _resample_batches(data.size, resamples, seed)
    ]
    low, high = _percentiles(np.concatenate(means))
    return Estimate(value, low, high, int(data.size))


def paired_estimate(
    expected: Sequence[str],
    predicted: Sequence[str],
    statistic: Callable[[Sequence[str], Sequence[str]], float],
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Estimate:
    """Return statistic(expected, predicted) with a paired percentile bootstrap CI.

    Each resample draws queries with replacement and keeps every query's expected
    and predicted label together, as a metric such as macro-F1 needs.
    """
    if len(expected) != len(predicted):
        raise ValueError(
            f"expected has {len(expected)} labels but predicted has "
            f"{len(predicted)}; pass one prediction per query"
        )
    if not expected:
        return Estimate(None, None, None, 0)

    value = float(statistic(expected, predicted))
    if resamples <= 0:
        return Estimate(value, None, None, len(expected))
    true = np.asarray(expected, dtype=object)
    guess = np.asarray(predicted, dtype=object)
    samples = [
        statistic(list(true[row]), list(guess[row]))
        for rows in _resample_batches(len(expected), resamples, seed)
        for row in rows
    ]
    low, high = _percentiles(np.asarray(samples, dtype=float))
    return Estimate(value, low, high, len(expected))


def macro_f1(expected: Sequence[str], predicted: Sequence[str]) -> float:
    """Return the mean F1 over the labels that occur in expected.

    A prediction of a label that is never expected, or of NO_PREDICTION, lowers the
    recall of the expected label but adds no zero-F1 class of its own.
    """
    labels = sorted(set(expected))
    return float(
        f1_score(expected, predicted, labels=labels, average="macro", zero_division=0)
    )


def classification_scores(
    expected: Sequence[str],
    predicted: Sequence[str | None],
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> ClassificationScores:
    """Score predicted labels against expected ones; None means no prediction.

    Accuracy and macro-F1 come with paired bootstrap intervals, the same as
    paired_estimate gives but computed for all resamples at once. The confusion
    matrix covers every expected and predicted label in sorted order, with
    NO_PREDICTION as the last column when some prediction is None.
    """
    truths = list(expected)
    guesses = [NO_PREDICTION if p is None else p for p in predicted]
    if len(truths) != len(guesses):
        raise ValueError(
            f"expected has {len(truths)} labels but predicted has "
            f"{len(guesses)}; pass one prediction per query"
        )
    labels = sorted(set(truths) | (set(guesses) - {NO_PREDICTION}))
    if NO_PREDICTION in guesses:
        labels.append(NO_PREDICTION)
    if not truths:
        empty = Estimate(None, None, None, 0)
        return ClassificationScores(empty, empty, labels, [])

    code = {label: index for index, label in enumerate(labels)}
    true_codes = np.array([code[label] for label in truths])
    guess_codes = np.array([code[label] for label in guesses])
    # Counted here, not with sklearn's confusion_matrix, which warns when only one
    # label occurs even though the labels are given.
    matrix = np.zeros((len(labels), len(labels)), dtype=int)
    np.add.at(matrix, (true_codes, guess_codes), 1)

    accuracy = float(accuracy_score(truths, guesses))
    f1 = macro_f1(truths, guesses)
    if resamples <= 0:
        return ClassificationScores(
            Estimate(accuracy, None, None, len(truths)),
            Estimate(f1, None, None, len(truths)),
            labels,
            matrix.tolist(),
        )

    accuracies, f1s = [], []
    for rows in _resample_batches(len(truths), resamples, seed):
        true_rows, guess_rows = true_codes[rows], guess_codes[rows]
        accuracies.append((true_rows == guess_rows).mean(1))
        f1s.append(_macro_f1_rows(true_rows, guess_rows, len(code)))
    accuracy_low, accuracy_high = _percentiles(np.concatenate(accuracies))
    f1_low, f1_high = _percentiles(np.concatenate(f1s))
    return ClassificationScores(
        Estimate(accuracy, accuracy_low, accuracy_high, len(truths)),
        Estimate(f1, f1_low, f1_high, len(truths)),
        labels,
        matrix.tolist(),
    )


def coverage_accuracy_curve(
    best_scores: Sequence[float],
    top_relevant: Sequence[bool],
    thresholds: Sequence[float] = CURVE_THRESHOLDS,
) -> list[CurvePoint]:
    """Return coverage and accuracy of answering only at or above each threshold.

    Args:
        best_scores: Best match score of each query.
        top_relevant: Whether each query's top match is relevant. A query that
            expects no precedent has False, so answering it always counts as wrong.
        thresholds: Thresholds to evaluate, in increasing order.
    """
    scores = np.asarray(best_scores, dtype=float)
    correct = np.asarray(top_relevant, dtype=bool)
    if scores.shape != correct.shape:
        raise ValueError(
            f"best_scores has {scores.size} values but top_relevant has "
            f"{correct.size}; pass one of each per query"
        )

    points = []
    for threshold in thresholds:
        answered = scores >= threshold
        count = int(answered.sum())
        coverage = count / scores.size if scores.size else 0.0
        accuracy = float(correct[answered].mean()) if count else None
        points.append(CurvePoint(float(threshold), coverage, accuracy, count))
    return points


def precedent_flag(
    best_scores: Sequence[float],
    top_relevant: Sequence[bool],
    expects_precedent: Sequence[bool],
    threshold: float,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    answered: Sequence[bool] | None = None,
) -> PrecedentFlag:
    """Return how the "no close precedent" flag does at one threshold.

    Args:
        best_scores: Best match score of each query.
        top_relevant: Whether each query's top match is relevant.
        expects_precedent: False for a query whose relevant records are all absent
            from the knowledge base, so the right outcome is the flag.
        threshold: Best score a query needs to be answered rather than flagged.
        resamples: Bootstrap resamples for the intervals.
        seed: Seed of the bootstrap.
        answered: Whether each query was answered, when that was decided by more
            than its best score against threshold.
    """
    scores = np.asarray(best_scores, dtype=float)
    correct = np.asarray(top_relevant, dtype=bool)
    precedent = np.asarray(expects_precedent, dtype=bool)
    if not scores.shape == correct.shape == precedent.shape:
        raise ValueError(
            f"got {scores.size} best scores, {correct.size} top_relevant and "
            f"{precedent.size} expects_precedent values; pass one of each per query"
        )

    is_answered = (
        scores >= threshold if answered is None else np.asarray(answered, bool)
    )
    if is_answered.shape != scores.shape:
        raise ValueError(
            f"got {scores.size} best scores but {is_answered.size} answered values; "
            "pass one of each per query"
        )
    return PrecedentFlag(
        threshold=threshold,
        answered=estimate(is_answered.astype(float), resamples, seed),
        accuracy=estimate(correct[is_answered].astype(float), resamples, seed),
        flagged=estimate((~is_answered[~precedent]).astype(float), resamples, seed),
    )


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


def _macro_f1_rows(
    true_codes: np.ndarray, guess_codes: np.ndarray, label_count: int
) -> np.ndarray:
    """Return macro_f1 of each row of integer-coded labels, as macro_f1 defines it."""
    f1_sum = np.zeros(true_codes.shape[0])
    present = np.zeros(true_codes.shape[0])
    for label in range(label_count):
        is_true = true_codes == label
        is_guess = guess_codes == label
        true_positives = (is_true & is_guess).sum(axis=1)
        support = is_true.sum(axis=1)
        denominator = support + is_guess.sum(axis=1)
        # F1 = 2 TP / (2 TP + FP + FN) = 2 TP / (support + predicted count).
        f1 = np.divide(
            2 * true_positives,
            denominator,
            out=np.zeros(len(denominator)),
            where=denominator > 0,
        )
        f1_sum += np.where(support > 0, f1, 0.0)
        present += support > 0
    return f1_sum / present


def _resample_batches(size: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Yield the resampled positions, one row per resample, in batches."""
    rng = np.random.default_rng(seed)
    per_batch = max(1, MAX_BOOTSTRAP_CELLS // max(size, 1))
    for start in range(0, resamples, per_batch):
        count = min(per_batch, resamples - start)
        yield rng.integers(0, size, size=(count, size))


def _percentiles(samples: np.ndarray) -> tuple[float, float]:
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)
