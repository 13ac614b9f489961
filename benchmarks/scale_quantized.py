"""A quantized query embedding beside the model the product uses.

torch's dynamic int8 quantization of the linear layers is the cheapest way to a
faster embedding on CPU: no export, no new runtime. The product uses it only if
the query vectors stay close to the ones the stored passages were compared with
when the ranking was measured, so this measures both the speed and the drift.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks.scale_queries import time_each
from indexer.embedding import Embedder


def measure_quantized(
    embedder: Embedder, queries: Sequence[str], records: Sequence[np.ndarray]
) -> dict[str, Any]:
    """Time one query embedding with the float32 model and an int8 copy of it.

    Returns the p50 and p99 milliseconds of each, and the cosine similarity of
    each query's int8 vector to its float32 vector (mean and minimum). It also
    returns how often the two vectors rank the same record first and how many of
    the ten closest records they share. records contains each record's passage
    vectors, and a record is as close as its closest passage. Runs with the
    process's current thread count.
    """
    import torch

    model = embedder.model
    with warnings.catch_warnings():
        # torch warns that its quantized tensor functions are deprecated.
        warnings.simplefilter("ignore")
        quantized = torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8
        )

    def encode(encoder: Any, query: str) -> np.ndarray:
        return np.asarray(encoder.encode([query], normalize_embeddings=True)[0])

    full = time_each(queries, lambda q: encode(model, q))
    small = time_each(queries, lambda q: encode(quantized, q))
    full_vectors = np.stack([encode(model, q) for q in queries])
    small_vectors = np.stack([encode(quantized, q) for q in queries])
    cosine = (full_vectors * small_vectors).sum(axis=1)
    full_top = _closest_records(full_vectors, records)
    small_top = _closest_records(small_vectors, records)
    return {
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
