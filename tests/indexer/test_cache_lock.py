"""The lock that lets one process at a time make a cached model file."""

from __future__ import annotations

import time

from indexer.lock import cache_lock


def test_cache_lock_excludes_second_holder(tmp_path):
    path = tmp_path / "cache" / "model.onnx.lock"

    with cache_lock(path, timeout=5) as first:
        started = time.monotonic()
        with cache_lock(path, timeout=0.3) as second:
            waited = time.monotonic() - started

    assert first is True
    assert second is False
    assert waited >= 0.3


def test_cache_lock_released_after_holder(tmp_path):
    path = tmp_path / "model.onnx.lock"
    with cache_lock(path, timeout=5):
        pass

    with cache_lock(path, timeout=0) as again:
        assert again is True
