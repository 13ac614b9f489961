"""The int8 query embedding the product uses, beside the float32 export.

Alerts and searches are embedded by an int8 copy of the ONNX export, while the
stored passages keep float32 vectors. This measures the speed of both, and how far
the query vectors drift from the ones the ranking was tuned with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks.scale_queries import time_each
from indexer.embedding import Embedder
from indexer.normalize import normalize_text


def measure_quantized(
    embedder: Embedder, queries: Sequence[str], records: Sequence[np.ndarray]
) -> dict[str, Any]:
    """Time one query embedding with the float32 export and with its int8 copy.

    Returns the p50 and p99 milliseconds of each, and the cosine similarity of
    each query's int8 vector to its float32 vector (mean and minimum). It also
    returns how often the two vectors rank the same record first and how many of
    the ten closest records they share. records contains each record's passage
    vectors, and a record is as close as its closest passage. Runs with the
    process's current thread count. Returns {} when either encoder is missing.
    """
    import torch

    full_encoder = embedder.onnx_encoder()
    small_encoder = embedder.query_encoder()
    if full_encoder is None or small_encoder is None:
        return {}
    texts = [normalize_text(query) for query in queries]

    full = time_each(texts, lambda q: full_encoder.embed([q]))
    small = time_each(texts, lambda q: small_encoder.embed([q]))
    full_vectors = np.concatenate([full_encoder.embed([q]) for q in texts])
    small_vectors = np.concatenate([small_encoder.embed([q]) for q in texts])
    cosine = (full_vectors * small_vectors).sum(axis=1)
    full_top = _closest_records(full_vectors, records)
    small_top = _closest_records(small_vectors, records)
    return {
        "runtime": "onnx",
        "same_first": float(np.mean(full_top[:, 0] == small_top[:, 0])),
        "shared_of_ten": float(
            np.mean(
                [len(set(a) & set(b)) for a, b in zip(full_top, small_top, strict=True)]
            )
        ),
        "float32_p50": full.p50,
        "float32_p99": full.p99,
        "int8_p50": small.p50,
        "int8_p99": small.p99,
        "cosine_mean": float(cosine.mean()),
        "cosine_min": float(cosine.min()),
        "threads": torch.get_num_threads(),
    }


def _closest_records(queries: np.ndarray, records: Sequence[np.ndarray]) -> np.ndarray:
    """Return each query's ten closest records, closest first, by best passage."""
    best = np.stack([(queries @ passages.T).max(axis=1) for passages in records], 1)
    return np.argsort(-best, axis=1, kind="stable")[:, :10]
