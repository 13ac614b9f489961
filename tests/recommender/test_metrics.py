import math

import pytest
from sklearn.metrics import f1_score

from recommender.metrics import (
    NO_PREDICTION,
    classification_scores,
    coverage_accuracy_curve,
    estimate,
    macro_f1,
    ndcg_at_k,
    paired_estimate,
    precedent_flag,
    recall_at_k,
    reciprocal_rank,
)

RANKED = ["a", "b", "c"]


def test_ranking_metrics_second_of_three():
    relevant = {"b"}
    assert recall_at_k(RANKED, relevant, 1) == 0.0
    assert recall_at_k(RANKED, relevant, 5) == 1.0
    assert reciprocal_rank(RANKED, relevant, 10) == 0.5
    assert ndcg_at_k(RANKED, relevant, 10) == pytest.approx(1 / math.log2(3))


def test_ranking_metrics_relevant_first():
    assert recall_at_k(RANKED, {"a"}, 1) == 1.0
    assert reciprocal_rank(RANKED, {"a"}) == 1.0
    assert ndcg_at_k(RANKED, {"a"}) == pytest.approx(1.0)


def test_ranking_metrics_relevant_missing():
    assert recall_at_k(RANKED, {"z"}, 5) == 0.0
    assert reciprocal_rank(RANKED, {"z"}) == 0.0
    assert ndcg_at_k(RANKED, {"z"}) == 0.0
    assert ndcg_at_k(RANKED, set()) == 0.0


def test_ranking_metrics_respect_cutoff():
    assert recall_at_k(RANKED, {"c"}, 2) == 0.0
    assert reciprocal_rank(RANKED, {"c"}, k=2) == 0.0
    assert ndcg_at_k(RANKED, {"c"}, k=2) == 0.0


def test_ndcg_two_relevant_hand_computed():
    # Relevant at ranks 1 and 3, three relevant in all: the ideal puts all three
    # first, so IDCG = 1 + 1/log2(3) + 1/log2(4).
    dcg = 1 + 1 / math.log2(4)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(RANKED, {"a", "c", "x"}, 10) == pytest.approx(dcg / ideal)


def test_ndcg_counts_repeated_id_once():
    assert ndcg_at_k(["b", "b", "a"], {"b"}, 10) == pytest.approx(1.0)
    assert ndcg_at_k(["b", "b", "a"], {"a", "b"}, 10) == pytest.approx(1.0)


@pytest.mark.parametrize("metric", [recall_at_k, reciprocal_rank, ndcg_at_k])
def test_ranking_metrics_reject_k_zero(metric):
    with pytest.raises(ValueError, match="k must be at least 1, got 0"):
        metric(RANKED, {"a"}, 0)


def test_macro_f1_hand_example():
    # Label a: precision 1, recall 1/2, F1 2/3. Label b: precision 2/3, recall 1,
    # F1 4/5. The mean is 11/15.
    expected = ["a", "a", "b", "b"]
    predicted = ["a", "b", "b", "b"]
    assert macro_f1(expected, predicted) == pytest.approx(11 / 15)


def test_macro_f1_averages_expected_labels_only():
    # "c" is never expected, so it adds no zero-F1 class: a scores 2/3 as above
    # and b scores 1.
    assert macro_f1(["a", "a", "b"], ["a", "c", "b"]) == pytest.approx((2 / 3 + 1) / 2)


def test_classification_scores_hand_example():
    scores = classification_scores(
        ["SEV1", "SEV1", "SEV2", "SEV3"], ["SEV1", "SEV2", "SEV2", None]
    )
    assert scores.accuracy.value == pytest.approx(0.5)
    assert scores.accuracy.n == 4
    # SEV1: F1 2/3; SEV2: precision 1/2, recall 1, F1 2/3; SEV3: F1 0.
    assert scores.macro_f1.value == pytest.approx(4 / 9)
    assert scores.labels == ["SEV1", "SEV2", "SEV3", NO_PREDICTION]
    assert scores.confusion_matrix == [
        [1, 1, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 0, 1],
        [0, 0, 0, 0],
    ]


def test_classification_scores_empty():
    scores = classification_scores([], [])
    assert scores.accuracy.value is None
    assert scores.accuracy.n == 0
    assert scores.macro_f1.value is None
    assert scores.confusion_matrix == []


def test_classification_scores_rejects_length_mismatch():
    with pytest.raises(ValueError, match="expected has 2 labels but predicted has 1"):
        classification_scores(["a", "b"], ["a"])


def test_classification_intervals_match_generic_paired_bootstrap():
    expected = ["a", "b", "c", "a", "b", "c", "a", "a", "b", "c", "c", "b"]
    predicted = ["a", "b", "a", "a", "c", "c", "b", "a", "b", None, "c", "a"]
    scores = classification_scores(expected, predicted, resamples=300, seed=7)

    guesses = [NO_PREDICTION if p is None else p for p in predicted]
    generic = paired_estimate(expected, guesses, macro_f1, resamples=300, seed=7)
    assert scores.macro_f1.ci_low == pytest.approx(generic.ci_low)
    assert scores.macro_f1.ci_high == pytest.approx(generic.ci_high)
    sklearn_value = f1_score(
        expected, guesses, labels=["a", "b", "c"], average="macro", zero_division=0
    )
    assert scores.macro_f1.value == pytest.approx(sklearn_value)


