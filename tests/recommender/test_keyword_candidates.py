"""Keyword candidates come from rare terms only, so their cost stays bounded."""

import pytest

from indexer.database import tokenize
from indexer.errors import ConfigurationError
from indexer.knowledge_base import KnowledgeBase
from indexer.record import IncidentRecord, Kind
from indexer.settings import IndexerSettings
from recommender import retrieval
from recommender.alerts import alert_from_text
from recommender.retrieval import Retriever


def _incident(number: int, summary: str) -> IncidentRecord:
    return IncidentRecord(
        id=f"INC-{number}",
        kind=Kind.INCIDENT,
        title=f"Latency on checkout shard {number}",
        sections={"summary": summary},
    )


@pytest.fixture(scope="module")
def knowledge_base(tmp_path_factory, embedder):
    records = [
        _incident(n, f"checkout latency high on shard {n}, requests slow")
        for n in range(6)
    ]
    records.append(_incident(6, "checkout latency high, error code ZX81Q in logs"))
    knowledge_base = KnowledgeBase(
        IndexerSettings(home=tmp_path_factory.mktemp("keyword-kb")), embedder=embedder
    )
    knowledge_base.build(records)
    return knowledge_base


@pytest.fixture
def searched(knowledge_base, monkeypatch) -> list[list[str]]:
    """Record the terms of every keyword search, which still runs for real."""
    calls: list[list[str]] = []
    original = knowledge_base.database.keyword_search

    def spy(terms, limit):
        calls.append(list(terms))
        return original(terms, limit)

    monkeypatch.setattr(knowledge_base.database, "keyword_search", spy)
    return calls


def test_rare_terms_select_candidates(knowledge_base, searched, monkeypatch):
    monkeypatch.setattr(retrieval, "KEYWORD_MAX_DOCUMENTS", 2)
    matches = Retriever(knowledge_base).search(
        alert_from_text("checkout latency high ZX81Q"), top_k=3
    )

    assert searched == [["zx81q"]]
    assert matches[0].record.id == "INC-6"
    # Common terms still count towards how well each candidate covers the alert.
    assert {"checkout", "latency", "zx81q"} <= set(matches[0].terms)


def test_small_base_uses_every_term(knowledge_base, searched):
    Retriever(knowledge_base).search(
        alert_from_text("checkout latency high ZX81Q"), top_k=3
    )

    assert searched == [["checkout", "latency", "high", "zx81q"]]


def test_keyword_candidates_scored_without_dense_side(knowledge_base, monkeypatch):
    # With no dense candidates, what the keyword side read (labels, passages,
    # keyword text) is all the scoring has.
    monkeypatch.setattr(retrieval, "KEYWORD_MAX_DOCUMENTS", 2)
    monkeypatch.setattr(knowledge_base, "search_passages", lambda vector, k: [])

    matches = Retriever(knowledge_base).search(
        alert_from_text("checkout latency high ZX81Q"), top_k=3
    )

    assert [m.record.id for m in matches] == ["INC-6"]
    assert matches[0].dense > 0.3
    assert matches[0].sections
    assert matches[0].terms[0] == "zx81q"


def test_excluded_keyword_candidate_not_returned(knowledge_base, monkeypatch):
    monkeypatch.setattr(retrieval, "KEYWORD_MAX_DOCUMENTS", 2)
    monkeypatch.setattr(knowledge_base, "search_passages", lambda vector, k: [])

    matches = Retriever(knowledge_base).search(
        alert_from_text("checkout latency high ZX81Q"), top_k=3, exclude=("INC-6",)
    )

    assert matches == []


def test_search_embedding_error_waits_for_keyword_side(
    knowledge_base, searched, monkeypatch
):
    def broken(text):
        raise ConfigurationError("the stored vectors came from another model")

    monkeypatch.setattr(knowledge_base, "embed_query", broken)

    with pytest.raises(ConfigurationError, match="another model"):
        Retriever(knowledge_base).search(alert_from_text("checkout ZX81Q"), top_k=3)
    # The keyword search had finished before the error reached the caller.
    assert searched == [["checkout", "zx81q"]]


@pytest.mark.parametrize(
    ("text", "term", "expected"),
    [
        ("disk full on node-3", "disk", True),
        ("disk full on node-3", "dis", False),
        ("disk full on node-3", "node", True),
        ("disk full on node-3", "3", True),
        ("highly available, then high load", "high", True),
        ("highly available", "high", False),
        ("thigh", "high", False),
        ("io_wait rose", "io", True),
        ("io_wait rose", "wait", True),
        ("", "disk", False),
    ],
)
def test_has_token_finds_whole_tokens(text, term, expected):
    assert retrieval._has_token(text, term) is expected


def test_has_token_agrees_with_tokenize(sample_kb):
    database = sample_kb.database
    texts = database.keyword_text(sorted(database.record_hashes()), symptom_only=True)
    for text in list(texts.values())[:40]:
        lowered = text.lower()
        tokens = set(tokenize(lowered))
        # Every token, and pieces of tokens that are not tokens themselves.
        probes = tokens | {t[1:] for t in tokens if len(t) > 2}
        for probe in probes:
            assert retrieval._has_token(lowered, probe) is (probe in tokens), probe
