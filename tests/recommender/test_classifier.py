"""The severity and category models fitted on a knowledge base's labelled history."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from indexer.knowledge_base import KnowledgeBase
from indexer.record import IncidentRecord, Kind
from indexer.settings import IndexerSettings
from recommender import classifier
from recommender.alerts import Alert
from recommender.classifier import (
    MIN_LABELLED,
    HistoryClassifiers,
    fit_label_model,
)
from recommender.recommendation import Recommender
from recommender.suggestions import MODEL_EVIDENCE, MODEL_WEIGHT, blend_scores

# Three kinds of alert with distinct words, each with its own severity and category.
KINDS = {
    "SEV1": ("outage", "checkout service down, every request fails with 503 errors"),
    "SEV2": ("capacity", "disk almost full on database volume, writes slowing"),
    "SEV3": ("config", "certificate renewal job warning, expiry in thirty days"),
}


def _texts(per_kind: int) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for severity, (_, text) in KINDS.items():
        for number in range(per_kind):
            texts.append(f"{text} host{number} region{number % 3}")
            labels.append(severity)
    return texts, labels


def _records(per_kind: int, prefix: str = "r") -> list[IncidentRecord]:
    records = []
    for severity, (category, text) in KINDS.items():
        for number in range(per_kind):
            records.append(
                IncidentRecord(
                    id=f"{prefix}-{severity}-{number}",
                    kind=Kind.INCIDENT,
                    title=f"{text} host{number}",
                    sections={"summary": f"{text} in region{number % 3}"},
                    labels={"category": category, "service": f"svc{number}"},
                    severity_raw=severity,
                )
            )
    return records


def test_fit_label_model_too_few_labels():
    texts, labels = _texts(per_kind=MIN_LABELLED // 3 - 1)
    assert fit_label_model(texts, labels) is None


def test_fit_label_model_one_label_only():
    texts = [f"disk full host{n}" for n in range(MIN_LABELLED + 5)]
    assert fit_label_model(texts, ["SEV2"] * len(texts)) is None


def test_fit_label_model_predicts_by_words():
    texts, labels = _texts(per_kind=12)
    model = fit_label_model(texts, labels)
    assert model is not None
    assert model.labels == ["SEV1", "SEV2", "SEV3"]
    assert model.examples == 36

    probabilities = model.predict("payments service down, requests fail with 503")
    assert max(probabilities, key=lambda label: probabilities[label]) == "SEV1"
    assert probabilities["SEV1"] > 0.5
    assert sum(probabilities.values()) == pytest.approx(1.0)


def test_fit_label_model_drops_rare_label():
    texts, labels = _texts(per_kind=12)
    texts += ["tape library robot jammed", "tape library robot offline"]
    labels += ["SEV4", "SEV4"]
    model = fit_label_model(texts, labels)
    assert model is not None
    assert "SEV4" not in model.labels


def test_blend_scores_weights_model_and_votes():
    scores = blend_scores({"SEV1": 1.0}, {"SEV2": 3.0, "SEV1": 1.0})
    assert scores["SEV1"] == pytest.approx(MODEL_WEIGHT + (1 - MODEL_WEIGHT) * 0.25)
    assert scores["SEV2"] == pytest.approx((1 - MODEL_WEIGHT) * 0.75)


def test_blend_scores_one_side_missing():
    assert blend_scores(None, {"a": 1.0, "b": 3.0}) == {"a": 0.25, "b": 0.75}
    assert blend_scores({"a": 0.4, "b": 0.6}, {}) == {"a": 0.4, "b": 0.6}
    assert blend_scores(None, {}) == {}


@pytest.fixture(scope="module")
def labelled_kb(tmp_path_factory, embedder):
    kb = KnowledgeBase(
        IndexerSettings(home=tmp_path_factory.mktemp("labelled")), embedder=embedder
    )
    kb.build(_records(per_kind=12))
    return kb


def test_history_classifiers_refit_on_new_data(labelled_kb):
    classifiers = HistoryClassifiers(labelled_kb)
    severity = classifiers.predict_severity("disk almost full on the database volume")
    category = classifiers.predict_category("disk almost full on the database volume")
    assert severity is not None
    assert max(severity, key=lambda label: severity[label]) == "SEV2"
    assert category is not None
    assert max(category, key=lambda label: category[label]) == "capacity"
    fitted = classifiers._models["severity"]
    assert fitted is not None
    assert fitted.examples == 36

    labelled_kb.add(_records(per_kind=2, prefix="new"))
    # The models of the old data still predict while the refit runs.
    assert classifiers.predict_severity("disk almost full") is not None
    assert classifiers.refit_thread is not None
    classifiers.refit_thread.join(timeout=300)
    refitted = classifiers._models["severity"]
    assert refitted is not None
    assert refitted.examples == 42


def test_recommendation_severity_from_model(labelled_kb):
    alert = Alert(fingerprint="f", title="orders service down, requests fail with 503")
    recommendation = Recommender(labelled_kb).recommend(alert)
    assert recommendation.severity.value is not None
    assert recommendation.severity.value.value == "SEV1"
    assert recommendation.severity.model["SEV1"] > 0.5
    assert MODEL_EVIDENCE in recommendation.severity.evidence
    assert recommendation.category.value == "outage"
    assert 0.0 <= recommendation.category.confidence <= 1.0


def test_alert_label_keeps_model_out(labelled_kb):
    alert = Alert(
        fingerprint="f",
        title="orders service down, requests fail with 503",
        labels={"severity": "warning"},
    )
    severity = Recommender(labelled_kb).recommend(alert).severity
    assert severity.model == {}
    assert MODEL_EVIDENCE not in severity.evidence
    assert severity.votes["SEV3"] >= 1.0


def _disk_full(
    record_id: str,
    title: str,
    year: int = 2026,
    day: int = 1,
    zone: timezone | None = timezone.utc,
) -> IncidentRecord:
    return IncidentRecord(
        id=record_id,
        kind=Kind.INCIDENT,
        title=title,
        severity_raw="SEV2",
        started_at=datetime(year, 1, day, tzinfo=zone),
    )


def test_training_keeps_the_latest_labelled_records(tmp_path, embedder, monkeypatch):
    """Past MAX_TRAINING, the most recent records train, read a batch at a time."""
    monkeypatch.setattr(classifier, "MAX_TRAINING", 10)
    monkeypatch.setattr(classifier, "READ_BATCH", 4)
    records = [
        _disk_full(f"dated-{day:02d}", f"disk full on day {day}", day=day)
        for day in range(1, 26)
    ]
    # Exports mix times with and without a zone; one without counts as UTC.
    records += [
        _disk_full("naive-late", "disk full on day 30", day=30, zone=None),
        _disk_full("naive-early", "disk full long ago", year=2025, zone=None),
    ]
    records += [
        IncidentRecord(
            id=f"undated-{n}", kind=Kind.INCIDENT, title="undated", severity_raw="SEV3"
        )
        for n in range(3)
    ]
    records += [
        IncidentRecord(id=f"unlabelled-{n}", kind=Kind.RUNBOOK, title="no labels")
        for n in range(2)
    ]
    kb = KnowledgeBase(IndexerSettings(home=tmp_path), embedder=embedder)
    kb.build(records)

    examples = HistoryClassifiers(kb)._labelled_examples()

    expected = [f"disk full on day {day}" for day in (*range(17, 26), 30)]
    assert sorted(text for text, _, _ in examples) == sorted(expected)
    assert {severity for _, severity, _ in examples} == {"SEV2"}
