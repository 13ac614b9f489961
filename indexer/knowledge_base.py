"""The knowledge base: records in the database and the FAISS index built from them."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from indexer.database import Change, Database, PassageRef, sqlite_path
from indexer.embedding import Embedder
from indexer.errors import ConfigurationError, KnowledgeBaseError, RecordNotFoundError
from indexer.normalize import expand_identifiers, normalize_text
from indexer.passages import (
    Passage,
    find_boilerplate,
    split_passages,
    strip_boilerplate,
)
from indexer.record import SYMPTOM_SECTIONS, IncidentRecord
from indexer.settings import IndexerSettings
from indexer.vector_index import VectorIndex

logger = logging.getLogger(__name__)

EMBED_BATCH = 512


@dataclass(frozen=True)
class WriteSummary:
    """What one build, add or remove changed."""

    added: int
    replaced: int
    removed: int
    passages: int
    seconds: float
    data_version: int


@dataclass(frozen=True)
class Stats:
    """Size and provenance of a knowledge base."""

    records: int
    records_by_kind: dict[str, int]
    passages: int
    vectors: int
    index_type: str
    model: str
    dimension: int
    data_version: int
    database: str


class KnowledgeBase:
    """Past incidents, postmortems and runbooks, searchable by meaning and by keyword.

    The database is the truth; the vector index is rebuilt from the vectors stored
    there whenever it is missing, unreadable or older than the data.
    """

    def __init__(
        self,
        settings: IndexerSettings | None = None,
        embedder: Embedder | None = None,
        create: bool = True,
    ) -> None:
        """Open the knowledge base; with create=False a missing one is an error.

        Commands that only read pass create=False, so a mistyped INCIDENT_HOME is
        reported instead of silently answering from a new, empty knowledge base.
        """
        self.settings = settings or IndexerSettings()
        url = self.settings.resolved_database_url
        path = sqlite_path(url)
        if not create and path is not None and not path.is_file():
            raise KnowledgeBaseError(
                f"no knowledge base at {path}; build one with 'indexer build SOURCES' "
                "or point INCIDENT_HOME (or --home) at an existing one"
            )
        self.database = Database(url)
        self.embedder = embedder or Embedder(
            self.settings.model, self.settings.batch_size
        )
        self._index: VectorIndex | None = None
        self._lock = threading.RLock()

    # Writes ---------------------------------------------------------------

    def build(
        self, records: Sequence[IncidentRecord], progress: bool = False
    ) -> WriteSummary:
        """Replace the whole knowledge base with these records."""
        started = time.perf_counter()
        records = _unique_by_id(records)
        boilerplate = find_boilerplate(records)
        items, keywords = self._prepare(records, boilerplate, progress)

        self._check_model(allow_change=True)
        self.database.set_meta("boilerplate", sorted(boilerplate))
        change = self.database.upsert(items, keywords, replace_all=True)
        index = self._new_index(change.vectors)
        index.add(np.asarray(change.added, dtype=np.int64), change.vectors)
        self._save(index, change.data_version)

        summary = WriteSummary(
            len(records),
            0,
            0,
            len(change.added),
            time.perf_counter() - started,
            change.data_version,
        )
        logger.info(
            "built knowledge base: %d records, %d passages in %.1f s",
            summary.added,
            summary.passages,
            summary.seconds,
        )
        return summary

    def add(self, records: Sequence[IncidentRecord]) -> WriteSummary:
        """Add records in place; a record with an existing id replaces the old one."""
        started = time.perf_counter()
        records = _unique_by_id(records)
        self._check_model(allow_change=False)
        existing = set(self.database.get_records([r.id for r in records]))
        boilerplate = self._boilerplate()
        items, keywords = self._prepare(records, boilerplate, progress=False)

        change = self.database.upsert(items, keywords)
        self._apply(change)
        return WriteSummary(
            len(records) - len(existing),
            len(existing),
            0,
            len(change.added),
            time.perf_counter() - started,
            change.data_version,
        )

    def remove(self, record_ids: Sequence[str]) -> WriteSummary:
        """Remove records by id; raises RecordNotFoundError for an unknown id."""
        started = time.perf_counter()
        known = self.database.get_records(record_ids)
        for record_id in record_ids:
            if record_id not in known:
                raise RecordNotFoundError(record_id)

        change = self.database.remove(record_ids)
        self._apply(change)
        return WriteSummary(
            0, 0, len(known), 0, time.perf_counter() - started, change.data_version
        )

    # Reads ----------------------------------------------------------------

    def get(self, record_id: str) -> IncidentRecord:
        """Return one record; raises RecordNotFoundError when the id is unknown."""
        record = self.database.get_records([record_id]).get(record_id)
        if record is None:
            raise RecordNotFoundError(record_id)
        return record

    def get_many(self, record_ids: Sequence[str]) -> dict[str, IncidentRecord]:
        """Return the known records among record_ids, keyed by id."""
        return self.database.get_records(record_ids)

    def stats(self) -> Stats:
        """Return counts, model and data version, for `indexer stats` and health."""
        counts = self.database.count_records()
        index = self.vector_index()
        return Stats(
            records=sum(counts.values()),
            records_by_kind=counts,
            passages=self.database.count_passages(),
            vectors=index.size,
            index_type=index.info.index_type,
            model=str(self.database.get_meta("model", self.settings.model)),
            dimension=index.info.dimension,
            data_version=self.database.data_version(),
            database=self.database.url,
        )

    def search_passages(
        self, vector: np.ndarray, k: int
    ) -> list[tuple[PassageRef, float]]:
        """Return up to k passages by cosine similarity in [-1, 1], higher is closer."""
        hits = self.vector_index().search(vector, k)
        refs = self.database.passage_refs([passage_id for passage_id, _ in hits])
        return [(refs[pid], score) for pid, score in hits if pid in refs]

    def vector_index(self) -> VectorIndex:
        """Return the vector index for the current data, loading or rebuilding it."""
        version = self.database.data_version()
        with self._lock:
            if self._index is not None and self._index.info.data_version == version:
                return self._index
            self._index = self._load_or_rebuild(version)
            return self._index

    def embed_query(self, text: str) -> np.ndarray:
        """Embed an alert or search text, normalised like the indexed passages."""
        return self.embedder.embed([normalize_text(text)])[0]

    # Helpers --------------------------------------------------------------

    def _prepare(
        self,
        records: Sequence[IncidentRecord],
        boilerplate: frozenset[str],
        progress: bool,
    ) -> tuple[
        list[tuple[IncidentRecord, list[Passage], np.ndarray]], list[dict[str, str]]
    ]:
        passages = [split_passages(record, boilerplate) for record in records]
        texts = [p.text for group in passages for p in group]
        vectors = self._embed(texts, progress)

        items = []
        offset = 0
        for record, group in zip(records, passages, strict=True):
            items.append((record, group, vectors[offset : offset + len(group)]))
            offset += len(group)
        keywords = [keyword_fields(record, boilerplate) for record in records]
        return items, keywords

    def _embed(self, texts: list[str], progress: bool) -> np.ndarray:
        parts = []
        with tqdm(
            total=len(texts),
            desc="embedding passages",
            unit="passage",
            disable=not progress,
        ) as bar:
            for start in range(0, len(texts), EMBED_BATCH):
                batch = texts[start : start + EMBED_BATCH]
                parts.append(self.embedder.embed(batch))
                bar.update(len(batch))
        if not parts:
            return np.zeros((0, self.embedder.dimension), dtype=np.float32)
        return np.concatenate(parts)

    def _check_model(self, allow_change: bool) -> None:
        """Store the model on first use; refuse to mix vectors of two models."""
        stored = self.database.get_meta("model")
        if stored is None or allow_change:
            self.database.set_meta("model", self.settings.model)
            self.database.set_meta("dimension", self.embedder.dimension)
            return
        if stored != self.settings.model:
            raise ConfigurationError(
                f"the knowledge base was embedded with model {stored!r}, but "
                f"INCIDENT_MODEL is {self.settings.model!r}; set "
                f"INCIDENT_MODEL={stored} or rebuild with "
                "'indexer build SOURCES...'"
            )

    def _boilerplate(self) -> frozenset[str]:
        """Return the template lines found at the last full build."""
        stored = self.database.get_meta("boilerplate", [])
        return (
            frozenset(str(line) for line in stored)
            if isinstance(stored, list)
            else frozenset()
        )

    def _new_index(self, sample: np.ndarray) -> VectorIndex:
        dimension = int(self.database.get_meta("dimension") or self.embedder.dimension)  # type: ignore[call-overload]
        model = str(self.database.get_meta("model", self.settings.model))
        return VectorIndex.create(dimension, model, sample if len(sample) else None)

    def _apply(self, change: Change) -> None:
        """Apply one database change to the vector index in place and save it."""
        with self._lock:
            index = self._load_or_rebuild(change.data_version - 1)
            index.remove(change.removed)
            if change.added:
                index.add(np.asarray(change.added, dtype=np.int64), change.vectors)
            self._save(index, change.data_version)

    def _load_or_rebuild(self, version: int) -> VectorIndex:
        path = self.settings.index_path
        try:
            index = VectorIndex.load(path)
            if index.info.data_version == version:
                return index
            logger.info(
                "vector index reflects data version %d, database is at %d; "
                "rebuilding it from the database",
                index.info.data_version,
                version,
            )
        except KnowledgeBaseError as error:
            if path.exists():
                logger.warning("%s; rebuilding it from the database", error)
        return self._rebuild(self.database.data_version())

    def _rebuild(self, version: int) -> VectorIndex:
        started = time.perf_counter()
        batches = list(self.database.iter_vectors())
        ids = (
            np.concatenate([i for i, _ in batches])
            if batches
            else np.zeros(0, np.int64)
        )
        vectors = (
            np.concatenate([v for _, v in batches])
            if batches
            else np.zeros((0, 0), np.float32)
        )
        index = self._new_index(vectors)
        index.add(ids, vectors)
        self._save(index, version)
        logger.info(
            "rebuilt vector index: %d vectors in %.1f s",
            index.size,
            time.perf_counter() - started,
        )
        return index

    def _save(self, index: VectorIndex, version: int) -> None:
        index.save(self.settings.index_path, version)
        self._index = index


def keyword_fields(
    record: IncidentRecord, boilerplate: frozenset[str]
) -> dict[str, str]:
    """Return the text of each full-text column for a record."""

    def clean(value: str) -> str:
        return expand_identifiers(strip_boilerplate(normalize_text(value), boilerplate))

    symptom = [
        text for name, text in record.sections.items() if name in SYMPTOM_SECTIONS
    ]
    body = [
        text for name, text in record.sections.items() if name not in SYMPTOM_SECTIONS
    ]
    labels = [value for key, value in record.labels.items() if key != "alertname"]
    return {
        "title": clean(record.title),
        "alerts": expand_identifiers(" ".join(record.alert_names)),
        "labels": clean(" ".join(labels)),
        "symptom": clean("\n".join(symptom)),
        "body": clean("\n".join(body)),
    }


def _unique_by_id(records: Sequence[IncidentRecord]) -> list[IncidentRecord]:
    """Keep the last record of each id, as a later file supersedes an earlier one."""
    by_id: dict[str, IncidentRecord] = {}
    for record in records:
        if record.id in by_id:
            logger.warning(
                "record id %s appears more than once (%s and %s); keeping the last",
                record.id,
                by_id[record.id].source,
                record.source,
            )
        by_id[record.id] = record
    return list(by_id.values())
