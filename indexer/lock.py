"""Advisory file locks: one process at a time writes a knowledge base or cache file."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from indexer.errors import KnowledgeBaseError

_POLL_SECONDS = 0.2


@contextmanager
def write_lock(
    folder: Path, timeout: float, name: str = "write.lock"
) -> Iterator[None]:
    """Hold the knowledge base's write lock, waiting up to timeout seconds for it.

    The lock is an advisory flock on a file in the folder, so the operating system
    releases it when its holder exits, even after SIGKILL. Readers never take it.
    name picks another lock file, for writes of another kind in the same folder.

    Raises:
        KnowledgeBaseError: Another process held the lock for the whole timeout.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with open(path, "a+") as handle:
        if not _acquire(handle.fileno(), timeout):
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise KnowledgeBaseError(
                f"another process (pid {holder}) is writing to the knowledge "
                f"base in {folder}; waited {timeout:.0f} s. Retry when it has "
                "finished, or raise INCIDENT_LOCK_TIMEOUT"
            )

        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextmanager
def cache_lock(path: Path, timeout: float) -> Iterator[bool]:
    """Hold an advisory flock on path while a cached file is made, yield if taken.

    Without it, two processes that start on an empty cache both make the file,
    and one can move its file in after the other has written its digest.
    After timeout seconds the caller goes on without the lock (False), because
    a holder that hangs must not stop the service from starting.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        if not _acquire(handle.fileno(), timeout):
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _acquire(descriptor: int, timeout: float) -> bool:
    """Take an exclusive flock, polling up to timeout seconds; return whether taken."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_SECONDS)
