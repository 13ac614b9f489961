"""Keyword candidates come from rare terms only, so their cost stays bounded."""

import pytest

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
