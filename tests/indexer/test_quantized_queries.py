"""Alerts and searches are embedded by an int8 copy of the export, close to float32."""

from __future__ import annotations

import logging
import os
import shutil
import time

import numpy as np
import pytest

from indexer import onnx_encoder
from indexer.embedding import Embedder, resolve_model_path
from indexer.errors import ConfigurationError
from indexer.knowledge_base import KnowledgeBase
from indexer.onnx_encoder import load_encoder, load_quantized_encoder
from indexer.settings import IndexerSettings, load_settings

MODEL_PATH = resolve_model_path("all-MiniLM-L6-v2")
TEXTS = [
    "KubePodCrashLooping",
    "disk full on db-primary-2, writes failing with ENOSPC",
    "Ünïcödé: the queue consumer lag of payments-worker passed 10 min",
    "p99 latency doubled after the deploy; " * 80,
]


def _never() -> None:
    raise AssertionError("the torch model was needed, but the files were cached")


def _int8_files(cache):
    return sorted(cache.glob("embedding-*-int8-*.onnx"))


@pytest.fixture(scope="module")
def quantized(tmp_path_factory, embedder):
    cache = tmp_path_factory.mktemp("int8-cache")
    encoder = load_quantized_encoder(MODEL_PATH, lambda: embedder.model, cache)
    assert encoder is not None
    return cache, encoder


def test_int8_vectors_stay_close_to_torch(quantized, embedder):
    cache, encoder = quantized
    expected = embedder.model.encode(TEXTS, normalize_embeddings=True)

    found = np.stack([encoder.embed([text])[0] for text in TEXTS])
    cosine = (found * expected).sum(axis=1)

    assert found.dtype == np.float32
    assert cosine.min() >= 0.98
    # Vectors equal to the float32 export's would mean the copy was not used.
    assert np.abs(found - expected).max() > 1e-4
    assert np.allclose(np.linalg.norm(found, axis=1), 1.0, atol=1e-5)
    [copy] = _int8_files(cache)
    [export] = [p for p in cache.glob("embedding-*.onnx") if p != copy]
    assert encoder.path == copy
    assert copy.stat().st_size < 0.4 * export.stat().st_size
    assert copy.with_name(copy.name + ".sha256").is_file()
    assert not list(cache.glob("*.partial"))
    assert not list(cache.glob("*inferred*"))


def test_cached_copy_needs_neither_torch_nor_export(quantized, tmp_path):
    cache, encoder = quantized
    copy = tmp_path / "cache"
    shutil.copytree(cache, copy)
    [int8] = _int8_files(copy)
    for path in copy.glob("embedding-*"):
        if not path.name.startswith(int8.name):
            path.unlink()

    reused = load_quantized_encoder(MODEL_PATH, _never, copy)

    assert reused is not None
    assert reused.path == int8
    assert np.array_equal(reused.embed(TEXTS[:2]), encoder.embed(TEXTS[:2]))
    made = sorted(p.name for p in copy.iterdir() if p.suffix != ".lock")
    assert made == [int8.name, int8.name + ".sha256"]


def test_damaged_copy_is_made_again(quantized, tmp_path, caplog):
    cache, encoder = quantized
    copy = tmp_path / "cache"
    shutil.copytree(cache, copy)
    [int8] = _int8_files(copy)
    data = bytearray(int8.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4096] = bytes(4096)
    int8.write_bytes(bytes(data))

    with caplog.at_level(logging.WARNING):
        repaired = load_quantized_encoder(MODEL_PATH, _never, copy)

    assert repaired is not None
    assert repaired.path == int8
    assert int8.read_bytes() != bytes(data)
    assert np.abs(repaired.embed(TEXTS[:1]) - encoder.embed(TEXTS[:1])).max() < 1e-6
    assert "quantizing again" in caplog.text


def test_straying_copy_falls_back_to_float32(quantized, monkeypatch, tmp_path, caplog):
    cache, _ = quantized
    copy = tmp_path / "cache"
    shutil.copytree(cache, copy)
    for path in _int8_files(copy):
        path.unlink()
        path.with_name(path.name + ".sha256").unlink()
    monkeypatch.setattr(onnx_encoder, "QUANTIZED_MIN_COSINE", 1.01)

    with caplog.at_level(logging.WARNING):
        encoder = load_quantized_encoder(MODEL_PATH, _never, copy)

    exported = load_encoder(MODEL_PATH, _never, copy)
    assert encoder is not None and exported is not None
    assert encoder.path == exported.path
    assert not _int8_files(copy)
    assert not list(copy.glob("*.partial"))
    assert "alerts are embedded with the float32 export" in caplog.text
    assert "cosine similarity of only 0.9" in caplog.text


