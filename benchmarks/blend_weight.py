"""Choose the weight of the history model against the matches' vote, on history only.

The severity and category of a recommendation blend the history model's
probabilities with a score-weighted vote of the matches (MODEL_WEIGHT in
recommender/suggestions.py). This script cross-validates that weight inside the
history side of the severity and category tasks, with the product itself. Each
fold builds a knowledge base from its training records. Each held-out record is
sent as a query in the form of the task's queries. A recommendation reports
both the vote and the model's probabilities, so every weight is scored from the
same recommendations. The test queries of the tasks are never read.

Severity folds are grouped by service (5 folds). Category folds are expanding
windows in time: the oldest fifths are history and the next fifth is held out.

Usage: python -m benchmarks.blend_weight [--data ../shared/data]
       [--embedding-cache FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import GroupKFold

from benchmarks import tasks
from benchmarks.embedding_cache import CachedEmbedder
from indexer.embedding import Embedder
from indexer.knowledge_base import KnowledgeBase
from indexer.record import IncidentRecord
from indexer.settings import IndexerSettings
from recommender.alerts import alert_from_text
from recommender.recommendation import Recommender

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
SEVERITY_FOLDS = 5
CATEGORY_WINDOWS = 5
SEVERITY_RANK = {"SEV1": 1, "SEV2": 2, "SEV3": 3, "SEV4": 4}

VOTERS = (None, 3, 5, 10)
TOP_K = 10


@dataclass(frozen=True)
class Outcome:
    """The labels that one held-out record gets.

    Attributes:
        expected: Its own label.
        votes: The recommendation's vote per label.
        model: The history model's probability per label.
        nearest: The label and score of each of the top TOP_K matches.
    """

    expected: str
    votes: dict[str, float]
    model: dict[str, float]
    nearest: list[tuple[str, float]]


def severity_outcomes(
    records: Sequence[IncidentRecord], embedder: Embedder
) -> list[Outcome]:
    """Return the outcome of each history rule, held out by service."""
    labelled = [r for r in records if r.severity is not None]
    services = [r.labels.get("service", "") for r in labelled]
    outcomes: list[Outcome] = []
    for train, held_out in GroupKFold(n_splits=SEVERITY_FOLDS).split(
        labelled, groups=services
    ):
        training = [labelled[i] for i in train]

        def query(record: IncidentRecord) -> str:
            return f"{record.title}. {record.sections.get('meaning', '')}".strip()

        def answer(recommender: Recommender, record: IncidentRecord) -> Outcome:
            result = recommender.recommend(alert_from_text(query(record)), TOP_K)
            assert record.severity is not None
            nearest = [
                (match.record.severity.value, match.score)
                for match in result.matches
                if match.record.severity is not None
            ]
            severity = result.severity
            return Outcome(
                record.severity.value, severity.votes, severity.model, nearest
            )

        outcomes += _fold(training, [labelled[i] for i in held_out], embedder, answer)
    return outcomes


def category_outcomes(
    records: Sequence[IncidentRecord], embedder: Embedder
) -> list[Outcome]:
    """Return the outcome of each history incident, held out by later windows."""
    dated = sorted(
        (r for r in records if r.started_at and r.labels.get("category")),
        key=lambda r: (r.started_at, r.id),
    )
    step = len(dated) // CATEGORY_WINDOWS
    outcomes: list[Outcome] = []
    for window in range(1, CATEGORY_WINDOWS):
        training = dated[: window * step]
        held_out = dated[window * step : (window + 1) * step]

        def answer(recommender: Recommender, record: IncidentRecord) -> Outcome:
            text = f"{record.title}. {record.sections.get('summary', '')}".strip()
            result = recommender.recommend(alert_from_text(text), TOP_K)
            nearest = [
                (match.record.labels["category"].lower(), match.score)
                for match in result.matches
                if match.record.labels.get("category")
            ]
            category = result.category
            return Outcome(
                record.labels["category"].lower(),
                category.votes,
                category.model,
                nearest,
            )

        outcomes += _fold(training, held_out, embedder, answer)
    return outcomes


def _fold(
    training: list[IncidentRecord],
    held_out: list[IncidentRecord],
    embedder: Embedder,
    answer: Callable[[Recommender, IncidentRecord], Outcome],
) -> list[Outcome]:
    with tempfile.TemporaryDirectory() as folder:
        kb = KnowledgeBase(IndexerSettings(home=Path(folder) / "kb"), embedder=embedder)
        kb.build(training)
        recommender = Recommender(kb)
        logger.info("fold: %d training, %d held out", len(training), len(held_out))
        return [answer(recommender, record) for record in held_out]


def blended(
    outcome: Outcome, weight: float, voters: int | None, severity: bool
) -> str | None:
    """Return the label chosen with this model weight and these voters.

    voters None is the product's own vote (its precedents, else its five nearest);
    a number is a score-weighted vote of that many nearest matches.
    """
    model = outcome.model
    if voters is None:
        votes = outcome.votes
    else:
        votes = {}
        for label, score in outcome.nearest[:voters]:
            votes[label] = votes.get(label, 0.0) + score
    shares = _shares(votes)
    if model and shares:
        scores = {
            label: weight * model.get(label, 0.0)
            + (1 - weight) * shares.get(label, 0.0)
            for label in set(model) | set(shares)
        }
    else:
        # With one side only, that side decides alone, as in blend_scores().
        scores = dict(model) or shares
    if not scores:
        return None
    if severity:
        # Ties go to the more severe level, as in suggest_severity().
        return min(scores, key=lambda s: (-scores[s], SEVERITY_RANK.get(s, 9)))
    return min(scores, key=lambda c: (-scores[c], c))


def _shares(votes: dict[str, float]) -> dict[str, float]:
    total = sum(votes.values())
    return {label: v / total for label, v in votes.items()} if total else {}


def table(outcomes: list[Outcome], severity: bool) -> list[dict[str, object]]:
    """Return accuracy and macro-F1 for each weight and each choice of voters."""
    expected = [o.expected for o in outcomes]
    labels = sorted(set(expected))
    rows: list[dict[str, object]] = []
    for voters in VOTERS:
        for weight in WEIGHTS:
            predicted = [
                blended(o, weight, voters, severity) or "none" for o in outcomes
            ]
            rows.append(
                {
                    "voters": voters or "product",
                    "model_weight": weight,
                    "accuracy": round(accuracy_score(expected, predicted), 3),
                    "macro_f1": round(
                        f1_score(
                            expected,
                            predicted,
                            labels=labels,
                            average="macro",
                            zero_division=0,
                        ),
                        3,
                    ),
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--embedding-cache", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    embedder = (
        CachedEmbedder(args.embedding_cache) if args.embedding_cache else Embedder()
    )
    severity = severity_outcomes(tasks.alert_severity(args.data).records, embedder)
    category = category_outcomes(tasks.root_cause_category(args.data).records, embedder)
    if isinstance(embedder, CachedEmbedder):
        embedder.save()
    result = {
        "severity": {"queries": len(severity), "weights": table(severity, True)},
        "category": {"queries": len(category), "weights": table(category, False)},
    }
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
