"""Running a command-line entry point as a console script."""

from __future__ import annotations

import gc
import importlib
import os
import sys
from collections.abc import Callable

# The exit status of a process stopped by SIGPIPE in a shell (128 + 13).
BROKEN_PIPE_STATUS = 141
# 128 + SIGINT, the status shells give a command stopped by Ctrl-C.
INTERRUPTED_STATUS = 130


def exit_with(main: Callable[[], int]) -> None:
    """Run main() and exit with its status, skipping the collection at shutdown.

    Shutting down with the embedding model loaded ran a garbage collection that
    took over a second, so the heap is frozen first and exit skips it (measured
    on the 2-core machine of docs/BENCHMARKS.md).
    """
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader of the output, such as `head`, has exited. Stop quietly like
        # other command-line tools, and keep the exit-time flush from failing too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = BROKEN_PIPE_STATUS
    except KeyboardInterrupt:
        # Ctrl-C is a request, not a failure, so it gets one line and no
        # traceback. Transactions and locks were released as the exception rose.
        print("interrupted", file=sys.stderr)
        status = INTERRUPTED_STATUS
    gc.freeze()
    sys.exit(status)


def launch(module: str) -> None:
    """Import a command's module, then run its main() through exit_with().

    Importing the indexer took 1.4 s and the recommender 3.0 s on a 2-core
    machine (scikit-learn, ONNX Runtime), so a Ctrl-C often lands before main()
    runs. It gets the same one
    line and status as later, not a traceback of the imports.
    """
    try:
        main = importlib.import_module(module).main
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED_STATUS)
    exit_with(main)


def run_indexer() -> None:
    """Run the indexer command as a console script."""
    launch("indexer.cli")


def run_recommender() -> None:
    """Run the recommender command as a console script."""
    launch("recommender.cli")
