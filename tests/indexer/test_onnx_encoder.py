"""The ONNX Runtime path for alerts gives the torch model's vectors, or steps aside."""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time

import numpy as np
import pytest
import torch

from indexer import onnx_encoder
from indexer.embedding import Embedder, resolve_model_path
from indexer.errors import ConfigurationError
from indexer.lock import cache_lock
from indexer.onnx_encoder import exportable, fingerprint, load_encoder
from indexer.settings import IndexerSettings, load_settings

MODEL_PATH = resolve_model_path("all-MiniLM-L6-v2")
TEXTS = [
    "KubePodCrashLooping",
    "  disk full on db-primary-2 \n",
    "Ünïcödé: the queue consumer lag of payments-worker passed 10 min",
    "p99 latency doubled after the deploy; " * 80,
    "",
]


def _never() -> None:
    raise AssertionError("the torch model was needed, but the export was cached")


@pytest.fixture(scope="module")
def exported(tmp_path_factory, embedder):
    cache = tmp_path_factory.mktemp("onnx-cache")
    encoder = load_encoder(MODEL_PATH, lambda: embedder.model, cache)
    assert encoder is not None
    return cache, encoder


def test_bundled_model_can_be_exported():
    assert exportable(MODEL_PATH) is None


def test_vectors_match_torch(exported, embedder):
    _, encoder = exported
    expected = embedder.model.encode(TEXTS, normalize_embeddings=True)

    one_by_one = np.stack([encoder.embed([text])[0] for text in TEXTS])
    together = encoder.embed(TEXTS)

    assert one_by_one.dtype == np.float32
    assert np.abs(one_by_one - expected).max() < 1e-5
    assert np.abs(together - expected).max() < 1e-5
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)


def test_cached_export_is_reused(exported):
    cache, encoder = exported
    files = list(cache.glob("*.onnx"))
    name = f"embedding-{fingerprint(MODEL_PATH)}.onnx"
    assert [path.name for path in files] == [name]
    assert (cache / f"{name}.sha256").is_file()
    before = files[0].stat().st_mtime_ns

    again = load_encoder(MODEL_PATH, _never, cache)

    assert again is not None
    assert files[0].stat().st_mtime_ns == before
    assert np.array_equal(again.embed(["disk full"]), encoder.embed(["disk full"]))
    assert not list(cache.glob("*.partial"))


def test_waits_for_export_by_another(exported, tmp_path):
    cache, encoder = exported
    empty = tmp_path / "cache"
    empty.mkdir()
    name = f"embedding-{fingerprint(MODEL_PATH)}.onnx"
    holding = threading.Event()

    def export_elsewhere() -> None:
        # Stands in for a second process that started exporting first.
        with cache_lock(empty / f"{name}.lock", timeout=10):
            holding.set()
            time.sleep(0.5)
            shutil.copy(cache / f"{name}.sha256", empty / f"{name}.sha256")
            shutil.copy(cache / name, empty / name)

    other = threading.Thread(target=export_elsewhere)
    other.start()
    assert holding.wait(10)
    waited = load_encoder(MODEL_PATH, _never, empty)
    other.join()

    assert waited is not None
    assert np.array_equal(waited.embed(["disk full"]), encoder.embed(["disk full"]))


def test_damaged_export_is_made_again(exported, embedder, tmp_path):
    cache, encoder = exported
    copy = tmp_path / "cache"
    shutil.copytree(cache, copy)
    target = next(copy.glob("*.onnx"))
    target.write_bytes(target.read_bytes()[:1000])

    repaired = load_encoder(MODEL_PATH, lambda: embedder.model, copy)

    assert repaired is not None
    assert target.stat().st_size > 1_000_000
    difference = repaired.embed(["disk full"]) - encoder.embed(["disk full"])
    assert np.abs(difference).max() < 1e-6


