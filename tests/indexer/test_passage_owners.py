"""The in-memory map from passage ids to records agrees with the passages table."""

import numpy as np
import pytest

from indexer import passage_owners
from indexer.knowledge_base import KnowledgeBase
from indexer.passage_owners import PassageOwners
from indexer.record import IncidentRecord, Kind
from indexer.settings import IndexerSettings


def _incident(number: int, text: str) -> IncidentRecord:
    return IncidentRecord(
        id=f"INC-{number}",
        kind=Kind.INCIDENT,
        title=f"Incident {number}",
        sections={"summary": text, "root cause": f"cause {number}"},
    )


@pytest.fixture
def knowledge_base(tmp_path, embedder) -> KnowledgeBase:
    knowledge_base = KnowledgeBase(IndexerSettings(home=tmp_path), embedder=embedder)
    knowledge_base.build(
        [_incident(n, f"disk full on node {n}, pods evicted") for n in range(6)]
    )
    return knowledge_base


def _stored(knowledge_base: KnowledgeBase) -> dict[int, int]:
    with knowledge_base.database.engine.connect() as conn:
        return dict(conn.exec_driver_sql("SELECT pk, record_pk FROM passages").all())


def test_records_of_match_table(knowledge_base, monkeypatch):
    # Batches of two records, so the first read takes several queries.
    monkeypatch.setattr(passage_owners, "LOAD_BATCH", 2)
    stored = _stored(knowledge_base)
    ids = sorted(stored, reverse=True)
    owners = PassageOwners(knowledge_base.database)

    found = owners.records_of(ids)

    assert found == list(dict.fromkeys(stored[i] for i in ids))
    assert len(found) == 6
    assert owners.records_of([]) == []
    assert owners.records_of([10**9, -1]) == []


def test_passages_added_later_are_found(knowledge_base):
    owners = PassageOwners(knowledge_base.database)
    owners.records_of(list(_stored(knowledge_base)))

    knowledge_base.add([_incident(1, "certificate expired"), _incident(9, "oom")])

    stored = _stored(knowledge_base)
    newest = sorted(stored)[-4:]
    assert owners.records_of(newest) == list(dict.fromkeys(stored[i] for i in newest))
    assert set(owners.records_of(list(stored))) == set(stored.values())


def test_nearest_records_follow_passages(knowledge_base):
    vector = knowledge_base.embed_query("disk full on node 4")

    pks = knowledge_base.nearest_records(vector, 3)

    hits = knowledge_base.vectors.search(vector, 3)
    stored = _stored(knowledge_base)
    assert pks == list(dict.fromkeys(stored[i] for i, _ in hits))
    rows = knowledge_base.database.record_rows(pks[:1])
    assert rows[0].record_id == "INC-4"


def test_growing_keeps_earlier_entries():
    owners = PassageOwners(database=None)  # type: ignore[arg-type]
    owners._store(np.array([[3, 7], [5, 8]]))
    owners._store(np.array([[40, 9]]))

    assert owners._owners[3] == 7
    assert owners._owners[5] == 8
    assert owners._owners[40] == 9
    assert len(owners._owners) >= 41