def test_estimate_interval_contains_mean():
    values = [1.0, 0.0, 1.0, 1.0, 0.5, 0.0, 1.0, 0.25]
    result = estimate(values, resamples=1000, seed=3)
    assert result.value == pytest.approx(sum(values) / len(values))
    assert result.ci_low <= result.value <= result.ci_high
    assert 0.0 <= result.ci_low < result.ci_high <= 1.0
    assert result.n == len(values)


def test_estimate_is_deterministic_for_seed():
    values = [1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0]
    first = estimate(values, seed=11)
    again = estimate(values, seed=11)
    assert first.ci_low == again.ci_low
    assert first.ci_high == again.ci_high


def test_estimate_empty_and_without_resamples():
    empty = estimate([])
    assert empty.value is None
    assert empty.ci_low is None
    assert empty.n == 0
    plain = estimate([1.0, 0.0], resamples=0)
    assert plain.value == 0.5
    assert plain.ci_low is None
    assert plain.ci_high is None


def test_estimate_constant_values_have_point_interval():
    result = estimate([1.0] * 5)
    assert (result.ci_low, result.ci_high) == (1.0, 1.0)


def test_paired_estimate_contains_accuracy():
    expected = ["x", "y", "x", "y", "x", "y", "x", "x"]
    predicted = ["x", "y", "y", "y", "x", "x", "x", "x"]

    def accuracy(true, guess):
        return sum(t == g for t, g in zip(true, guess, strict=True)) / len(true)

    result = paired_estimate(expected, predicted, accuracy, resamples=500, seed=1)
    assert result.value == pytest.approx(0.75)
    assert result.ci_low <= 0.75 <= result.ci_high


def test_coverage_curve_hand_example():
    curve = coverage_accuracy_curve(
        [0.9, 0.6, 0.3, 0.5], [True, False, False, True], thresholds=[0.0, 0.5, 0.95]
    )
    assert [p.coverage for p in curve] == [1.0, 0.75, 0.0]
    assert curve[0].accuracy == pytest.approx(0.5)
    # At 0.5 the queries scoring 0.9, 0.6 and 0.5 are answered; two are right.
    assert curve[1].accuracy == pytest.approx(2 / 3)
    assert curve[1].answered == 3
    assert curve[2].accuracy is None
    assert curve[2].answered == 0


def test_coverage_curve_is_monotonic():
    scores = [0.12, 0.33, 0.41, 0.42, 0.57, 0.58, 0.66, 0.71, 0.8, 0.95]
    relevant = [False, False, True, False, True, True, False, True, True, True]
    curve = coverage_accuracy_curve(scores, relevant)
    coverages = [point.coverage for point in curve]
    assert coverages == sorted(coverages, reverse=True)
    assert curve[0].threshold == 0.0
    assert curve[-1].threshold == 1.0
    assert len(curve) == 101


def test_coverage_curve_rejects_length_mismatch():
    with pytest.raises(ValueError, match="best_scores has 2 values"):
        coverage_accuracy_curve([0.1, 0.2], [True])


def test_precedent_flag_hand_example():
    flag = precedent_flag(
        best_scores=[0.8, 0.5, 0.3, 0.2, 0.45],
        top_relevant=[True, False, True, False, False],
        expects_precedent=[True, True, True, False, False],
        threshold=0.42,
        resamples=0,
    )
    assert flag.answered.value == pytest.approx(3 / 5)
    assert flag.answered.n == 5
    assert flag.accuracy.value == pytest.approx(1 / 3)
    assert flag.accuracy.n == 3
    # Of the two queries without a precedent, 0.2 is flagged and 0.45 is not.
    assert flag.flagged.value == pytest.approx(0.5)
    assert flag.flagged.n == 2


def test_precedent_flag_without_no_precedent_queries():
    flag = precedent_flag([0.8], [True], [True], threshold=0.42)
    assert flag.flagged.value is None
    assert flag.flagged.n == 0


def test_batched_bootstrap_matches_one_batch(monkeypatch):
    values = [1.0, 0.0, 1.0, 1.0, 0.5, 0.0, 1.0, 0.25] * 25
    expected = ["a", "b", "c", "a"] * 50
    predicted = ["a", "b", "a", "c"] * 50
    whole = estimate(values, resamples=2000, seed=5)
    whole_scores = classification_scores(expected, predicted, resamples=2000, seed=5)

    # 1,000 cells of 200 queries: 5 resamples per batch, 400 batches.
    monkeypatch.setattr("recommender.metrics.MAX_BOOTSTRAP_CELLS", 1_000)
    batched = estimate(values, resamples=2000, seed=5)
    batched_scores = classification_scores(expected, predicted, resamples=2000, seed=5)

    assert batched.value == whole.value
    assert batched.ci_low == pytest.approx(whole.ci_low, abs=0.02)
    assert batched.ci_high == pytest.approx(whole.ci_high, abs=0.02)
    assert batched_scores.macro_f1.ci_low == pytest.approx(
        whole_scores.macro_f1.ci_low, abs=0.03
    )
    assert batched_scores.accuracy.ci_high == pytest.approx(
        whole_scores.accuracy.ci_high, abs=0.03
    )
