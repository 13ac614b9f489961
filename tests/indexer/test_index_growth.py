"""Writes rebuild an index whose size is far past the bounds of its type."""

import logging
import os
import subprocess

import numpy as np
import pytest

from indexer import vector_index
from indexer.database import Database
from indexer.knowledge_base import keyword_fields
from indexer.passages import Passage
from indexer.record import IncidentRecord, Kind
from indexer.settings import IndexerSettings
from indexer.vector_index import VectorIndex, outgrown
from indexer.vector_store import VectorStore

DIMENSION = 16
PASSAGES_PER_RECORD = 10
LIMIT = 1_000


@pytest.fixture(autouse=True)
def small_limit(monkeypatch):
    """Make 1,000 passages the exact search limit, so tests stay small."""
    monkeypatch.setattr(vector_index, "EXACT_SEARCH_LIMIT", LIMIT)


def _add(database: Database, first: int, count: int, seed: int) -> np.ndarray:
    """Store `count` incidents of 10 passages each; return their vectors."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(count * PASSAGES_PER_RECORD, DIMENSION))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors.astype(np.float32)
    items = []
    for offset in range(count):
        number = first + offset
        record = IncidentRecord(
            id=f"INC-{number}", kind=Kind.INCIDENT, title=f"Incident {number}"
        )
        passages = [
            Passage("summary", "symptom", f"incident {number} part {part}")
            for part in range(PASSAGES_PER_RECORD)
        ]
        start = offset * PASSAGES_PER_RECORD
        items.append((record, passages, vectors[start : start + PASSAGES_PER_RECORD]))
    database.apply(items, [keyword_fields(r, frozenset()) for r, _, _ in items])
    return vectors


@pytest.fixture
def home(tmp_path) -> tuple[Database, IndexerSettings]:
    settings = IndexerSettings(home=tmp_path)
    database = Database(settings.resolved_database_url)
    database.set_meta("model", settings.model)
    database.set_meta("dimension", DIMENSION)
    return database, settings


def _store(home: tuple[Database, IndexerSettings]) -> VectorStore:
    database, settings = home
    return VectorStore(database, settings, lambda: DIMENSION)


def _stored_ids(database: Database) -> list[int]:
    return sorted(int(i) for ids, _ in database.iter_vectors() for i in ids)


def _finds(index: VectorIndex, database: Database, vectors: np.ndarray) -> bool:
    """Return whether each vector's own passage is among its 10 nearest."""
    owner = {
        vector.tobytes(): int(i)
        for ids, batch in database.iter_vectors()
        for i, vector in zip(ids, batch, strict=True)
    }
    return all(
        owner[vector.tobytes()] in {i for i, _ in index.search(vector, 10)}
        for vector in vectors
    )


def test_outgrown_keeps_types_within_margin():
    assert outgrown("flat", 0) is None
    assert outgrown("flat", 1_250) is None
    assert outgrown("IVF25,SQ4", 1_001) is None
    assert outgrown("IVF25,SQ4", 800) is None
    # Below 25,600 passages the lists are capped at one per 40 training vectors.
    assert outgrown("IVF25,SQ4", 1_999) is None


def test_outgrown_reason_names_size():
    assert outgrown("flat", 1_251) == (
        "the exact vector index holds 1,251 passages, more than 1,250"
    )
    assert outgrown("IVF25,SQ4", 799) == (
        "the IVF25,SQ4 vector index holds only 799 passages, which exact search handles"
    )
    assert outgrown("IVF25,SQ4", 2_000) == (
        "the IVF25,SQ4 vector index holds 2,000 passages, which call for IVF50,SQ4"
    )


def test_outgrown_ivf_waits_for_fourfold_growth(monkeypatch):
    monkeypatch.setattr(vector_index, "EXACT_SEARCH_LIMIT", 30_000)
    assert outgrown("flat", 37_500) is None
    assert outgrown("flat", 37_501) is not None
    built = vector_index.plan_index(37_501).index_type
    assert built == "IVF774,SQ4"
    # 4 sqrt(149,769) is 1,548 lists, twice 774: four times 37,501 less a little.
    assert outgrown(built, 149_000) is None
    assert outgrown(built, 149_769) is not None
    # At the cap of lists, growth never calls for more.
    assert outgrown("IVF4096,SQ4", 10**8) is None
    assert outgrown("IVFFlat", 10**6) is None


def test_writer_rebuilds_exact_past_margin(home, caplog):
    database, settings = home
    _add(database, 0, 100, seed=1)
    writer = _store(home)
    assert writer.current().info.index_type == "flat"

    # 1,200 passages: within the margin, the exact index is kept.
    _add(database, 100, 20, seed=2)
    writer.checkpoint(force=True)
    assert writer.current().info.index_type == "flat"
    assert VectorIndex.read_info(settings.index_path).index_type == "flat"

    # 1,800 passages: past 1.25 times the limit, the next write rebuilds it.
    new = _add(database, 120, 60, seed=3)
    with caplog.at_level(logging.WARNING, logger="indexer.vector_store"):
        assert writer.checkpoint() is True
    assert "the exact vector index holds 1,800 passages" in caplog.text

    index = writer.current()
    assert index.info.index_type.startswith("IVF")
    assert VectorIndex.read_info(settings.index_path).index_type == (
        index.info.index_type
    )
    assert sorted(index.ids().tolist()) == _stored_ids(database)
    assert _finds(index, database, new[::7])