def test_quantizer_advice_is_hidden_but_other_warnings_pass(embedder, tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        encoder = load_quantized_encoder(MODEL_PATH, lambda: embedder.model, tmp_path)
        logging.getLogger().warning("a warning of the application")

    assert encoder is not None and "int8" in encoder.path.name
    assert "pre-processing" not in caplog.text
    assert "made an int8 copy" in caplog.text
    assert "a warning of the application" in caplog.text


def test_embedder_sends_only_queries_through_int8(monkeypatch, embedder, tmp_path):
    monkeypatch.setenv("INCIDENT_CACHE", str(tmp_path))
    fresh = Embedder()
    expected = embedder.model.encode(TEXTS[:2], normalize_embeddings=True)

    query = fresh.embed_query(TEXTS[:2])
    passages = fresh.embed(TEXTS[:2])

    assert np.abs(passages - expected).max() < 1e-5
    assert np.abs(query - expected).max() > 1e-4
    assert (query * expected).sum(axis=1).min() >= 0.98
    assert len(_int8_files(tmp_path)) == 1
    assert fresh.embed_query([]).shape == (0, 384)


def test_quantized_queries_off_embeds_queries_as_passages(monkeypatch, tmp_path):
    monkeypatch.setenv("INCIDENT_CACHE", str(tmp_path))
    monkeypatch.setenv("INCIDENT_QUANTIZED_QUERIES", "false")
    knowledge_base = KnowledgeBase(
        load_settings(IndexerSettings, home=tmp_path / "kb"), create=True
    )

    query = knowledge_base.embed_query("disk full")
    passage = knowledge_base.embedder.embed(["disk full"])[0]

    assert knowledge_base.embedder.quantized_queries is False
    assert np.array_equal(query, passage)
    assert not _int8_files(tmp_path)


def test_invalid_quantized_queries_setting_names_variable(monkeypatch):
    monkeypatch.setenv("INCIDENT_QUANTIZED_QUERIES", "sometimes")

    with pytest.raises(ConfigurationError) as raised:
        load_settings(IndexerSettings)

    assert "INCIDENT_QUANTIZED_QUERIES" in str(raised.value)
    assert "(got 'sometimes'); set it to true or false" in str(raised.value)


def test_stale_partials_removed_when_cached(quantized, tmp_path):
    cache, _ = quantized
    copy = tmp_path / "cache"
    shutil.copytree(cache, copy)
    stale = copy / "embedding-abc-int8-0.onnxk3j2.partial"
    fresh = copy / "embedding-abc.onnxq8x1.partial"
    for path in (stale, fresh):
        path.write_bytes(b"unfinished")
    hours_ago = time.time() - 2 * 3600
    os.utime(stale, (hours_ago, hours_ago))

    assert load_quantized_encoder(MODEL_PATH, _never, copy) is not None
    assert not stale.exists()
    assert fresh.exists()


def test_failed_digest_write_leaves_no_partial(quantized, tmp_path, caplog):
    cache, _ = quantized
    copy = tmp_path / "cache"
    shutil.copytree(cache, copy)
    [int8] = _int8_files(copy)
    sidecar = int8.with_name(int8.name + ".sha256")
    int8.unlink()
    sidecar.unlink()
    sidecar.mkdir()

    with caplog.at_level(logging.WARNING):
        encoder = load_quantized_encoder(MODEL_PATH, _never, copy)

    assert encoder is not None and not encoder.quantized
    assert "alerts are embedded with the float32 export" in caplog.text
    assert not list(copy.glob("*.partial"))
    assert not int8.exists()


def test_cache_that_is_a_file_is_named_once(monkeypatch, tmp_path, caplog):
    cache = tmp_path / "cache"
    cache.write_text("not a folder")
    monkeypatch.setenv("INCIDENT_CACHE", str(cache))
    fresh = Embedder()
    calls = []
    original = onnx_encoder.load_encoder

    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(onnx_encoder, "load_encoder", counted)

    with caplog.at_level(logging.WARNING):
        query = fresh.embed_query(["disk full"])
        passage = fresh.embed(["disk full"])

    assert np.abs(query - passage).max() < 1e-5
    assert fresh.query_runtime() == "torch"
    assert len(calls) == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [
        f"query embedding stays on torch: the cache {cache} is a file, not a "
        "folder; point INCIDENT_CACHE at a folder"
    ]


def test_query_runtime_names_each_path(quantized, monkeypatch, tmp_path):
    cache, _ = quantized
    monkeypatch.setenv("INCIDENT_CACHE", str(cache))

    assert Embedder().query_runtime() == "onnx int8"
    assert Embedder(quantized_queries=False).query_runtime() == "onnx float32"
    assert Embedder(onnx=False).query_runtime() == "torch"
