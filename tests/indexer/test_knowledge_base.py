import logging

import numpy as np
import pytest

from indexer.errors import ConfigurationError, RecordNotFoundError
from indexer.knowledge_base import KnowledgeBase
from indexer.record import IncidentRecord, Kind
from indexer.scoring_rows import parse_rows
from indexer.settings import IndexerSettings


def _record(record_id, title, summary, cause="", **labels):
    sections = {"summary": summary}
    if cause:
        sections["root_cause"] = cause
    return IncidentRecord(
        id=record_id,
        kind=Kind.POSTMORTEM,
        title=title,
        sections=sections,
        labels=labels,
        severity_raw="SEV2",
    )


RECORDS = [
    _record(
        "PM-1",
        "Orders database disk full",
        "No space left on device on orders-db",
        "WAL archiving stalled",
        service="orders-db",
    ),
    _record(
        "PM-2",
        "Checkout TLS certificate expired",
        "x509: certificate has expired",
        "Renewal job failed silently",
        service="checkout-api",
    ),
    _record(
        "PM-3",
        "DNS resolution failures",
        "SERVFAIL from cluster resolvers",
        "CoreDNS pods were OOMKilled",
        service="coredns",
    ),
]


@pytest.fixture
def knowledge_base(tmp_path, embedder):
    kb = KnowledgeBase(IndexerSettings(home=tmp_path), embedder=embedder)
    kb.build(RECORDS)
    return kb


def _ids_of(kb, text, k=10):
    return [ref.record_id for ref, _ in kb.search_passages(kb.embed_query(text), k)]


def test_build_stores_records_and_vectors(knowledge_base):
    stats = knowledge_base.stats()
    assert stats.records == 3
    assert stats.passages == stats.vectors
    assert stats.dimension == 384
    assert stats.model == "all-MiniLM-L6-v2"
    assert knowledge_base.get("PM-2").title == "Checkout TLS certificate expired"


def test_dense_search_finds_the_similar_incident(knowledge_base):
    assert _ids_of(knowledge_base, "filesystem is out of disk space")[0] == "PM-1"
    assert _ids_of(knowledge_base, "TLS handshake fails, cert not valid")[0] == "PM-2"


def test_keyword_search_finds_exact_identifier(knowledge_base):
    rows = parse_rows(knowledge_base.database.keyword_rows(["servfail"], 5))
    assert [row.record_id for row in rows] == ["PM-3"]
    assert " servfail " in rows[0].tokens


def test_add_replaces_record_in_place(knowledge_base):
    before = knowledge_base.stats()
    edited = _record(
        "PM-1", "Orders database disk full (edited)", "Volume reached 100%"
    )
    summary = knowledge_base.add([edited])
    assert summary.replaced == 1
    assert summary.added == 0
    after = knowledge_base.stats()
    assert after.records == 3
    assert after.vectors == after.passages
    assert after.data_version == before.data_version + 1
    assert knowledge_base.get("PM-1").title.endswith("(edited)")


def test_remove_deletes_record_and_its_vectors(knowledge_base):
    knowledge_base.remove(["PM-3"])
    assert knowledge_base.stats().records == 2
    assert "PM-3" not in _ids_of(knowledge_base, "SERVFAIL DNS", k=50)
    with pytest.raises(RecordNotFoundError, match="PM-3"):
        knowledge_base.get("PM-3")


def test_remove_unknown_id_raises_and_changes_nothing(knowledge_base):
    version = knowledge_base.stats().data_version
    with pytest.raises(RecordNotFoundError, match="no record with id 'PM-404'"):
        knowledge_base.remove(["PM-1", "PM-404"])
    assert knowledge_base.stats().records == 3
    assert knowledge_base.stats().data_version == version


