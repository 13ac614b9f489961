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
    """Use count threads in torch, FAISS and numpy's BLAS, for the whole process.

    BLAS counts too: after numpy's matrix products in scoring, OpenBLAS threads
    keep spinning on the free core, where a search's keyword side runs while the
    next query is embedded. At 100,000 records that took a search from 25 ms to
    30 ms (embedding 16 ms against 20 ms).

    A limit reaches only the libraries loaded so far. SciPy brings its own
    OpenBLAS, loaded when a model export or a classifier first imports it, so
    the environment variable that OpenBLAS reads when it loads is set as well.
    """
    import faiss
    import torch
    from threadpoolctl import threadpool_limits

    os.environ["OPENBLAS_NUM_THREADS"] = str(count)
    torch.set_num_threads(count)
    faiss.omp_set_num_threads(count)
    threadpool_limits(limits=count, user_api="blas")
    logger.info("embedding, vector search and BLAS use %d threads", count)
