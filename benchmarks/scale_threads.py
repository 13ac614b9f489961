"""Query embedding latency by thread count, alone and beside a second worker."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from benchmarks.scale_queries import Latency, time_each
from indexer.embedding import Embedder
from indexer.threads import available_cores, set_threads

QUERIES = 50


def measure_threads(
    embedder: Embedder, queries: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Time one query embedding with 1..cores threads, alone and with a neighbour.

    The neighbour is a second thread that embeds queries without pause, as a
    second inference worker of the API does under load. The process's thread
    count is restored afterwards.
    """
    import torch

    original = torch.get_num_threads()
    sample = list(queries[:QUERIES])
    results = {}
    try:
        for threads in range(1, available_cores() + 1):
            set_threads(threads)
            alone = time_each(sample, lambda q: embedder.embed_query([q]))
            together = _beside_neighbour(embedder, sample)
            results[str(threads)] = {
                "alone_p50": alone.p50,
                "alone_p99": alone.p99,
                "beside_p50": together.p50,
                "beside_p99": together.p99,
            }
    finally:
        set_threads(original)
    return results


def _beside_neighbour(embedder: Embedder, sample: list[str]) -> Latency:
    stop = threading.Event()

    def neighbour() -> None:
        while not stop.is_set():
            for query in sample:
                if stop.is_set():
                    return
                embedder.embed_query([query])

    thread = threading.Thread(target=neighbour, daemon=True)
    thread.start()
    try:
        return time_each(sample, lambda q: embedder.embed_query([q]))
    finally:
        stop.set()
        thread.join()
