"""Cached document frequencies: right counts, read once, refreshed on drift."""

import pytest

from indexer import term_frequencies
from indexer.knowledge_base import KnowledgeBase
from indexer.record import IncidentRecord, Kind
from indexer.settings import IndexerSettings
from indexer.term_frequencies import DocumentFrequencies


def _incident(number: int, summary: str) -> IncidentRecord:
    return IncidentRecord(
        id=f"INC-{number}",
        kind=Kind.INCIDENT,
        title="Checkout",
        sections={"summary": summary},
    )


@pytest.fixture
def knowledge_base(tmp_path, embedder):
    knowledge_base = KnowledgeBase(IndexerSettings(home=tmp_path), embedder=embedder)
    records = [_incident(n, "disk full") for n in range(3)]
    records.append(_incident(3, "certificate expired"))
    knowledge_base.build(records)
    return knowledge_base


@pytest.fixture
def calls(knowledge_base, monkeypatch) -> list[list[str]]:
    """Return the terms of each document-frequency query, as they are made."""
    made: list[list[str]] = []
    original = knowledge_base.database.document_frequencies

    def spy(terms, count=True):
        made.append(list(terms))
        return original(terms, count)

    monkeypatch.setattr(knowledge_base.database, "document_frequencies", spy)
    return made


def test_lookup_counts_and_caches(knowledge_base, calls):
    frequencies = DocumentFrequencies(knowledge_base.database)

    assert frequencies.lookup(["disk", "certificate", "nowhere"]) == (
        {"disk": 3, "certificate": 1},
        4,
    )
    assert frequencies.lookup(["disk", "checkout"]) == ({"disk": 3, "checkout": 4}, 4)
    assert calls == [["disk", "certificate", "nowhere"], ["checkout"]]


def test_cache_refreshes_on_drift(knowledge_base, monkeypatch):
    frequencies = DocumentFrequencies(knowledge_base.database)
    assert frequencies.lookup(["disk"]) == ({"disk": 3}, 4)

    # One record more is a drift of 25%, above the limit: the count is read again.
    knowledge_base.add([_incident(4, "disk full again")])
    assert frequencies.lookup(["disk"]) == ({"disk": 4}, 5)

    # With a limit above the change, the cached count stays while the total moves.
    monkeypatch.setattr(term_frequencies, "MAX_DRIFT", 0.5)
    knowledge_base.add([_incident(5, "disk full once more")])
    assert frequencies.lookup(["disk"]) == ({"disk": 4}, 6)


def test_cached_answers_only_from_a_current_cache(knowledge_base):
    frequencies = DocumentFrequencies(knowledge_base.database)
    assert frequencies.cached(["disk"]) is None

    frequencies.lookup(["disk", "nowhere"])

    assert frequencies.cached(["disk", "nowhere"]) == ({"disk": 3}, 4)
    assert frequencies.cached(["disk", "certificate"]) is None
    # After a write the record count may have moved, so lookup() must run.
    knowledge_base.add([_incident(4, "disk full again")])
    assert frequencies.cached(["disk"]) is None
    assert frequencies.lookup(["disk"]) == ({"disk": 4}, 5)
    assert frequencies.cached(["disk"]) == ({"disk": 4}, 5)


def test_fill_caches_common_terms(knowledge_base, calls):
    frequencies = DocumentFrequencies(knowledge_base.database)

    assert frequencies.fill(min_documents=3) == 3
    assert frequencies.cached(["disk", "full", "checkout"]) == (
        {"disk": 3, "full": 3, "checkout": 4},
        4,
    )
    # A rarer term is not cached, so it is looked up like before the fill.
    assert frequencies.cached(["disk", "certificate"]) is None
    assert frequencies.lookup(["disk", "certificate"]) == (
        {"disk": 3, "certificate": 1},
        4,
    )
    assert calls == [["certificate"]]


def test_fill_keeps_the_most_frequent(knowledge_base):
    common = knowledge_base.database.common_terms(min_documents=1, limit=2)

    # Ties go in term order, so "full" (3 records) is the one left out.
    assert common == {"checkout": 4, "disk": 3}


def test_filled_cache_refills_on_drift(knowledge_base, calls):
    frequencies = DocumentFrequencies(knowledge_base.database)
    frequencies.fill(min_documents=3)

    knowledge_base.add([_incident(4, "disk full again")])

    # The old count serves this search while the cache is read again.
    assert frequencies.lookup(["disk"]) == ({"disk": 3}, 5)
    assert frequencies.wait_for_refill(timeout=30)
    assert frequencies.cached(["disk", "full", "checkout"]) == (
        {"disk": 4, "full": 4, "checkout": 5},
        5,
    )
    assert calls == []
