import faiss
import numpy as np
import pytest

from indexer import vector_index
from indexer.errors import KnowledgeBaseError
from indexer.vector_index import (
    EXACT_SEARCH_LIMIT,
    IVF_NPROBE,
    IndexPlan,
    VectorIndex,
    plan_index,
)


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


def _clustered(count, dimension=32, seed=0):
    """Return noisy copies of 50 random directions, like passages of similar records."""
    rng = np.random.default_rng(seed)
    centres = _vectors(50, dimension, seed + 1)
    vectors = centres[np.arange(count) % 50] + rng.normal(0, 0.1, (count, dimension))
    vectors = vectors.astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
def ivf_index(monkeypatch):
    """Return a trained IVF index of 4,000 vectors with ids 1000 to 4999."""
    monkeypatch.setattr(vector_index, "EXACT_SEARCH_LIMIT", 1_000)
    vectors = _clustered(4_000)
    plan = plan_index(len(vectors))
    index = VectorIndex.create(32, "m", len(vectors), vectors[: plan.training_size])
    index.add(np.arange(1_000, 5_000), vectors)
    return index, vectors


def test_plan_index_is_flat_up_to_the_limit():
    assert plan_index(0) == IndexPlan("flat")
    assert plan_index(EXACT_SEARCH_LIMIT) == IndexPlan("flat")


def test_plan_index_is_quantized_ivf_above_the_limit():
    above = plan_index(EXACT_SEARCH_LIMIT + 1)
    assert above.index_type == f"IVF{above.nlist},SQ4"
    assert above.nlist == int(4 * (EXACT_SEARCH_LIMIT + 1) ** 0.5)
    assert above.training_size == 40 * above.nlist
    largest = plan_index(6_700_000)
    assert largest == IndexPlan("IVF4096,SQ4", 4_096, 40 * 4_096)


def test_plan_index_caps_lists_by_training(monkeypatch):
    monkeypatch.setattr(vector_index, "EXACT_SEARCH_LIMIT", 1_000)
    assert plan_index(4_000) == IndexPlan("IVF100,SQ4", 100, 4_000)


def test_create_ivf_without_training_vectors_fails(monkeypatch):
    monkeypatch.setattr(vector_index, "EXACT_SEARCH_LIMIT", 1_000)
    with pytest.raises(ValueError, match="needs at least 100 training vectors"):
        VectorIndex.create(32, "m", 4_000)


def test_ivf_index_finds_each_vector_itself(ivf_index):
    index, vectors = ivf_index
    assert index.info.index_type == "IVF100,SQ4"
    assert index.size == 4_000
    for position in range(0, 4_000, 397):
        found = [passage_id for passage_id, _ in index.search(vectors[position], 5)]
        assert 1_000 + position in found


def test_ivf_ids_lists_every_id_once(ivf_index):
    index, _ = ivf_index
    index.remove(list(range(1_000, 1_100)))
    ids = index.ids()
    assert len(ids) == 3_900
    assert sorted(ids.tolist()) == list(range(1_100, 5_000))


def test_ivf_round_trip_restores_nprobe(tmp_path, ivf_index):
    index, vectors = ivf_index
    assert index.remove([1_000, 1_001]) == 2
    index.add(np.array([9_000]), vectors[:1])
    faiss.extract_index_ivf(index.index).nprobe = 3
    before = index.search(vectors[0], 10)
    path = tmp_path / "passages.faiss"
    index.save(path)

    loaded = VectorIndex.load(path)
    assert faiss.extract_index_ivf(loaded.index).nprobe == IVF_NPROBE
    assert loaded.info.index_type == "IVF100,SQ4"
    assert loaded.size == 3_999
    assert sorted(loaded.ids().tolist()) == sorted(index.ids().tolist())
    faiss.extract_index_ivf(loaded.index).nprobe = 3
    assert loaded.search(vectors[0], 10) == before
    found = {passage_id for passage_id, _ in loaded.search(vectors[0], 4_000)}
    assert 9_000 in found
    assert 1_000 not in found
