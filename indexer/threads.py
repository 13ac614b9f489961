"""How many CPU threads embedding and vector search use.

Torch and FAISS each start one thread per core by default. Two recommendations
computed at once then run four busy threads on two cores, and on a shared machine
a single query embedding was measured to take about ten times longer with two
threads than with one (docs/BENCHMARKS.md, "Threads").
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