def test_unwritable_cache_keeps_torch(embedder, tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    caplog.set_level(logging.WARNING, logger="indexer.onnx_encoder")

    assert load_encoder(MODEL_PATH, lambda: embedder.model, blocker / "cache") is None
    assert "query embedding stays on torch" in caplog.text
    assert str(blocker / "cache") in caplog.text


def test_other_pooling_stays_on_torch(tmp_path):
    model = tmp_path / "model"
    shutil.copytree(MODEL_PATH, model)
    pooling = model / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    config.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    pooling.write_text(json.dumps(config))

    assert exportable(model) == "pooling is not the mean of the tokens"
    assert load_encoder(model, _never, tmp_path / "cache") is None
    assert exportable(tmp_path / "missing") is not None


def test_session_follows_thread_count(exported):
    _, encoder = exported
    original = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        first = encoder.embed(["disk full"])
        assert encoder._threads == 1
        torch.set_num_threads(2)
        second = encoder.embed(["disk full"])
        assert encoder._threads == 2
    finally:
        torch.set_num_threads(original)
    assert np.abs(first - second).max() < 1e-6


def test_embedder_routes_alerts_to_onnx(monkeypatch, tmp_path):
    monkeypatch.setenv("INCIDENT_CACHE", str(tmp_path))
    embedder = Embedder()
    calls = []
    original = Embedder.onnx_encoder

    def counted(self):
        encoder = original(self)
        calls.append(encoder)
        return encoder

    monkeypatch.setattr(Embedder, "onnx_encoder", counted)
    alert = embedder.embed(["disk full"])
    batch = embedder.embed(TEXTS[:2] * 3)

    assert len(calls) == 1
    assert calls[0] is not None
    assert list(tmp_path.glob("embedding-*.onnx"))
    expected = embedder.model.encode(["disk full"], normalize_embeddings=True)
    assert np.abs(alert - expected).max() < 1e-5
    assert batch.shape == (6, 384)


def test_onnx_off_never_exports(monkeypatch, tmp_path):
    monkeypatch.setenv("INCIDENT_CACHE", str(tmp_path))
    embedder = Embedder(onnx=False)

    vector = embedder.embed(["disk full"])

    assert embedder.onnx_encoder() is None
    assert not list(tmp_path.iterdir())
    assert vector.shape == (1, 384)


def test_changed_weights_are_exported_again(exported, embedder, tmp_path):
    # ONNX Runtime loads a file with overwritten weights and gives wrong vectors.
    cache, encoder = exported
    copy = tmp_path / "cache"
    shutil.copytree(cache, copy)
    target = next(copy.glob("*.onnx"))
    data = bytearray(target.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4096] = bytes(4096)
    target.write_bytes(bytes(data))

    repaired = load_encoder(MODEL_PATH, lambda: embedder.model, copy)

    assert repaired is not None
    difference = repaired.embed(["disk full"]) - encoder.embed(["disk full"])
    assert np.abs(difference).max() < 1e-6
    assert target.read_bytes() != bytes(data)


def test_missing_digest_is_exported_again(exported, embedder, tmp_path):
    cache, _ = exported
    copy = tmp_path / "cache"
    shutil.copytree(cache, copy)
    next(copy.glob("*.sha256")).unlink()

    assert load_encoder(MODEL_PATH, lambda: embedder.model, copy) is not None
    assert len(list(copy.glob("*.sha256"))) == 1


def test_stale_partials_are_removed(embedder, tmp_path):
    stale = tmp_path / "embedding-abc.onnxk3j2.partial"
    fresh = tmp_path / "embedding-def.onnxq8x1.partial"
    for path in (stale, fresh):
        path.write_bytes(b"unfinished")
    hours_ago = time.time() - 2 * 3600
    os.utime(stale, (hours_ago, hours_ago))

    assert load_encoder(MODEL_PATH, lambda: embedder.model, tmp_path) is not None
    assert not stale.exists()
    assert fresh.exists()


def test_long_errors_are_cut():
    text = onnx_encoder._short(ValueError("x" * 100_000))

    assert len(text) == onnx_encoder.MAX_ERROR_CHARS + 4
    assert text.endswith(" ...")


def test_invalid_onnx_setting_names_variable(monkeypatch):
    monkeypatch.setenv("INCIDENT_ONNX", "banana")

    with pytest.raises(ConfigurationError) as raised:
        load_settings(IndexerSettings)

    assert "INCIDENT_ONNX" in str(raised.value)
    assert "valid boolean" in str(raised.value)
    assert "banana" in str(raised.value)
