"""The record of each passage, held in memory as one array indexed by passage id.

The vector index returns passage ids, and a search needs their records.
Looking them up in the passages table meant one random read per passage in a
table of 1.8 GB at 100,000 records, and about ten times that at a million. A
passage never moves to another record and its id is never reused, so the map
only grows: entries for passages stored since the last look are read by id, and
nothing is ever updated. A deleted passage keeps its stale entry, which does no
harm because the vector index no longer returns its id. At 6.7 million passages
the array takes 27 MB.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

import numpy as np

from indexer.database import Database

logger = logging.getLogger(__name__)

# Records per query when the whole map is read from the record_pk index.
LOAD_BATCH = 50_000


class PassageOwners:
    """The record pk of every passage id of one database; 0 where unknown."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._owners = np.zeros(0, dtype=np.int32)
        # Every passage id up to this one has its entry.
        self._known = 0
        self._loaded = False
        self._lock = threading.Lock()

    def records_of(self, passage_ids: Sequence[int]) -> list[int]:
        """Return the distinct record pks of the given passages, in their order.

        Passages of unknown records are left out.
        """
        if not passage_ids:
            return []
        ids = np.asarray(passage_ids, dtype=np.int64)
        if not self._loaded or int(ids.max()) > self._known:
            self.catch_up()
        owners = self._owners
        ids = ids[(ids >= 0) & (ids < len(owners))]
        pks = owners[ids]
        pks = pks[pks > 0]
        _, first = np.unique(pks, return_index=True)
        return [int(pk) for pk in pks[np.sort(first)]]

    def catch_up(self) -> None:
        """Read the entries of the passages stored since the last look."""
        with self._lock:
            if not self._loaded:
                self._load()
                return
            known = self.database.max_passage_id()
            pairs = self.database.passage_owners_after(self._known)
            if len(pairs):
                self._store(pairs)
            # Ids up to the highest stored are settled: a missing one was deleted.
            self._known = max(self._known, known)

    def _load(self) -> None:
        """Read every entry from the record_pk index, a batch of records at a time.

        The index takes 9 MB at 100,000 records, where the passages table
        itself takes 1.8 GB.
        """
        started = time.perf_counter()
        known = self.database.max_passage_id()
        for pairs in self.database.iter_passage_owners(LOAD_BATCH):
            self._store(pairs)
        self._known = max(self._known, known)
        self._loaded = True
        logger.info(
            "read the records of %d passages in %.1f s",
            int(np.count_nonzero(self._owners)),
            time.perf_counter() - started,
        )

    # NOTE: the array is as long as the highest passage id, and every full
    # `indexer build` stores all passages under new ids, so a process that lives
    # through many builds keeps 4 bytes for every passage id ever used.
    def _store(self, pairs: np.ndarray) -> None:
        """Store (passage id, record pk) rows, so that searches see a whole array."""
        top = int(pairs[:, 0].max())
        owners = self._owners
        if top >= len(owners):
            # Grown by half again at least, so many small additions copy rarely.
            grown = np.zeros(max(top + 1, len(owners) * 3 // 2), dtype=np.int32)
            grown[: len(owners)] = owners
            owners = grown
        owners[pairs[:, 0]] = pairs[:, 1]
        self._owners = owners
        self._known = max(self._known, top)
