import json

import pytest

from recommender.alerts import Alert, alert_from_text, parse_alertmanager, parse_plain
from recommender.recommendation import Recommender
from recommender.retrieval import Retriever
from recommender.severity_policy import SeverityConfig, SeverityScale
from tests.conftest import SAMPLE_DATA

ALERTS = SAMPLE_DATA / "alerts"


@pytest.fixture(scope="module")
def recommender(sample_kb):
    return Recommender(sample_kb)


def _load(name):
    return json.loads((ALERTS / name).read_text())


def test_disk_full_alert_matches_disk_full_history(recommender):
    alerts = [
        a
        for a in parse_alertmanager(_load("alertmanager-disk-full.json"))
        if isinstance(a, Alert)
    ]
    recommendation = recommender.recommend(alerts[0], top_k=5)
    assert not recommendation.no_close_precedent
    top = recommendation.matches[0]
    assert top.record.labels.get("category") == "disk full" or (
        "NodeFilesystemSpaceFillingUp" in top.record.alert_names
    )
    assert top.score >= recommender.threshold
    assert recommendation.root_causes
    assert recommendation.fixes
    assert recommendation.severity.value is not None
    evidence = {rid for s in recommendation.root_causes for rid in s.evidence}
    assert evidence <= {m.record.id for m in recommendation.matches} | evidence


def test_certificate_alert_suggests_certificate_causes(recommender):
    alert = parse_plain(_load("alert-cert-expiry.json"))
    recommendation = recommender.recommend(alert, top_k=5)
    assert not recommendation.no_close_precedent
    categories = [m.record.labels.get("category") for m in recommendation.matches[:3]]
    assert "certificate expiry" in categories
    assert any(s.category == "certificate expiry" for s in recommendation.root_causes)
    for suggestion in recommendation.root_causes + recommendation.fixes:
        assert 0.0 <= suggestion.confidence <= 1.0
        assert suggestion.evidence


def test_novel_alert_has_no_close_precedent(recommender):
    alert = parse_plain(_load("alert-novel.json"))
    recommendation = recommender.recommend(alert, top_k=5)
    assert recommendation.no_close_precedent
    assert recommendation.root_causes == []
    assert all(fix.low_confidence for fix in recommendation.fixes)
    assert all(fix.confidence < 1.0 for fix in recommendation.fixes)
    assert "No close precedent" in recommendation.message
    assert all(m.score < recommender.threshold for m in recommendation.matches)


def test_matches_explain_why(recommender):
    alert = Alert(
        fingerprint="f",
        alertname="PostgresReplicationLagHigh",
        title="Replica is far behind the primary",
        labels={"service": "orders-db"},
    )
    [top, *_] = recommender.recommend(alert).matches
    assert top.shared_labels.get("alertname") == "PostgresReplicationLagHigh"
    assert top.sections
    assert top.terms
    assert 0.0 <= top.score <= 1.0
    assert -1.0 <= top.dense <= 1.0
    assert 0.0 <= top.keyword <= 1.0


def test_severity_uses_alert_label_when_no_precedent(recommender):
    alert = Alert(
        fingerprint="f",
        title="Quantum flux capacitor desynchronised",
        labels={"severity": "critical"},
    )
    recommendation = recommender.recommend(alert)
    assert recommendation.no_close_precedent
    assert recommendation.severity.value.value == "SEV1"
    assert "alert label" in recommendation.severity.evidence
    assert recommendation.severity.confidence < 0.5


def test_unrelated_matches_do_not_outvote_the_alert_label(recommender):
    # The nearest sample records of a CPU alert are about other things and
    # mostly SEV3, and the alert's own label is critical.
    alert = Alert(
        fingerprint="f",
        alertname="HighCPUUsage",
        title="High CPU usage",
        labels={"severity": "critical", "service": "search-indexer"},
    )
    recommendation = recommender.recommend(alert)
    assert recommendation.no_close_precedent
    assert recommendation.severity.value.value == "SEV1"
    assert recommendation.severity.evidence == ["alert label"]
    assert recommendation.severity.votes == {"SEV1": 1.0}


def test_more_matches_than_records_never_pads(recommender, sample_kb):
    total = sample_kb.stats().records
    matches = Retriever(sample_kb).search(
        alert_from_text("disk full"), top_k=total + 50
    )
    ids = [m.record.id for m in matches]
    assert len(ids) == len(set(ids))
    assert len(ids) <= total
    assert all(m.record.id for m in matches)


def test_exclude_never_returns_excluded_record(sample_kb):
    retriever = Retriever(sample_kb)
    first = retriever.search(alert_from_text("certificate has expired"), top_k=3)
    excluded = first[0].record.id
    again = retriever.search(
        alert_from_text("certificate has expired"), top_k=3, exclude=(excluded,)
    )
    assert excluded not in [m.record.id for m in again]


def test_volatile_tokens_do_not_change_the_ranking(sample_kb):
    retriever = Retriever(sample_kb)
    first = retriever.search(
        alert_from_text(
            "Pod checkout-api-7d9f8b6c5-x2k4p OOMKilled on 10.0.3.17 "
            "at 2024-01-01T00:00:00Z"
        ),
        5,
    )
    second = retriever.search(
        alert_from_text(
            "Pod checkout-api-5c4b3a291-q8w7e OOMKilled on 10.9.8.7 "
            "at 2026-12-04T03:14:15Z"
        ),
        5,
    )
    assert [m.record.id for m in first] == [m.record.id for m in second]
    assert [m.score for m in first] == [m.score for m in second]


def test_category_is_voted_from_matches(recommender):
    alert = parse_plain(_load("alert-cert-expiry.json"))
    category = recommender.recommend(alert).category
    assert category.value == "certificate expiry"
    assert 0.0 < category.confidence <= 1.0
    assert category.evidence
    assert max(category.votes, key=category.votes.get) == "certificate expiry"


def test_fixes_carry_a_fix_type(recommender):
    alerts = parse_alertmanager(_load("alertmanager-disk-full.json"))
    fixes = recommender.recommend(alerts[0]).fixes
    assert any(fix.fix_type == "capacity" for fix in fixes)


def test_unknown_severity_label_leaves_model_on(recommender):
    # A label that maps to no level counts as no label: the history model still
    # speaks, as it does for an alert without one.
    text = {"title": "Filesystem on orders-db will be full in 4 hours"}
    without = recommender.recommend(parse_plain(text), top_k=5)
    unknown = recommender.recommend(
        parse_plain({**text, "severity": "banana"}), top_k=5
    )

    assert without.severity.model
    assert unknown.severity.model == without.severity.model
    assert unknown.severity.value == without.severity.value
    assert unknown.severity.alert_label is None


def test_configured_alias_counts_as_label(recommender, monkeypatch):
    text = {"title": "Filesystem on orders-db will be full in 4 hours"}
    urgent = parse_plain({**text, "severity": "urgent"})
    without_alias = recommender.recommend(urgent, top_k=5).severity

    scale = SeverityScale(SeverityConfig(aliases={"urgent": "SEV1"}))
    monkeypatch.setattr(recommender, "severity_scale", scale)
    with_alias = recommender.recommend(urgent, top_k=5).severity

    assert with_alias.alert_label == "SEV1"
    assert with_alias.model == {}
    assert "SEV1" in with_alias.votes
    assert without_alias.alert_label is None
    assert without_alias.model
