"""The database of records, passages and their vectors: the source of truth.

SQLite is the embedded default. Each change is one transaction that also bumps the
data version, so a killed process leaves the old state or the new one, never a mix.
Keyword search uses SQLite's FTS5 full-text index, updated in the same transaction.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import (
    Column,
    Engine,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.exc import SQLAlchemyError

from indexer import scoring_rows
from indexer.errors import ConfigurationError, KnowledgeBaseError
from indexer.passages import Passage
from indexer.record import IncidentRecord
from indexer.schema import create_tables

logger = logging.getLogger(__name__)

metadata = MetaData()

records_table = Table(
    "records",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("id", String, nullable=False, unique=True),
    Column("kind", String, nullable=False, index=True),
    Column("title", Text, nullable=False),
    Column("data", Text, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("source", Text, nullable=False),
    Column("updated_at", String, nullable=False),
)

passages_table = Table(
    "passages",
    metadata,
    # The primary key is the vector's id in FAISS: an explicit id map, never a position.
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column(
        "record_pk",
        Integer,
        ForeignKey("records.pk", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("section", String, nullable=False),
    Column("role", String, nullable=False),
    Column("text", Text, nullable=False),
    Column("vector", LargeBinary, nullable=False),
    # Passage ids only grow, never reused after a delete, so an index can tell new
    # passages by id alone.
    sqlite_autoincrement=True,
)

# Passages deleted by each write, so that an index can catch up without a rebuild.
removed_table = Table(
    "removed_passages",
    metadata,
    Column("passage_pk", Integer, nullable=False),
    Column("data_version", Integer, nullable=False, index=True),
)

meta_table = Table(
    "meta",
    metadata,
    Column("key", String, primary_key=True),
    Column("value", Text, nullable=False),
)

# Full-text columns and their BM25 weights: alert names and titles say most.
FTS_COLUMNS = ("title", "alerts", "labels", "symptom", "body")
FTS_WEIGHTS = (4.0, 6.0, 1.5, 2.0, 0.5)
# Ids per IN list: below SQLite's limit on bound parameters (32,766 by default).
IN_CHUNK = 5_000
BM25_WEIGHTS = ", ".join(str(w) for w in FTS_WEIGHTS)


@dataclass(frozen=True)
class PassageRef:
    """Where a passage vector comes from."""

    passage_id: int
    record_id: str
    section: str
    role: str


@dataclass(frozen=True)
class Change:
    """Passage ids removed and added by one write, to apply to the vector index."""

    removed: list[int]
    added: list[int]
    vectors: np.ndarray
    data_version: int


# The tables that searches read (passages only after records were added while the
# service runs).
SEARCH_TABLES = (
    "meta",
    "records",
    "passages",
    scoring_rows.TABLE,
    "records_fts",
    "records_vocab",
)


class Database:
    """Stores records, passages with vectors, keyword text and metadata."""

    def __init__(self, url: str) -> None:
        if not url.startswith("sqlite"):
            # NOTE: keyword search uses SQLite FTS5; PostgreSQL needs a tsvector port.
            raise ConfigurationError(
                f"database URL {url!r} is not supported yet: keyword search needs "
                "SQLite FTS5; use a sqlite:/// URL"
            )
        _ensure_sqlite_folder(url)
        self.url = url
        self.engine: Engine = create_engine(url, future=True)
        event.listen(self.engine, "connect", _configure_sqlite)
        try:
            self._create_schema()
        except SQLAlchemyError as error:
            raise KnowledgeBaseError(
                f"cannot open the database at {url}: {getattr(error, 'orig', error)}; "
                "check that the file is a SQLite database and that its folder is "
                "writable, or rebuild it with 'indexer build SOURCES'"
            ) from error

    def _create_schema(self) -> None:
        create_tables(self.engine, metadata)
        columns = ", ".join(FTS_COLUMNS)
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "CREATE VIRTUAL TABLE IF NOT EXISTS records_fts "
                    f"USING fts5({columns}, "
                    "tokenize='unicode61 remove_diacritics 2')"
                )
            )
            conn.execute(
                text(
                    "CREATE VIRTUAL TABLE IF NOT EXISTS records_vocab "
                    "USING fts5vocab(records_fts, 'row')"
                )
            )
        scoring_rows.upgrade_layout(self.engine)
        with self.engine.begin() as conn:
            scoring_rows.create_table(conn)
            complete = conn.execute(
                select(meta_table.c.value).where(
                    meta_table.c.key == scoring_rows.COMPLETE_KEY
                )
            ).scalar()
        if complete is None:
            scoring_rows.backfill(self.engine)

    # Writes ---------------------------------------------------------------

    def apply(
        self,
        items: Sequence[tuple[IncidentRecord, list[Passage], np.ndarray]],
        keyword_texts: Sequence[dict[str, str]],
        remove_ids: Sequence[str] = (),
        replace_all: bool = False,
        sources: Sequence[tuple[str, str]] = (),
    ) -> Change:
        """Insert or replace records and delete others, in one transaction.

        A record whose id exists replaces the old one. With replace_all, every other
        record is deleted too, so a full rebuild that dies half-way leaves the
        previous knowledge base intact. Removed passage ids are kept with the new
        data version, so an index of an older version can catch up in place.
        sources are (id, source) pairs of unchanged records read from a new path,
        stored in the same transaction (see update_sources()).
        """
        removed: list[int] = []
        added: list[int] = []
        now = datetime.now(timezone.utc).isoformat()
        with self.engine.begin() as conn:
            version = self._next_version(conn)
            if replace_all:
                removed.extend(conn.execute(select(passages_table.c.pk)).scalars())
                conn.execute(delete(passages_table))
                scoring_rows.delete(conn)
                conn.execute(delete(records_table))
                conn.execute(text("DELETE FROM records_fts"))
            for record_id in remove_ids:
                removed.extend(self._delete(conn, record_id))
            _store_sources(conn, sources)
            for (record, passages, vectors), keywords in zip(
                items, keyword_texts, strict=True
            ):
                removed.extend(self._delete(conn, record.id))
                record_pk = self._insert_record(conn, record, now)
                added.extend(self._insert_passages(conn, record_pk, passages, vectors))
                self._insert_keywords(conn, record_pk, keywords)
                scoring_rows.insert(
                    conn,
                    scoring_rows.row_values(
                        record_pk,
                        record.id,
                        record.labels,
                        [(p.section, p.role) for p in passages],
                        vectors,
                        keywords,
                    ),
                )
            self._record_removed(conn, removed, version)
            self._set_meta(conn, "data_version", json.dumps(version))
        stacked = (
            np.concatenate([v for _, _, v in items])
            if items
            else np.zeros((0, 0), np.float32)
        )
        return Change(
            removed=removed, added=added, vectors=stacked, data_version=version
        )

    def count_changes_since(self, version: int, max_passage_id: int) -> int:
        """Return how many passages were added or removed after a data version."""
        with self.engine.connect() as conn:
            removed = conn.execute(
                select(func.count())
                .select_from(removed_table)
                .where(removed_table.c.data_version > version)
            ).scalar()
            added = conn.execute(
                select(func.count())
                .select_from(passages_table)
                .where(passages_table.c.pk > max_passage_id)
            ).scalar()
        return int(removed or 0) + int(added or 0)

    def changes_since(
        self, version: int, max_passage_id: int
    ) -> tuple[list[int], np.ndarray, np.ndarray]:
        """Return what changed after a data version, to update an index in place.

        Returns the passage ids removed after that version, and the ids and vectors
        of passages with an id above max_passage_id (passage ids only grow).
        """
        with self.engine.connect() as conn:
            removed = list(
                conn.execute(
                    select(removed_table.c.passage_pk).where(
                        removed_table.c.data_version > version
                    )
                ).scalars()
            )
            rows = conn.execute(
                select(passages_table.c.pk, passages_table.c.vector)
                .where(passages_table.c.pk > max_passage_id)
                .order_by(passages_table.c.pk)
            ).all()
        ids = np.array([pk for pk, _ in rows], dtype=np.int64)
        vectors = (
            np.stack([np.frombuffer(blob, dtype=np.float32) for _, blob in rows])
            if rows
            else np.zeros((0, 0), np.float32)
        )
        return removed, ids, vectors

    def set_meta(self, key: str, value: object) -> None:
        """Store a JSON-serialisable setting, such as the model name."""
        with self.engine.begin() as conn:
            self._set_meta(conn, key, json.dumps(value))

    # Reads ----------------------------------------------------------------

    def get_meta(self, key: str, default: object = None) -> object:
        """Return a stored setting, or default when it was never set."""
        # Plain SQL: every search reads data_version twice, and the compiled
        # select took 77 us against 36 here.
        with self.engine.connect() as conn:
            row = conn.exec_driver_sql(
                "SELECT value FROM meta WHERE key = ?", (key,)
            ).first()
        return default if row is None else json.loads(row[0])

    def data_version(self) -> int:
        """Return the counter that every write increments."""
        return int(self.get_meta("data_version", 0))  # type: ignore[call-overload]

    def unreadable_tables(
        self, tables: Sequence[str] = SEARCH_TABLES
    ) -> dict[str, str]:
        """Return each of the tables that fails a one-row read, with the error.

        Counting records reads only the records table, so a readiness check that
        stops there passes while every search fails on a missing or damaged table.
        """
        failures = {}
        for table in tables:
            try:
                with self.engine.connect() as conn:
                    conn.exec_driver_sql(f"SELECT 1 FROM {table} LIMIT 1").first()
            except SQLAlchemyError as error:
                failures[table] = str(getattr(error, "orig", error))
        return failures

    def count_records(self) -> dict[str, int]:
        """Return the number of records per kind."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(records_table.c.kind, func.count()).group_by(
                    records_table.c.kind
                )
            ).all()
        return {kind: count for kind, count in rows}

    def count_passages(self) -> int:
        """Return the number of passages, which equals the number of vectors."""
        with self.engine.connect() as conn:
            return _count(conn, passages_table)

    def get_records(self, record_ids: Sequence[str]) -> dict[str, IncidentRecord]:
        """Return the stored records among record_ids, keyed by id."""
        if not record_ids:
            return {}
        # Plain SQL: every search reads its top records here, and the compiled
        # select with an expanding IN took 0.27 ms against 0.04 ms for ten records.
        ids = list(record_ids)
        rows = []
        with self.engine.connect() as conn:
            for first in range(0, len(ids), IN_CHUNK):
                chunk = tuple(ids[first : first + IN_CHUNK])
                marks = scoring_rows.placeholders(len(chunk))
                query = f"SELECT data FROM records WHERE id IN ({marks})"
                rows += scoring_rows.fetch_rows(conn, query, chunk)
        records = [IncidentRecord.from_dict(json.loads(row[0])) for row in rows]
        return {record.id: record for record in records}

    def record_sources(self) -> dict[str, tuple[str, str]]:
        """Return every record id with its content hash and source."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    records_table.c.id,
                    records_table.c.content_hash,
                    records_table.c.source,
                )
            )
            return {record_id: (digest, source) for record_id, digest, source in rows}

    def update_sources(self, sources: Sequence[tuple[str, str]]) -> None:
        """Store a new source for unchanged records: (id, source) pairs.

        The source is left out of the content hash, so a record read from a moved
        file is not embedded again, only pointed at its new path.
        """
        if not sources:
            return
        with self.engine.begin() as conn:
            _store_sources(conn, sources)

    def record_hashes(self) -> dict[str, str]:
        """Return every record id with its content hash."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(records_table.c.id, records_table.c.content_hash)
            )
            return {record_id: digest for record_id, digest in rows}

    def label_values(self, name: str) -> set[str]:
        """Return the distinct values of one label over every record, lower-case.

        It reads the labels column of the scoring rows, one scan of the table.
        """
        query = (
            f"SELECT DISTINCT lower(trim(json_extract(labels, ?))) "
            f"FROM {scoring_rows.TABLE} WHERE json_valid(labels)"
        )
        path = "$." + json.dumps(name)
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(query, (path,)).all()
        return {row[0] for row in rows if row[0]}

    def passage_refs(self, passage_ids: Sequence[int]) -> dict[int, PassageRef]:
        """Map passage ids to their records; ids without a record are left out."""
        if not passage_ids:
            return {}
        # Plain SQL, as in keyword_text: every search maps a few hundred ids.
        query = (
            "SELECT p.pk, r.id, p.section, p.role FROM passages p "
            "JOIN records r ON r.pk = p.record_pk "
            f"WHERE p.pk IN ({', '.join('?' * len(passage_ids))})"
        )
        params = tuple(int(i) for i in passage_ids)
        with self.engine.connect() as conn:
            return {
                pk: PassageRef(pk, rid, sec, role)
                for pk, rid, sec, role in conn.exec_driver_sql(query, params).all()
            }

    def record_passages(
        self, record_ids: Sequence[str]
    ) -> list[tuple[PassageRef, np.ndarray]]:
        """Return the passages and vectors of the given records."""
        if not record_ids:
            return []
        query = (
            select(
                passages_table.c.pk,
                records_table.c.id,
                passages_table.c.section,
                passages_table.c.role,
                passages_table.c.vector,
            )
            .join(records_table, records_table.c.pk == passages_table.c.record_pk)
            .where(records_table.c.id.in_(list(record_ids)))
        )
        with self.engine.connect() as conn:
            # all() fetches in one call; iterating fetched row by row, which
            # cost more than the query itself for a few thousand passages.
            return [
                (PassageRef(pk, rid, sec, role), np.frombuffer(blob, dtype=np.float32))
                for pk, rid, sec, role, blob in conn.execute(query).all()
            ]

    def iter_vectors(
        self, batch: int = 50_000
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (passage ids, vectors) in batches, to rebuild the vector index."""
        last = 0
        while True:
            query = (
                select(passages_table.c.pk, passages_table.c.vector)
                .where(passages_table.c.pk > last)
                .order_by(passages_table.c.pk)
                .limit(batch)
            )
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
            if not rows:
                return
            ids = np.array([pk for pk, _ in rows], dtype=np.int64)
            vectors = np.stack(
                [np.frombuffer(blob, dtype=np.float32) for _, blob in rows]
            )
            yield ids, vectors
            last = int(ids[-1])

    def max_passage_id(self) -> int:
        """Return the highest passage id ever stored; ids are never reused."""
        with self.engine.connect() as conn:
            value = conn.exec_driver_sql("SELECT max(pk) FROM passages").scalar()
        return int(value or 0)

    def passage_owners_after(self, passage_id: int) -> np.ndarray:
        """Return (passage id, record pk) rows of the passages above an id."""
        with self.engine.connect() as conn:
            return _integer_pairs(
                conn, "SELECT pk, record_pk FROM passages WHERE pk > ?", (passage_id,)
            )

    def iter_passage_owners(self, batch: int) -> Iterator[np.ndarray]:
        """Yield (passage id, record pk) rows of every passage, by record pk range.

        The rows come from the index on record_pk, not from the passages table.
        """
        with self.engine.connect() as conn:
            low, high = conn.exec_driver_sql(
                "SELECT min(pk), max(pk) FROM records"
            ).one()
        if low is None:
            return
        for first in range(int(low), int(high) + 1, batch):
            with self.engine.connect() as conn:
                pairs = _integer_pairs(
                    conn,
                    "SELECT pk, record_pk FROM passages "
                    "WHERE record_pk BETWEEN ? AND ?",
                    (first, first + batch - 1),
                )
            if len(pairs):
                yield pairs

    def sample_vectors(self, count: int, seed: int = 0) -> np.ndarray:
        """Return `count` stored vectors chosen at random, to train a vector index.

        Passage ids are drawn at random between the lowest and highest id, and
        more are drawn while some of them were deleted, so no list of every id is
        read. Returns every vector when there are at most `count`.
        """
        with self.engine.connect() as conn:
            low, high, total = conn.execute(
                select(
                    func.min(passages_table.c.pk),
                    func.max(passages_table.c.pk),
                    func.count(),
                )
            ).one()
        if not total:
            return np.zeros((0, 0), dtype=np.float32)
        if total <= count:
            return np.concatenate([vectors for _, vectors in self.iter_vectors()])

        rng = np.random.default_rng(seed)
        span = high - low + 1
        untried = np.arange(low, high + 1, dtype=np.int64)
        found: list[np.ndarray] = []
        missing = count
        while missing > 0 and len(untried):
            # Draw more ids than needed in proportion to the share of deleted ids.
            draw = min(len(untried), int(missing * span / total * 1.1) + 1)
            picked = rng.choice(len(untried), size=draw, replace=False)
            chosen = untried[picked]
            untried = np.delete(untried, picked)
            vectors = self._read_vectors(chosen)[:missing]
            if len(vectors):
                found.append(vectors)
                missing -= len(vectors)
        return np.concatenate(found)

    def _read_vectors(self, passage_ids: np.ndarray) -> np.ndarray:
        """Return the vectors of the given passage ids that exist, in any order."""
        rows: list[bytes] = []
        with self.engine.connect() as conn:
            for first in range(0, len(passage_ids), IN_CHUNK):
                chunk = [int(i) for i in passage_ids[first : first + IN_CHUNK]]
                rows += conn.execute(
                    select(passages_table.c.vector).where(
                        passages_table.c.pk.in_(chunk)
                    )
                ).scalars()
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([np.frombuffer(blob, dtype=np.float32) for blob in rows])

    def keyword_rows(
        self, terms: Sequence[str], limit: int
    ) -> list[scoring_rows.RowValues]:
        """Return the scoring rows of the records that best match any of the terms.

        Ranked by BM25 over the full-text columns with FTS_WEIGHTS, best first,
        undecoded: see scoring_rows.rows_for_keywords().
        """
        if not terms or limit <= 0:
            return []
        return scoring_rows.rows_for_keywords(
            self.engine, match_expression(terms), BM25_WEIGHTS, limit
        )

    def body_matches(self, terms: Sequence[str], limit: int) -> dict[str, set[int]]:
        """Return, per term, the records whose body column contains it.

        The body contains the causes, fixes and timelines that the scoring rows
        leave out. A term in more than limit bodies is left out of the result. Pass
        rare terms only, because each one costs a read of its list of records.
        """
        matches: dict[str, set[int]] = {}
        with self.engine.connect() as conn:
            for term in terms:
                pks = scoring_rows.fetch_rows(
                    conn,
                    "SELECT rowid FROM records_fts WHERE records_fts MATCH ? LIMIT ?",
                    ("body : " + match_expression([term]), limit + 1),
                )
                if pks and len(pks) <= limit:
                    matches[term] = {pk for (pk,) in pks}
        return matches

    def record_rows(self, record_pks: Sequence[int]) -> list[scoring_rows.ScoringRow]:
        """Return the scoring rows of the given records that exist, in any order."""
        return scoring_rows.rows_for_records(self.engine, record_pks)

    def warm_scoring_rows(self) -> None:
        """Read the whole scoring table once, so searches find it in the page cache.

        Without this the first searches of a large knowledge base read their
        candidates' rows from disk: at a million records the p99 of the first
        200 searches was 200 ms, and 51 ms once their rows had been read. The
        substr() makes SQLite read every vector blob, in C with the GIL released.
        """
        with self.engine.connect() as conn:
            conn.exec_driver_sql(
                f"SELECT count(*) FROM {scoring_rows.TABLE} "
                "WHERE substr(vectors, 1, 1) = x'ff'"
            ).scalar()

    def keyword_text(
        self, record_ids: Sequence[str], symptom_only: bool = False
    ) -> dict[str, str]:
        """Return the keyword text of each record, to explain matched terms.

        With symptom_only, the body column (causes, fixes, timelines) is left out.
        """
        if not record_ids:
            return {}
        names = FTS_COLUMNS[:-1] if symptom_only else FTS_COLUMNS
        columns = ", ".join(f"f.{name}" for name in names)
        # Plain SQL: compiling a text() clause with hundreds of named parameters
        # took as long as the query.
        query = (
            f"SELECT r.id, {columns} FROM records_fts f "
            "JOIN records r ON r.pk = f.rowid "
            f"WHERE r.id IN ({', '.join('?' * len(record_ids))})"
        )
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(query, tuple(record_ids)).all()
        return {row[0]: " ".join(row[1:]) for row in rows}

    def record_count(self) -> int:
        """Return the number of records."""
        with self.engine.connect() as conn:
            return _count(conn, records_table)

    def document_frequencies(
        self, terms: Sequence[str], count: bool = True
    ) -> tuple[dict[str, int], int]:
        """Return how many records contain each term, and the number of records.

        With count=False the number of records is not counted and is returned as 0.
        """
        with self.engine.connect() as conn:
            total = _count(conn, records_table) if count else 0
            if not terms:
                return {}, total
            placeholders = ", ".join(f":t{i}" for i in range(len(terms)))
            rows = conn.execute(
                text(
                    "SELECT term, doc FROM records_vocab "
                    f"WHERE term IN ({placeholders})"
                ),
                {f"t{i}": term for i, term in enumerate(terms)},
            ).all()
        return {term: int(doc) for term, doc in rows}, total

    def common_terms(self, min_documents: int, limit: int) -> dict[str, int]:
        """Return the terms in at least min_documents records with their counts.

        At most limit terms, the most frequent ones. This reads every list of
        records of the full-text index once.
        """
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT term, doc FROM records_vocab WHERE doc >= ? "
                "ORDER BY doc DESC, term LIMIT ?",
                (min_documents, limit),
            ).all()
        return {term: int(doc) for term, doc in rows}

    # Helpers --------------------------------------------------------------

    def _delete(self, conn: Connection, record_id: str) -> list[int]:
        record_pk = conn.execute(
            select(records_table.c.pk).where(records_table.c.id == record_id)
        ).scalar()
        if record_pk is None:
            return []
        passage_ids = list(
            conn.execute(
                select(passages_table.c.pk).where(
                    passages_table.c.record_pk == record_pk
                )
            ).scalars()
        )
        conn.execute(
            delete(passages_table).where(passages_table.c.record_pk == record_pk)
        )
        conn.execute(
            text("DELETE FROM records_fts WHERE rowid = :pk"), {"pk": record_pk}
        )
        scoring_rows.delete(conn, record_pk)
        conn.execute(delete(records_table).where(records_table.c.pk == record_pk))
        return passage_ids

    def _insert_record(self, conn: Connection, record: IncidentRecord, now: str) -> int:
        result = conn.execute(
            insert(records_table).values(
                id=record.id,
                kind=record.kind.value,
                title=record.title,
                data=json.dumps(record.to_dict(), ensure_ascii=False),
                content_hash=record.content_hash(),
                source=record.source,
                updated_at=now,
            )
        )
        return _primary_key(result)

    def _insert_passages(
        self,
        conn: Connection,
        record_pk: int,
        passages: list[Passage],
        vectors: np.ndarray,
    ) -> list[int]:
        ids = []
        for passage, vector in zip(passages, vectors, strict=True):
            result = conn.execute(
                insert(passages_table).values(
                    record_pk=record_pk,
                    section=passage.section,
                    role=passage.role,
                    text=passage.text,
                    vector=np.asarray(vector, dtype=np.float32).tobytes(),
                )
            )
            ids.append(_primary_key(result))
        return ids

    def _insert_keywords(
        self, conn: Connection, record_pk: int, keywords: dict[str, str]
    ) -> None:
        columns = ", ".join(FTS_COLUMNS)
        values = ", ".join(f":{name}" for name in FTS_COLUMNS)
        params = {name: keywords.get(name, "") for name in FTS_COLUMNS}
        conn.execute(
            text(f"INSERT INTO records_fts(rowid, {columns}) VALUES (:pk, {values})"),
            {"pk": record_pk, **params},
        )

    def _next_version(self, conn: Connection) -> int:
        current = conn.execute(
            select(meta_table.c.value).where(meta_table.c.key == "data_version")
        ).scalar()
        return (int(json.loads(current)) if current else 0) + 1

    def _record_removed(
        self, conn: Connection, passage_ids: list[int], version: int
    ) -> None:
        if passage_ids:
            conn.execute(
                insert(removed_table),
                [{"passage_pk": pk, "data_version": version} for pk in passage_ids],
            )

    def _set_meta(self, conn: Connection, key: str, value: str) -> None:
        updated = conn.execute(
            update(meta_table).where(meta_table.c.key == key).values(value=value)
        )
        if updated.rowcount == 0:
            conn.execute(insert(meta_table).values(key=key, value=value))


def _integer_pairs(conn: Connection, query: str, params: tuple[int, ...]) -> np.ndarray:
    """Return the rows of a query of two integer columns as an (n, 2) int64 array.

    The driver's cursor and np.fromiter skip a Row object and a tuple conversion
    per row, which matters for the millions of rows of a large knowledge base.
    """
    rows = scoring_rows.fetch_rows(conn, query, params)
    flat = np.fromiter(itertools.chain.from_iterable(rows), np.int64, 2 * len(rows))
    return flat.reshape(-1, 2)


def match_expression(terms: Sequence[str]) -> str:
    """Return an FTS5 query that matches a record containing any of the terms."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


def _store_sources(conn: Connection, sources: Sequence[tuple[str, str]]) -> None:
    for record_id, source in sources:
        conn.execute(
            records_table.update()
            .where(records_table.c.id == record_id)
            .values(
                source=source,
                data=func.json_set(records_table.c.data, "$.source", source),
            )
        )


def _count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)


def _primary_key(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None, "INSERT returned no primary key"
    return int(key[0])


def _configure_sqlite(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.execute("PRAGMA busy_timeout = 30000")
    cursor.close()


def sqlite_path(url: str) -> Path | None:
    """Return the file of a SQLite URL, or None for an in-memory database."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == prefix + ":memory:":
        return None
    return Path(url[len(prefix) :]).expanduser()


def _ensure_sqlite_folder(url: str) -> None:
    path = sqlite_path(url)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigurationError(
            f"cannot create the knowledge base folder {path.parent}: {error.strerror}; "
            "set INCIDENT_HOME (or --home) to a writable folder"
        ) from error
