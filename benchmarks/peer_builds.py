"""Build the chromadb and BM25 peers and measure what a build costs.

A peer is built from (record, passages, vectors) items, as the scale benchmark
generates them, or from a knowledge base folder, whose database stores every
record and the vector of each of its passages.
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from benchmarks.peer_indexes import Bm25Peer, ChromaPeer, RecordVectors
from indexer.embedding import Embedder
from indexer.knowledge_base import KnowledgeBase
from indexer.passages import Passage
from indexer.record import IncidentRecord
from indexer.settings import IndexerSettings

logger = logging.getLogger(__name__)

# A record, its passages and one vector per passage, as KnowledgeBase.build stores.
PassageItem = tuple[IncidentRecord, Sequence[Passage], np.ndarray]
READ_BATCH = 2_000

Item = TypeVar("Item")


@dataclass(frozen=True)
class BuildStats:
    """Size and cost of building one peer.

    Attributes:
        peer: Name of the peer.
        records: Records added.
        items: What the peer stores: passages for chromadb, documents for BM25.
        seconds: Wall time of the whole build, reading the input included.
        insert_seconds: Wall time spent in the peer's own insert and index calls.
        start_rss_bytes: Resident set size of this process when the build started.
        peak_rss_bytes: Peak resident set size of this process when the build
            ended. It counts whatever the process held before, such as the model
            or another peer, so the build's own peak is at most this minus
            start_rss_bytes, unless an earlier step set the process peak.
    """

    peer: str
    records: int
    items: int
    seconds: float
    insert_seconds: float
    start_rss_bytes: int
    peak_rss_bytes: int

    @property
    def items_per_second(self) -> float:
        """Insert throughput: items over insert_seconds."""
        return self.items / self.insert_seconds if self.insert_seconds else 0.0


def measure_build(
    peer: str,
    batches: Iterable[list[Item]],
    add: Callable[[list[Item]], int],
    finish: Callable[[], None] | None = None,
) -> BuildStats:
    """Feed batches to a peer's add, then call finish, timing both."""
    start_rss = current_rss_bytes()
    started = time.perf_counter()
    insert_seconds = 0.0
    records = items = 0
    for batch in batches:
        call_started = time.perf_counter()
        items += add(batch)
        insert_seconds += time.perf_counter() - call_started
        records += len(batch)
    if finish is not None:
        call_started = time.perf_counter()
        finish()
        insert_seconds += time.perf_counter() - call_started

    stats = BuildStats(
        peer=peer,
        records=records,
        items=items,
        seconds=time.perf_counter() - started,
        insert_seconds=insert_seconds,
        start_rss_bytes=start_rss,
        # Linux reports ru_maxrss in KiB.
        peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    )
    logger.info(
        "built %s: %d records, %d items in %.1f s (%.0f items/s inserted)",
        peer,
        records,
        items,
        stats.seconds,
        stats.items_per_second,
    )
    return stats


def current_rss_bytes() -> int:
    """Return this process's resident set size, or 0 where /proc is missing."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * resource.getpagesize()


class StoredKnowledgeBase:
    """The records and passage vectors of a stored knowledge base, read in batches."""

    def __init__(self, home: Path, embedder: Embedder | None = None) -> None:
        knowledge_base = KnowledgeBase(IndexerSettings(home=home), create=False)
        self.database = knowledge_base.database
        self.model = str(self.database.get_meta("model", knowledge_base.settings.model))
        if embedder is not None and self.model != embedder.model_name:
            raise ValueError(
                f"the knowledge base at {home} was embedded with model {self.model!r}, "
                f"but the embedder is {embedder.model_name!r}; pass an Embedder of "
                "the stored model"
            )
        self.record_ids = sorted(self.database.record_hashes())

    def record_batches(self, size: int = READ_BATCH) -> Iterator[list[IncidentRecord]]:
        """Yield the records, size at a time, in id order."""
        for first in range(0, len(self.record_ids), size):
            batch = self.record_ids[first : first + size]
            records = self.database.get_records(batch)
            yield [records[record_id] for record_id in batch if record_id in records]

    def vector_batches(self, size: int = READ_BATCH) -> Iterator[list[RecordVectors]]:
        """Yield each record's id and passage vectors, size records at a time."""
        for first in range(0, len(self.record_ids), size):
            batch = self.record_ids[first : first + size]
            rows = sorted(
                self.database.record_passages(batch),
                key=lambda row: row[0].passage_id,
            )
            by_record: dict[str, list[np.ndarray]] = {}
            for ref, vector in rows:
                by_record.setdefault(ref.record_id, []).append(vector)
            yield [
                (record_id, np.stack(by_record[record_id]))
                for record_id in batch
                if record_id in by_record
            ]


# Building -----------------------------------------------------------------------


def build_chroma_peer(
    folder: Path, embedder: Embedder, items: Iterable[PassageItem]
) -> tuple[ChromaPeer, BuildStats]:
    """Build a ChromaPeer in folder from (record, passages, vectors) items."""
    peer = ChromaPeer(folder, embedder)
    batches = _batches(_record_vectors(items))
    return peer, measure_build(peer.name, batches, peer.add)


def build_chroma_peer_from_home(
    folder: Path, embedder: Embedder, home: Path
) -> tuple[ChromaPeer, BuildStats]:
    """Build a ChromaPeer in folder from the passage vectors stored in a home.

    Raises ValueError when the knowledge base was embedded with another model than
    the embedder's, since query and passage vectors would not be comparable.
    """
    stored = StoredKnowledgeBase(home, embedder)
    peer = ChromaPeer(folder, embedder)
    return peer, measure_build(peer.name, stored.vector_batches(), peer.add)


def build_bm25_peer(items: Iterable[PassageItem]) -> tuple[Bm25Peer, BuildStats]:
    """Build a Bm25Peer over the records of (record, passages, vectors) items."""
    peer = Bm25Peer()
    batches = _batches(record for record, _, _ in items)
    return peer, measure_build(peer.name, batches, peer.add, finish=peer.index)


def build_bm25_peer_from_home(home: Path) -> tuple[Bm25Peer, BuildStats]:
    """Build a Bm25Peer over the records stored in a knowledge base home."""
    stored = StoredKnowledgeBase(home)
    peer = Bm25Peer()
    return peer, measure_build(
        peer.name, stored.record_batches(), peer.add, finish=peer.index
    )


def _record_vectors(items: Iterable[PassageItem]) -> Iterator[RecordVectors]:
    for record, passages, vectors in items:
        if len(passages) != len(vectors):
            raise ValueError(
                f"record {record.id} has {len(passages)} passages but "
                f"{len(vectors)} vectors; pass one vector per passage"
            )
        yield record.id, vectors


def _batches(values: Iterable[Any], size: int = READ_BATCH) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
