"""Document frequencies of query terms, cached while the knowledge base barely changes.

FTS5's vocabulary table counts a term's records by reading the term's whole list
of records, so one lookup of a term found in 100,000 records took 34 ms on the
benchmark machine, and a query has about twenty terms. Frequencies only weight
terms (IDF) and pick the rare ones, so a value that is off by less than one
percent of the records changes nothing that matters. Cached values are therefore
kept until the number of records has moved by more than MAX_DRIFT since they were
read. A cache that fill() made is then read again on a background thread, and
searches go on with the old values meanwhile. Clearing it would make the next
searches look up their common terms one by one, as after start-up (see fill()).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from indexer.database import Database

logger = logging.getLogger(__name__)

MAX_DRIFT = 0.01
# fill() reads the terms in at least this many records: looking one of them up
# reads a list of that many records, while rarer terms are quick to look up.
FILL_MIN_DOCUMENTS = 1_000
# Distinct terms kept; alerts reuse a small vocabulary, so this is rarely reached.
MAX_TERMS = 200_000


class DocumentFrequencies:
    """Cached document frequencies and record count of one database."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._lock = threading.Lock()
        self._version: int | None = None
        self._total = 0
        self._total_at_fill = 0
        self._frequencies: dict[str, int] = {}
        # The min_documents of the last fill(), None before the first one.
        self._fill_min: int | None = None
        self._refill: threading.Thread | None = None

    def fill(self, min_documents: int = FILL_MIN_DOCUMENTS) -> int:
        """Read the frequency of every term in at least min_documents records.

        Without this the first searches after start-up each look up their common
        terms one by one: at 1,000,000 synthetic records such searches took up to
        290 ms, against at most 39 ms once the terms were cached. This fill took
        4.3 s there. Returns how many terms were cached.
        """
        version = self.database.data_version()
        total = self.database.record_count()
        common = self.database.common_terms(min_documents, MAX_TERMS)
        with self._lock:
            self._version = version
            self._total = total
            self._total_at_fill = total
            self._frequencies = common
            self._fill_min = min_documents
        return len(common)

    def wait_for_refill(self, timeout: float) -> bool:
        """Wait for a background refill to finish; return whether none is running."""
        refill = self._refill
        if refill is not None:
            refill.join(timeout)
            return not refill.is_alive()
        return True

    def cached(self, terms: Sequence[str]) -> tuple[dict[str, int], int] | None:
        """Return what lookup() would when every term is cached, or None otherwise.

        Reads only the data version, so a search can call it on its own thread
        before the query embedding starts. After a write it returns None, and
        lookup() then refreshes the record count.
        """
        version = self.database.data_version()
        with self._lock:
            if version != self._version or any(
                t not in self._frequencies for t in terms
            ):
                return None
            known = {t: self._frequencies[t] for t in terms}
            total = self._total
        return {t: count for t, count in known.items() if count > 0}, total

    def lookup(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """Return how many records contain each term, and the number of records."""
        version = self.database.data_version()
        with self._lock:
            if version != self._version:
                self._total = self.database.record_count()
                self._version = version
                drift = abs(self._total - self._total_at_fill)
                if drift > MAX_DRIFT * max(self._total_at_fill, 1):
                    self._refresh()
            missing = [t for t in terms if t not in self._frequencies]
            total = self._total

        found: dict[str, int] = {}
        if missing:
            found, _ = self.database.document_frequencies(missing, count=False)
            with self._lock:
                if len(self._frequencies) + len(missing) > MAX_TERMS:
                    self._frequencies.clear()
                self._frequencies.update({t: found.get(t, 0) for t in missing})
        # Only the query's terms are copied: searches call this beside the query
        # embedding, which waits for the GIL while this thread holds it.
        with self._lock:
            known = {t: self._frequencies.get(t, found.get(t, 0)) for t in terms}
        return {t: count for t, count in known.items() if count > 0}, total

    def _refresh(self) -> None:
        """Refill a filled cache in the background, or clear one that was not.

        Call it with the lock held.
        """
        if self._fill_min is None:
            self._frequencies.clear()
            self._total_at_fill = self._total
            return
        if self._refill is not None and self._refill.is_alive():
            return
        self._refill = threading.Thread(
            target=self._run_refill,
            args=(self._fill_min,),
            name="term-frequency-refill",
            daemon=True,
        )
        self._refill.start()

    def _run_refill(self, min_documents: int) -> None:
        try:
            terms = self.fill(min_documents)
        except Exception:
            # The old values stay until the next write starts another refill.
            logger.exception("refilling the cached document frequencies failed")
            return
        logger.info("refilled the cached document frequencies of %d terms", terms)
