"""The chromadb and BM25 peers of the benchmarks, built over a few sample records."""

from __future__ import annotations

import pytest

pytest.importorskip(
    "chromadb",
    reason="chromadb is in the optional bench extra: pip install -e '.[bench]'",
)
pytest.importorskip(
    "bm25s", reason="bm25s is in the optional bench extra: pip install -e '.[bench]'"
)

from chromadb.utils.embedding_functions import ONNXMiniLM_L6_V2

from benchmarks.baselines import record_text
from benchmarks.peers import build_bm25_peer, build_chroma_peer
from indexer.passages import split_passages
from indexer.readers import read_sources
from tests.conftest import SAMPLE_DATA

RECORDS = 6


def _fail_on_default_model(self, input):
    raise AssertionError("chromadb used its own ONNX model instead of the Embedder")


def test_peers_find_record_from_its_text(embedder, tmp_path, monkeypatch):
    monkeypatch.setattr(ONNXMiniLM_L6_V2, "__call__", _fail_on_default_model)
    records = read_sources([SAMPLE_DATA / "knowledge"]).records[:RECORDS]
    passages = [split_passages(record) for record in records]
    vectors = embedder.embed([p.text for group in passages for p in group])
    items = []
    offset = 0
    for record, group in zip(records, passages, strict=True):
        items.append((record, group, vectors[offset : offset + len(group)]))
        offset += len(group)

    chroma, chroma_stats = build_chroma_peer(tmp_path / "chroma", embedder, items)
    bm25, bm25_stats = build_bm25_peer(items)

    assert chroma_stats.records == RECORDS
    assert chroma_stats.items == len(vectors)
    assert bm25_stats.records == RECORDS
    for record, group, _ in items:
        chroma_hits = chroma.search(group[0].text, top_k=3)
        assert chroma_hits[0][0] == record.id
        assert chroma_hits[0][1] == pytest.approx(1.0, abs=1e-3)
        assert len({record_id for record_id, _ in chroma_hits}) == len(chroma_hits)
        bm25_hits = bm25.search(record_text(record), top_k=3)
        assert bm25_hits[0][0] == record.id

    first = records[0].id
    without_first = chroma.search(passages[0][0].text, 3, exclude={first})
    assert first not in [record_id for record_id, _ in without_first]
    assert without_first
    bm25_without_first = bm25.search(record_text(records[0]), 3, exclude={first})
    assert first not in [record_id for record_id, _ in bm25_without_first]
    chroma.close()