def test_writer_rebuilds_without_loaded_index(home):
    """An `indexer add` process has not read the index file when it checkpoints."""
    database, settings = home
    _add(database, 0, 100, seed=1)
    _store(home).current()
    _add(database, 100, 60, seed=2)

    fresh = _store(home)
    assert fresh.checkpoint() is True
    assert VectorIndex.read_info(settings.index_path).index_type.startswith("IVF")
    assert VectorIndex.read_info(settings.index_path).count == 1_600


def test_reader_takes_rebuilt_index(home):
    database, _ = home
    _add(database, 0, 100, seed=1)
    reader = _store(home)
    assert reader.current().info.index_type == "flat"

    new = _add(database, 100, 60, seed=2)
    _store(home).checkpoint()

    index = reader.current()
    assert index.info.index_type.startswith("IVF")
    assert sorted(index.ids().tolist()) == _stored_ids(database)

    # Later writes are caught up in place on the loaded index.
    more = _add(database, 160, 5, seed=4)
    index = reader.current()
    assert index.info.index_type.startswith("IVF")
    assert sorted(index.ids().tolist()) == _stored_ids(database)
    assert _finds(index, database, np.concatenate([new[::7], more]))


def test_reader_keeps_same_type_index(home):
    database, _ = home
    _add(database, 0, 50, seed=1)
    reader = _store(home)
    loaded = reader.current()
    _add(database, 50, 10, seed=2)
    _store(home).checkpoint(force=True)

    assert reader.current() is loaded
    assert sorted(loaded.ids().tolist()) == _stored_ids(database)


def test_writer_rebuilds_shrunk_ivf_as_exact(home):
    database, settings = home
    _add(database, 0, 180, seed=1)
    writer = _store(home)
    writer.rebuild()
    assert writer.current().info.index_type.startswith("IVF")

    database.apply([], [], remove_ids=[f"INC-{n}" for n in range(120)])
    assert writer.checkpoint() is True
    index = writer.current()
    assert index.info.index_type == "flat"
    assert VectorIndex.read_info(settings.index_path).index_type == "flat"
    assert sorted(index.ids().tolist()) == _stored_ids(database)


def test_reader_takes_late_rebuild(home):
    """A service catches up as soon as the records commit, before the rebuild ends."""
    database, _ = home
    _add(database, 0, 100, seed=1)
    reader = _store(home)
    reader.current()
    _add(database, 100, 60, seed=2)
    assert reader.current().info.index_type == "flat"
    version = database.data_version()

    _store(home).checkpoint()
    assert database.data_version() == version

    index = reader.current()
    assert index.info.index_type.startswith("IVF")
    assert sorted(index.ids().tolist()) == _stored_ids(database)
    assert reader.current() is index


def test_reader_survives_removed_file(home, caplog):
    database, settings = home
    _add(database, 0, 50, seed=1)
    reader = _store(home)
    loaded = reader.current()
    # The first load found no file, as no writer saved one, and logged it.
    caplog.clear()
    settings.index_path.unlink()

    with caplog.at_level(logging.WARNING):
        assert reader.current() is loaded
        assert reader.current() is loaded
    assert caplog.text == ""


def test_reader_keeps_index_on_unreadable_file(home, caplog):
    database, settings = home
    _add(database, 0, 50, seed=1)
    reader = _store(home)
    loaded = reader.current()
    # The first load found no file, as no writer saved one, and logged it.
    caplog.clear()
    settings.index_path.write_bytes(b"not an index")

    with caplog.at_level(logging.WARNING):
        assert reader.current() is loaded
        assert reader.current() is loaded
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "failed to read the vector index that a writer saved" in warnings[0].message
    assert "keeps its flat index" in warnings[0].message


def test_unwritable_index_file_keeps_records(home, caplog, deny_index_saves):
    database, settings = home
    _add(database, 0, 100, seed=1)
    writer = _store(home)
    writer.current()
    new = _add(database, 100, 60, seed=2)

    deny_index_saves()
    with caplog.at_level(logging.WARNING, logger="indexer.vector_store"):
        assert writer.checkpoint() is False

    assert "cannot write the vector index" in caplog.text
    assert "Operation not permitted" in caplog.text
    assert "The records are stored (data version 2)" in caplog.text
    assert list(settings.home.glob("*.tmp")) == []
    assert VectorIndex.read_info(settings.index_path).index_type == "flat"
    index = writer.current()
    assert index.info.index_type.startswith("IVF")
    assert _finds(index, database, new[::7])


def test_save_removes_files_of_killed_saves(home):
    database, settings = home
    _add(database, 0, 10, seed=1)
    # A pid that no process has: the one of a child that has exited.
    child = subprocess.Popen(["true"])
    child.wait()
    abandoned = settings.index_path.with_name(f"passages.faiss.{child.pid}.tmp")
    abandoned.write_bytes(b"half an index")
    running = settings.index_path.with_name(f"passages.faiss.{os.getppid()}.tmp")
    running.write_bytes(b"a save in progress")

    _store(home).rebuild()

    assert not abandoned.exists()
    assert running.exists()
    assert VectorIndex.read_info(settings.index_path).count == 100


def test_unreadable_file_rebuilt_in_memory(home, caplog, deny_index_saves):
    """A read-only command still searches when the file cannot be replaced."""
    database, settings = home
    vectors = _add(database, 0, 20, seed=1)
    settings.index_path.write_bytes(b"not an index")

    deny_index_saves()
    with caplog.at_level(logging.WARNING, logger="indexer.vector_store"):
        index = _store(home).current()

    assert index.size == 200
    assert _finds(index, database, vectors[::9])
    assert "cannot write the vector index" in caplog.text
    assert settings.index_path.read_bytes() == b"not an index"
