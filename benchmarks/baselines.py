"""Plain baselines to compare the recommender with: TF-IDF alone and dense alone.

Both rank whole records by cosine similarity to the query and predict a label by a
similarity-weighted vote of the ten nearest records, as a team would without this
product: one TF-IDF matrix, or one MiniLM vector per record (its first 256 word
pieces, the rest cut off as the model does).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from indexer.embedding import Embedder
from indexer.record import IncidentRecord

VOTE_NEIGHBOURS = 10


def record_text(record: IncidentRecord) -> str:
    """Return a record as one text: title, alert names and every section."""
    return "\n".join(
        [record.title, " ".join(record.alert_names), *record.sections.values()]
    )


class Baseline:
    """Ranks records by cosine similarity of one vector per record."""

    name = "baseline"
    matrix: np.ndarray

    def __init__(self, records: Sequence[IncidentRecord]) -> None:
        self.records = list(records)
        self.ids = [record.id for record in self.records]

    def vectors(self, texts: list[str]) -> np.ndarray:
        """Return L2-normalised vectors for texts."""
        raise NotImplementedError

    def rank(
        self, texts: list[str], top_k: int, exclude: Sequence[Sequence[str]]
    ) -> list[list[tuple[str, float]]]:
        """Return, per query text, up to top_k (record id, cosine) pairs, best first."""
        similarities = self.vectors(texts) @ self.matrix.T
        results = []
        for row, skipped in zip(similarities, exclude, strict=True):
            order = np.argsort(-row)
            ranked = [
                (self.ids[i], float(row[i]))
                for i in order
                if self.ids[i] not in set(skipped)
            ]
            results.append(ranked[:top_k])
        return results


class TfidfBaseline(Baseline):
    """TF-IDF over the whole record text, unigrams and bigrams."""

    name = "TF-IDF"

    def __init__(self, records: Sequence[IncidentRecord]) -> None:
        super().__init__(records)
        self.vectorizer = TfidfVectorizer(
            sublinear_tf=True, ngram_range=(1, 2), stop_words="english", min_df=1
        )
        self.matrix = self.vectorizer.fit_transform(
            [record_text(r) for r in self.records]
        ).toarray()

    def vectors(self, texts: list[str]) -> np.ndarray:
        """Return TF-IDF vectors (already L2-normalised by scikit-learn)."""
        return np.asarray(self.vectorizer.transform(texts).toarray())


class DenseBaseline(Baseline):
    """One all-MiniLM-L6-v2 vector per record, cosine similarity."""

    name = "dense"

    def __init__(self, records: Sequence[IncidentRecord], embedder: Embedder) -> None:
        super().__init__(records)
        self.embedder = embedder
        self.matrix = embedder.embed([record_text(r) for r in self.records])

    def vectors(self, texts: list[str]) -> np.ndarray:
        """Return MiniLM vectors, L2-normalised."""
        return self.embedder.embed(texts)


def vote(ranked: list[tuple[str, float]], labels: dict[str, str]) -> str | None:
    """Return the label with the largest similarity-weighted vote of the neighbours."""
    weights: dict[str, float] = defaultdict(float)
    for record_id, similarity in ranked[:VOTE_NEIGHBOURS]:
        label = labels.get(record_id)
        if label:
            weights[label] += max(similarity, 0.0)
    if not weights:
        return None
    return min(weights, key=lambda label: (-weights[label], label))
