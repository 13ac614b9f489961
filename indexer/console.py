"""Running a command-line entry point as a console script."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable


def exit_with(main: Callable[[], int]) -> None:
    """Run main() and exit with its status, skipping the collection at shutdown.

    Shutting down with the embedding model loaded ran a garbage collection that
    took over a second, so the heap is frozen first and exit skips it (measured
    on the 2-core machine of docs/BENCHMARKS.md).
    """
    status = main()
    gc.freeze()
    sys.exit(status)
