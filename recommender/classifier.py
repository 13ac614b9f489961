"""Severity and root-cause category learned from the knowledge base's own history.

Records that carry a severity or a category are training examples: their symptom
text (title, alert names and the sections an alert resembles) is turned into TF-IDF
features and a class-balanced logistic regression is fitted, with probabilities
calibrated by cross-validation. The API fits the models before it reports ready.
When the knowledge base's data version changes, they are refitted in a background
thread while predictions go on with the previous models, since a fit on hundreds
of thousands of records takes minutes.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timezone

from sklearn.calibration import CalibratedClassifierCV
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

from indexer.knowledge_base import KnowledgeBase
from indexer.record import SYMPTOM_SECTIONS, IncidentRecord

logger = logging.getLogger(__name__)

# Below this many labelled records the vote of the matches decides alone, because a
# model fitted on fewer examples of three or more classes is mostly noise.
MIN_LABELLED = 30
# A label with fewer examples than this is left out of training, so that every
# calibration fold contains every class.
MIN_PER_LABEL = 3
CALIBRATION_FOLDS = 3
# Inverse regularisation strength, chosen by grouped cross-validation inside the
# training history of the severity task (docs/EVALUATION.md, "How parameters were
# chosen").
REGULARIZATION_C = 10.0
# Past MAX_TRAINING labelled records only the most recent are used. At 100,000 the
# fit took 47 s and the serving process peaked at 1.7 GiB (docs/BENCHMARKS.md,
# "Scale: 10k to 1M records"), so larger histories cost no more than that.
MAX_TRAINING = 100_000
# Records read per query while collecting training text.
READ_BATCH = 5_000


@dataclass
class LabelModel:
    """A fitted classifier for one label, and what it was fitted on.

    Attributes:
        pipeline: TF-IDF features and the calibrated logistic regression.
        labels: Class labels in the order of predict_proba's columns.
        examples: Number of training records.
    """

    pipeline: Pipeline
    labels: list[str]
    examples: int

    def predict(self, text: str) -> dict[str, float]:
        """Return the calibrated probability of each label for a text, in [0, 1]."""
        probabilities = self.pipeline.predict_proba([text])[0]
        return {
            label: float(p) for label, p in zip(self.labels, probabilities, strict=True)
        }


def record_text(record: IncidentRecord) -> str:
    """Return the parts of a record that look like an alert: title, names, symptoms."""
    parts = [record.title, " ".join(record.alert_names)]
    parts += [
        text for name, text in record.sections.items() if name in SYMPTOM_SECTIONS
    ]
    return "\n".join(part for part in parts if part)


def fit_label_model(texts: Sequence[str], labels: Sequence[str]) -> LabelModel | None:
    """Fit a calibrated classifier, or return None when there are too few labels.

    Labels with fewer than MIN_PER_LABEL examples are dropped, and at least two
    labels and MIN_LABELLED examples must remain.
    """
    counts = Counter(labels)
    kept = [
        (text, label)
        for text, label in zip(texts, labels, strict=True)
        if counts[label] >= MIN_PER_LABEL
    ]
    if len(kept) < MIN_LABELLED or len({label for _, label in kept}) < 2:
        return None

    classifier = CalibratedClassifierCV(
        LogisticRegression(C=REGULARIZATION_C, class_weight="balanced", max_iter=3000),
        method="sigmoid",
        cv=CALIBRATION_FOLDS,
    )
    pipeline = make_pipeline(
        TfidfVectorizer(
            sublinear_tf=True, ngram_range=(1, 2), stop_words="english", min_df=1
        ),
        classifier,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipeline.fit([text for text, _ in kept], [label for _, label in kept])
    return LabelModel(
        pipeline=pipeline,
        labels=[str(label) for label in classifier.classes_],
        examples=len(kept),
    )


class HistoryClassifiers:
    """The severity and category models of one knowledge base.

    The first prediction (or warm()) fits them under a lock, so concurrent
    requests fit once and wait for that fit. A later prediction that finds the
    data version changed starts one refit in the background and predicts with the
    models it has.
    """

    def __init__(self, knowledge_base: KnowledgeBase) -> None:
        self.knowledge_base = knowledge_base
        self._lock = threading.Lock()
        self._version: int | None = None
        self._models: dict[str, LabelModel | None] = {}
        self.refit_thread: threading.Thread | None = None

    def warm(self) -> None:
        """Fit the models now, so that the first recommendation does not wait."""
        self._model("severity")

    def predict_severity(self, text: str) -> dict[str, float] | None:
        """Return severity ("SEV1" to "SEV4") probabilities, or None without a model."""
        model = self._model("severity")
        return model.predict(text) if model else None

    def predict_category(self, text: str) -> dict[str, float] | None:
        """Return lower-case category probabilities, or None without a model."""
        model = self._model("category")
        return model.predict(text) if model else None

    def _model(self, name: str) -> LabelModel | None:
        version = self.knowledge_base.database.data_version()
        with self._lock:
            if self._version is None:
                self._models = self._fit_all()
                self._version = version
            elif version != self._version and not self._refitting():
                self.refit_thread = threading.Thread(
                    target=self._refit, args=(version,), name="classifier-refit"
                )
                self.refit_thread.daemon = True
                self.refit_thread.start()
            return self._models.get(name)

    def _refitting(self) -> bool:
        return self.refit_thread is not None and self.refit_thread.is_alive()

    def _refit(self, version: int) -> None:
        try:
            models = self._fit_all()
        except Exception:
            # The previous models stay; the next prediction tries again.
            logger.exception("refitting the history classifiers failed")
            return
        with self._lock:
            self._models = models
            self._version = version

    def _fit_all(self) -> dict[str, LabelModel | None]:
        started = time.perf_counter()
        examples = self._labelled_examples()
        models: dict[str, LabelModel | None] = {}
        for name, column in (("severity", 1), ("category", 2)):
            texts = [example[0] for example in examples if example[column]]
            labels = [str(example[column]) for example in examples if example[column]]
            models[name] = fit_label_model(texts, labels)
            if models[name] is None:
                logger.info(
                    "no %s model: %d labelled records, at least %d needed in two or "
                    "more labels; the matches' vote decides alone",
                    name,
                    len(labels),
                    MIN_LABELLED,
                )
        logger.info(
            "fitted history classifiers on %d labelled records in %.1f s "
            "(severity: %s, category: %s)",
            len(examples),
            time.perf_counter() - started,
            _describe(models["severity"]),
            _describe(models["category"]),
        )
        return models

    def _labelled_examples(self) -> list[tuple[str, str | None, str | None]]:
        """Return (text, severity, category) of the latest labelled records.

        Records are read READ_BATCH at a time and only their training text is
        kept, so a knowledge base of a million records is never in memory whole.
        """
        ids = list(self.knowledge_base.database.record_hashes())
        labelled: list[tuple[float, str, str | None, str | None]] = []
        for first in range(0, len(ids), READ_BATCH):
            batch = self.knowledge_base.get_many(ids[first : first + READ_BATCH])
            for record in batch.values():
                severity = record.severity.value if record.severity else None
                category = record.labels.get("category", "").strip().lower() or None
                if severity or category:
                    started = _start_order(record)
                    labelled.append((started, record_text(record), severity, category))
            if len(labelled) > 2 * MAX_TRAINING:
                labelled = _latest(labelled)
        return [(text, sev, cat) for _, text, sev, cat in _latest(labelled)]


def _start_order(record: IncidentRecord) -> float:
    """Return the start as a POSIX timestamp, undated records first.

    Exports mix times with and without a zone, which Python cannot compare, so a
    time without one is taken as UTC.
    """
    started = record.started_at
    if started is None:
        return float("-inf")
    if started.tzinfo is None:
        started = started.replace(tzinfo=timezone.utc)
    return started.timestamp()


def _latest(
    examples: list[tuple[float, str, str | None, str | None]],
) -> list[tuple[float, str, str | None, str | None]]:
    """Keep the MAX_TRAINING examples that started last, undated ones first out."""
    if len(examples) <= MAX_TRAINING:
        return examples
    examples.sort(key=lambda example: example[0])
    return examples[-MAX_TRAINING:]


def _describe(model: LabelModel | None) -> str:
    if model is None:
        return "none"
    return f"{model.examples} examples, labels {', '.join(model.labels)}"
