"""The knowledge base: records in the database and the FAISS index built from them."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace

import numpy as np
from tqdm import tqdm

from indexer.database import Database, PassageRef, sqlite_path
from indexer.embedding import Embedder
from indexer.errors import ConfigurationError, KnowledgeBaseError, RecordNotFoundError
from indexer.lock import write_lock
from indexer.normalize import expand_identifiers, normalize_text
from indexer.passage_owners import PassageOwners
from indexer.passages import (
    Passage,
    find_boilerplate,
    split_passages,
    strip_boilerplate,
)
from indexer.record import SYMPTOM_SECTIONS, IncidentRecord
from indexer.settings import IndexerSettings
from indexer.sync import SyncPlan
from indexer.vector_index import VectorIndex
from indexer.vector_store import VectorStore

logger = logging.getLogger(__name__)

EMBED_BATCH = 512


@dataclass(frozen=True)
class WriteSummary:
    """What one build, add, remove or sync changed."""

    added: int = 0
    replaced: int = 0
    removed: int = 0
    unchanged: int = 0
    passages: int = 0
    seconds: float = 0.0
    data_version: int = 0


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
            self.settings.model,
            self.settings.batch_size,
            self.settings.threads,
            onnx=self.settings.onnx,
            quantized_queries=self.settings.quantized_queries,
        )
        self._model_checked = False
        self.vectors = VectorStore(
            self.database, self.settings, lambda: self.embedder.dimension
        )
        self.owners = PassageOwners(self.database)

    # Writes ---------------------------------------------------------------

    def build(
        self, records: Sequence[IncidentRecord], progress: bool = False
    ) -> WriteSummary:
        """Replace the whole knowledge base with these records."""
        started = time.perf_counter()
        records = _unique_by_id(records)
        boilerplate = find_boilerplate(records)
        items, keywords = self._prepare(records, boilerplate, progress)

        with self._write_lock():
            self._check_model(allow_change=True)
            self.database.set_meta("boilerplate", sorted(boilerplate))
            change = self.database.apply(items, keywords, replace_all=True)
            index = self.vectors.new_index(change.vectors)
            index.add(np.asarray(change.added, dtype=np.int64), change.vectors)
            index.info = replace(
                index.info,
                data_version=change.data_version,
                max_passage_id=max(change.added, default=0),
            )
            self.vectors.replace(index)

        summary = WriteSummary(
            added=len(records),
            passages=len(change.added),
            seconds=time.perf_counter() - started,
            data_version=change.data_version,
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
        items, keywords = self._prepare(records, self._boilerplate(), progress=False)

        with self._write_lock():
            existing = set(self.database.get_records([r.id for r in records]))
            change = self.database.apply(items, keywords)
            self.vectors.checkpoint()
        return WriteSummary(
            added=len(records) - len(existing),
            replaced=len(existing),
            passages=len(change.added),
            seconds=time.perf_counter() - started,
            data_version=change.data_version,
        )

    def remove(self, record_ids: Sequence[str]) -> WriteSummary:
        """Remove records by id; raises RecordNotFoundError for an unknown id."""
        started = time.perf_counter()
        with self._write_lock():
            known = self.database.get_records(record_ids)
            for record_id in record_ids:
                if record_id not in known:
                    raise RecordNotFoundError(record_id)
            change = self.database.apply([], [], remove_ids=record_ids)
            self.vectors.checkpoint()
        return WriteSummary(
            removed=len(known),
            seconds=time.perf_counter() - started,
            data_version=change.data_version,
        )

    def sync(
        self,
        plan: SyncPlan,
        progress: bool = False,
        planned_version: int | None = None,
    ) -> WriteSummary:
        """Apply a sync plan: embed only new and changed records, in one transaction.

        A plan without new, changed or removed records keeps the data version; it
        only stores the new paths of moved files, if any. planned_version is the
        data version the plan was made from: the plan is made and embedded before
        the writer lock is taken, so a write in between, such as an `indexer add`,
        raises KnowledgeBaseError instead of being undone or stored twice.
        """
        started = time.perf_counter()
        self._check_model(allow_change=False)
        changed = plan.added + plan.updated
        if not changed and not plan.removed:
            if plan.moved:
                with self._write_lock():
                    self._check_unchanged_since(planned_version)
                    self.database.update_sources(plan.moved)
            return WriteSummary(
                unchanged=plan.unchanged,
                seconds=time.perf_counter() - started,
                data_version=self.database.data_version(),
            )

        items, keywords = self._prepare(changed, self._boilerplate(), progress)
        with self._write_lock():
            self._check_unchanged_since(planned_version)
            change = self.database.apply(
                items, keywords, remove_ids=plan.removed, sources=plan.moved
            )
            self.vectors.checkpoint(force=True)
        return WriteSummary(
            added=len(plan.added),
            replaced=len(plan.updated),
            removed=len(plan.removed),
            unchanged=plan.unchanged,
            passages=len(change.added),
            seconds=time.perf_counter() - started,
            data_version=change.data_version,
        )

    def _check_unchanged_since(self, planned_version: int | None) -> None:
        """Raise KnowledgeBaseError when another write landed after the plan."""
        if planned_version is None:
            return
        current = self.database.data_version()
        if current != planned_version:
            raise KnowledgeBaseError(
                f"the knowledge base changed (data version {planned_version} to "
                f"{current}) while this sync was planned, so nothing was written; "
                "run the sync again"
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
        hits = self.vectors.search(vector, k)
        refs = self.database.passage_refs([passage_id for passage_id, _ in hits])
        return [(refs[pid], score) for pid, score in hits if pid in refs]

    def nearest_records(self, vector: np.ndarray, k: int) -> list[int]:
        """Return the record pks of the k nearest passages, nearest first, once each.

        The similarities of an IVF index are approximate (see vector_index.py),
        so callers score the records' passages again.
        """
        hits = self.vectors.search(vector, k)
        return self.owners.records_of([passage_id for passage_id, _ in hits])

    def vector_index(self) -> VectorIndex:
        """Return the vector index for the current data, caught up in place."""
        return self.vectors.current()

    def embed_query(self, text: str) -> np.ndarray:
        """Embed an alert or search text, normalised like the indexed passages.

        Raises ConfigurationError when the configured model is not the one the
        stored vectors came from, since their similarities would mean nothing.
        """
        if not self._model_checked:
            stored = self.database.get_meta("model")
            if stored is not None and stored != self.settings.model:
                raise _model_mismatch(stored, self.settings.model)
            self._model_checked = True
        return self.embedder.embed_query([normalize_text(text)])[0]

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
        """Embed texts in chunks of EMBED_BATCH, longest first.

        encode() sorts texts by length only within one call, so chunks cut from
        the original order padded short passages to long ones: a build of 200
        records took 12 to 14% longer than one encode() of all its passages.
        """
        if not texts:
            return np.zeros((0, self.embedder.dimension), dtype=np.float32)

        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        vectors: np.ndarray | None = None
        with tqdm(
            total=len(texts),
            desc="embedding passages",
            unit="passage",
            disable=not progress,
        ) as bar:
            for start in range(0, len(order), EMBED_BATCH):
                chunk = order[start : start + EMBED_BATCH]
                embedded = self.embedder.embed([texts[i] for i in chunk])
                if vectors is None:
                    vectors = np.empty((len(texts), embedded.shape[1]), np.float32)
                vectors[chunk] = embedded
                bar.update(len(chunk))
        assert vectors is not None
        return vectors

    def _check_model(self, allow_change: bool) -> None:
        """Store the model on first use; refuse to mix vectors of two models."""
        stored = self.database.get_meta("model")
        if stored is None or allow_change:
            self.database.set_meta("model", self.settings.model)
            self.database.set_meta("dimension", self.embedder.dimension)
            return
        if stored != self.settings.model:
            raise _model_mismatch(stored, self.settings.model)

    def _boilerplate(self) -> frozenset[str]:
        """Return the template lines found at the last full build."""
        stored = self.database.get_meta("boilerplate", [])
        return (
            frozenset(str(line) for line in stored)
            if isinstance(stored, list)
            else frozenset()
        )

    def _write_lock(self) -> AbstractContextManager[None]:
        return write_lock(self.settings.home, self.settings.lock_timeout)


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


def _model_mismatch(stored: object, configured: str) -> ConfigurationError:
    return ConfigurationError(
        f"the knowledge base was embedded with model {stored!r}, but INCIDENT_MODEL "
        f"is {configured!r}; set INCIDENT_MODEL={stored} or rebuild with "
        "'indexer build SOURCES...'"
    )
