from functools import partial

import numpy as np
import pytest

from benchmarks.index_recall import measure_recall
from indexer import vector_index
from indexer.database import Database
from indexer.knowledge_base import keyword_fields
from indexer.passages import Passage
from indexer.record import IncidentRecord, Kind
from indexer.settings import IndexerSettings
from indexer.vector_index import VectorIndex
from indexer.vector_store import VectorStore

DIMENSION = 32
RECORDS = 400
PASSAGES_PER_RECORD = 8


def _clustered_vectors(count: int, rng: np.random.Generator) -> np.ndarray:
    """Return noisy copies of 40 directions, as passages of similar incidents are."""
    centres = rng.normal(size=(40, DIMENSION))
    noise = rng.normal(0, 0.15, (count, DIMENSION))
    vectors = centres[rng.integers(0, 40, count)] + noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> VectorStore:
    """Return the vector store of 400 stored incidents with 8 passages each.

    Every tenth incident is deleted again, so passage ids have gaps. Tests may
    rebuild the index file but must not change the stored passages.
    """
    settings = IndexerSettings(home=tmp_path_factory.mktemp("store"))
    database = Database(settings.resolved_database_url)
    database.set_meta("model", settings.model)
    database.set_meta("dimension", DIMENSION)

    rng = np.random.default_rng(3)
    vectors = _clustered_vectors(RECORDS * PASSAGES_PER_RECORD, rng)
    items = []
    for number in range(RECORDS):
        record = IncidentRecord(
            id=f"INC-{number}", kind=Kind.INCIDENT, title=f"Incident {number}"
        )
        passages = [
            Passage("summary", "symptom", f"incident {number} part {part}")
            for part in range(PASSAGES_PER_RECORD)
        ]
        first = number * PASSAGES_PER_RECORD
        items.append((record, passages, vectors[first : first + PASSAGES_PER_RECORD]))
    database.apply(items, [keyword_fields(r, frozenset()) for r, _, _ in items])
    database.apply([], [], remove_ids=[f"INC-{n}" for n in range(0, RECORDS, 10)])

    # Small batches, so a rebuild reads the vectors in several of them.
    database.iter_vectors = partial(database.iter_vectors, batch=500)  # type: ignore[method-assign]
    return VectorStore(database, settings, lambda: DIMENSION)


def _stored(store: VectorStore) -> tuple[np.ndarray, np.ndarray]:
    batches = list(store.database.iter_vectors())
    return (
        np.concatenate([ids for ids, _ in batches]),
        np.concatenate([vectors for _, vectors in batches]),
    )


def test_rebuild_matches_index_of_all_vectors(store):
    ids, vectors = _stored(store)
    whole = VectorIndex.create(DIMENSION, store.settings.model)
    whole.add(ids, vectors)

    rebuilt = store.rebuild()
    assert rebuilt.info.index_type == "flat"
    assert rebuilt.info.max_passage_id == int(ids.max())
    assert rebuilt.size == len(ids) == 360 * PASSAGES_PER_RECORD
    for query in vectors[::97]:
        assert rebuilt.search(query, 20) == whole.search(query, 20)


def test_rebuild_above_limit_trains_ivf(store, monkeypatch):
    monkeypatch.setattr(vector_index, "EXACT_SEARCH_LIMIT", 1_000)
    ids, vectors = _stored(store)

    rebuilt = store.rebuild()
    assert rebuilt.info.index_type == "IVF72,SQ4"
    assert sorted(rebuilt.ids().tolist()) == ids.tolist()
    loaded = VectorIndex.load(store.settings.index_path)
    assert loaded.info.index_type == "IVF72,SQ4"
    assert sorted(loaded.ids().tolist()) == ids.tolist()

    queries = vectors[::29] + np.float32(0.05)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    recall = measure_recall(loaded, queries, store.database.iter_vectors())
    assert recall.rescored >= 0.98
    assert recall.own <= recall.rescored


def test_measure_recall_of_exact_index_is_one(store):
    ids, vectors = _stored(store)
    index = VectorIndex.create(DIMENSION, "m")
    index.add(ids, vectors)
    recall = measure_recall(index, vectors[:50], store.database.iter_vectors())
    assert recall.own == pytest.approx(1.0)
    assert recall.rescored == pytest.approx(1.0)


def test_measure_recall_counts_missing_vectors(store):
    ids, vectors = _stored(store)
    index = VectorIndex.create(DIMENSION, "m")
    index.add(ids[::2], vectors[::2])
    recall = measure_recall(index, vectors[:50], store.database.iter_vectors())
    assert 0.3 < recall.own < 0.7
    assert recall.rescored == pytest.approx(recall.own)


def test_sample_vectors_skips_deleted_passages(store):
    _, vectors = _stored(store)
    stored = {row.tobytes() for row in vectors}
    sample = store.database.sample_vectors(1_000, seed=5)
    assert sample.shape == (1_000, DIMENSION)
    assert {row.tobytes() for row in sample} <= stored
    assert len({row.tobytes() for row in sample}) == 1_000


def test_sample_vectors_returns_all_when_few(store):
    _, vectors = _stored(store)
    sample = store.database.sample_vectors(10_000)
    assert sample.shape == vectors.shape
    assert np.array_equal(sample, vectors)