def test_every_vector_maps_to_its_own_record(knowledge_base):
    knowledge_base.add(
        [_record("PM-4", "Kafka consumer lag", "Consumer group lagging")]
    )
    knowledge_base.remove(["PM-2"])
    knowledge_base.add([_record("PM-1", "Disk full again", "No space left")])
    index = knowledge_base.vector_index()
    for ids, vectors in knowledge_base.database.iter_vectors():
        for passage_id, vector in zip(ids, vectors, strict=True):
            best_id, score = index.search(vector, 1)[0]
            assert score == pytest.approx(1.0, abs=1e-4)
            refs = knowledge_base.database.passage_refs([passage_id, best_id])
            assert refs[passage_id].record_id == refs[best_id].record_id
    assert index.size == knowledge_base.database.count_passages()


def test_stale_index_is_rebuilt_from_database(
    tmp_path, knowledge_base, embedder, caplog
):
    knowledge_base.settings.index_path.unlink()
    reopened = KnowledgeBase(IndexerSettings(home=tmp_path), embedder=embedder)
    with caplog.at_level(logging.WARNING, logger="indexer.vector_store"):
        assert reopened.stats().vectors == reopened.database.count_passages()
    assert _ids_of(reopened, "certificate has expired")[0] == "PM-2"
    [warning] = [r.getMessage() for r in caplog.records]
    assert warning.startswith("vector index file ")
    assert warning.endswith(
        f"is missing; rebuilding it from the {reopened.stats().vectors} passages "
        "of the database"
    )


def test_other_model_is_rejected_for_add(tmp_path, knowledge_base, embedder):
    settings = IndexerSettings(home=tmp_path, model="some-other-model")
    other = KnowledgeBase(settings, embedder=embedder)
    with pytest.raises(
        ConfigurationError, match="embedded with model 'all-MiniLM-L6-v2'"
    ):
        other.add([_record("PM-9", "x", "y")])


def test_empty_knowledge_base_searches_to_nothing(tmp_path, embedder):
    kb = KnowledgeBase(IndexerSettings(home=tmp_path / "empty"), embedder=embedder)
    assert kb.stats().records == 0
    assert kb.search_passages(np.ones(384, dtype=np.float32) / np.sqrt(384), 5) == []


def test_embed_chunks_keep_text_order(knowledge_base, monkeypatch):
    monkeypatch.setattr("indexer.knowledge_base.EMBED_BATCH", 2)
    texts = [
        "disk full",
        "the orders database ran out of disk space during the nightly backup",
        "x509 certificate expired",
        "ok",
        "checkout latency rose after the deploy of a new pricing service",
    ]

    vectors = knowledge_base._embed(texts, progress=False)

    expected = knowledge_base.embedder.embed(texts)
    assert vectors.shape == expected.shape
    assert np.allclose(vectors, expected, atol=1e-5)
    assert knowledge_base._embed([], progress=False).shape == (0, 384)


def test_get_many_past_parameter_limit(knowledge_base):
    # More ids than SQLite binds in one statement: 32,766 by default since
    # SQLite 3.32, and 250,000 in the build used here.
    unknown = [f"INC-{n}" for n in range(300_000)]

    found = knowledge_base.get_many(
        [*unknown[:200_000], "PM-3", *unknown[200_000:], "PM-1"]
    )

    assert sorted(found) == ["PM-1", "PM-3"]
    assert found["PM-3"].title == "DNS resolution failures"
    assert found["PM-3"].labels == {"service": "coredns"}


def test_build_unwritable_index_warns(tmp_path, embedder, caplog, deny_index_saves):
    """The build has committed its records when the index file fails to save."""
    deny_index_saves()
    kb = KnowledgeBase(IndexerSettings(home=tmp_path), embedder=embedder)
    with caplog.at_level("WARNING", logger="indexer.vector_store"):
        summary = kb.build(RECORDS)

    assert summary.added == 3
    assert "cannot write the vector index" in caplog.text
    assert "The records are stored (data version 1)" in caplog.text
    assert _ids_of(kb, "certificate has expired", 1) == ["PM-2"]
    assert list(tmp_path.glob("*.tmp")) == []
