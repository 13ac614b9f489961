import numpy as np
import pytest

from indexer.errors import KnowledgeBaseError
from indexer.vector_index import VectorIndex


def _vectors(count, dimension=8, seed=0):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_search_returns_explicit_ids_not_positions():
    index = VectorIndex.create(8, "test")
    vectors = _vectors(3)
    index.add(np.array([101, 205, 999]), vectors)
    hits = index.search(vectors[1], k=1)
    assert hits[0][0] == 205
    assert hits[0][1] == pytest.approx(1.0, abs=1e-5)


def test_search_never_returns_padding_ids():
    index = VectorIndex.create(8, "test")
    index.add(np.array([7, 8]), _vectors(2))
    hits = index.search(_vectors(1, seed=5)[0], k=50)
    assert [pid for pid, _ in hits] != []
    assert len(hits) == 2
    assert all(pid in (7, 8) for pid, _ in hits)


def test_search_on_empty_index_is_empty():
    index = VectorIndex.create(8, "test")
    assert index.search(_vectors(1)[0], k=5) == []


def test_remove_drops_only_given_ids():
    index = VectorIndex.create(8, "test")
    vectors = _vectors(4)
    index.add(np.array([1, 2, 3, 4]), vectors)
    assert index.remove([2, 3]) == 2
    ids = {pid for pid, _ in index.search(vectors[1], k=10)}
    assert ids == {1, 4}


def test_save_and_load_keep_ids_and_version(tmp_path):
    path = tmp_path / "passages.faiss"
    index = VectorIndex.create(8, "model-a")
    vectors = _vectors(5)
    index.catch_up(42, [], np.arange(10, 15), vectors)
    index.save(path)
    loaded = VectorIndex.load(path)
    assert loaded.info.data_version == 42
    assert loaded.info.max_passage_id == 14
    assert loaded.info.model == "model-a"
    assert loaded.search(vectors[3], k=1)[0][0] == 13
    assert list(tmp_path.iterdir()) == [path]


def test_catch_up_removes_then_adds(tmp_path):
    index = VectorIndex.create(8, "m")
    vectors = _vectors(4)
    index.catch_up(1, [], np.array([1, 2]), vectors[:2])
    index.catch_up(2, [1], np.array([3, 4]), vectors[2:])
    assert index.info.data_version == 2
    assert index.info.max_passage_id == 4
    assert {pid for pid, _ in index.search(vectors[0], k=10)} == {2, 3, 4}


def test_load_rejects_corrupt_index(tmp_path):
    path = tmp_path / "passages.faiss"
    index = VectorIndex.create(8, "m")
    index.add(np.arange(3), _vectors(3))
    index.save(path)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(KnowledgeBaseError, match="unreadable"):
        VectorIndex.load(path)


def test_load_rejects_foreign_file(tmp_path):
    path = tmp_path / "passages.faiss"
    path.write_bytes(b"not a faiss index")
    with pytest.raises(KnowledgeBaseError, match="not a vector index file"):
        VectorIndex.load(path)
