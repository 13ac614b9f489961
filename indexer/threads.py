"""How many CPU threads embedding and vector search use.

Torch and FAISS each start one thread per core by default. Two recommendations
computed at once then run four busy threads on two cores. On the two-core
benchmark machine, one query embedding beside a second worker took a median
29 ms with one thread each against 33 ms with two (docs/BENCHMARKS.md,
"Threads"). While other jobs kept the cores busy, it took 1.2 s with two threads
against 0.1 s with one.
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)


def available_cores() -> int:
    """Return the number of cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def set_threads(count: int) -> None:
    """Use count threads in torch and FAISS, for the whole process."""
    import faiss
    import torch

    torch.set_num_threads(count)
    faiss.omp_set_num_threads(count)
    logger.info("embedding and vector search use %d threads", count)
