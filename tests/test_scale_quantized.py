"""The quantized-query benchmark ranks records by their closest passage."""

import numpy as np

from benchmarks.scale_quantized import _closest_records


def test_records_rank_by_their_closest_passage():
    axes = np.eye(12, dtype=np.float32)
    # Record 0 has passages on axes 0 and 1. Each other record n has one
    # passage on axis n + 1.
    records = [axes[[0, 1]]] + [axes[[n + 1]] for n in range(1, 11)]
    queries = np.stack([axes[1], 0.6 * axes[3] + 0.8 * axes[4]])

    top = _closest_records(queries, records)

    assert top.shape == (2, 10)
    assert top[0, 0] == 0
    assert list(top[1, :2]) == [3, 2]
