"""One compact row per record holding everything a search needs to score it.

A search scores a few hundred candidate records and returns the top few. Reading
them from the records and passages tables took three queries: about 1,600
passage rows with 1.5 KB vectors, the labels from each record's JSON, and the
keyword text from the full-text index. These reads were most of the time above
the floor. At a million records those tables (about 26 GB) outgrow the page
cache, and the reads from disk set the p99 of a search.

So each record also gets one row here, written in the same transaction as its
passages: its id, its labels, the section and role of each passage, the passage
vectors as float16 in one blob, the distinct tokens of its title, alert
names, labels and symptom sections, and the stemmed terms of its title and alert
names (indexer/terms.py). A candidate is then one row of about 6 KB,
and the table is small enough to stay cached. float16 keeps each cosine
similarity within about 1e-4 of the float32 one (`tests/indexer/
test_scoring_rows.py`), far below the gaps between candidates that matter.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from indexer.normalize import tokenize
from indexer.terms import title_terms

logger = logging.getLogger(__name__)

TABLE = "record_scoring"
# Meta key set once every record has its row, after an upgrade or on a new base.
COMPLETE_KEY = "scoring_rows_complete"
# Records per transaction when rows are filled in for an older knowledge base.
BACKFILL_BATCH = 2_000
# The full-text columns whose tokens decide keyword coverage. The body is left out.
SYMPTOM_COLUMNS = ("title", "alerts", "labels", "symptom")
_COLUMNS = (
    "s.record_pk, s.record_id, s.labels, s.sections, s.roles, s.vectors, s.tokens, "
    "s.title_terms"
)
# The separator of a record's passage sections and of its roles. Splitting two
# such strings of seven items took a quarter of the time of decoding them as JSON.
SEPARATOR = "\x1f"

# record_pk, record_id, labels, sections, roles, vectors, tokens, title_terms,
# as stored.
RowValues = tuple[int, str, str, str, str, bytes, str, str]

_DDL = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    "record_pk INTEGER PRIMARY KEY REFERENCES records(pk) ON DELETE CASCADE, "
    "record_id TEXT NOT NULL, "
    "labels TEXT NOT NULL, "
    "sections TEXT NOT NULL, "
    "roles TEXT NOT NULL, "
    "vectors BLOB NOT NULL, "
    "tokens TEXT NOT NULL, "
    "title_terms TEXT NOT NULL)"
)


@dataclass(frozen=True)
class ScoringRow:
    """The values of one record that scoring needs.

    Attributes:
        record_pk: The record's row in the records table.
        record_id: The record's id.
        labels: The record's labels as JSON, decoded only when needed, since a
            search compares labels with few of its candidates.
        sections: The section of each passage.
        roles: The role of each passage (symptom, context, cause or fix).
        vectors: One float16 row per passage, L2-normalised before rounding.
        tokens: The distinct tokens of the symptom-side keyword text, each
            between single spaces, so " term " in tokens tests a whole token.
        title_terms: The stemmed terms of the title and alert names.
    """

    record_pk: int
    record_id: str
    labels: str
    sections: list[str]
    roles: list[str]
    vectors: np.ndarray
    tokens: str
    title_terms: list[str]


def create_table(conn: Connection) -> None:
    """Create the table when it does not exist."""
    conn.exec_driver_sql(_DDL)


def upgrade_layout(engine: Engine) -> None:
    """Drop a table of an older layout, so that backfill() writes every row again.

    The drop and the removal of the completion mark commit together, under
    SQLite's write lock. A process killed in between leaves the old table as it
    was. A second process opening the database at the same time waits for the
    lock, then finds the new table and leaves it alone.
    """
    with engine.connect() as conn:
        if _current_layout(conn):
            return
        driver = conn.connection.driver_connection
        assert driver is not None
        # The driver opens no transaction before DDL by itself, so this one is
        # opened and closed here.
        level = driver.isolation_level
        driver.isolation_level = None
        try:
            driver.execute("BEGIN IMMEDIATE")
            try:
                if not _current_layout(conn):
                    logger.warning(
                        "the scoring rows predate title terms, so "
                        "every row will be written again"
                    )
                    driver.execute(f"DROP TABLE {TABLE}")
                    driver.execute("DELETE FROM meta WHERE key = ?", (COMPLETE_KEY,))
                    driver.execute(_DDL)
            except BaseException:
                driver.execute("ROLLBACK")
                raise
            driver.execute("COMMIT")
        finally:
            driver.isolation_level = level


def _current_layout(conn: Connection) -> bool:
    """Return whether the table is missing or has every column of this version."""
    columns = {row[1] for row in conn.exec_driver_sql(f"PRAGMA table_info({TABLE})")}
    return not columns or "title_terms" in columns


def row_values(
    record_pk: int,
    record_id: str,
    labels: dict[str, str],
    passages: Sequence[tuple[str, str]],
    vectors: np.ndarray,
    keywords: dict[str, str],
) -> RowValues:
    """Return the stored values of one record's row.

    Args:
        record_pk: The record's row in the records table.
        record_id: The record's id.
        labels: The record's labels.
        passages: (section, role) of each passage, in the order of vectors.
        vectors: One float32 row per passage.
        keywords: The record's full-text columns, as written to the FTS index.
    """
    tokens = sorted(
        {
            token
            for name in SYMPTOM_COLUMNS
            for token in tokenize(keywords.get(name, ""))
        }
    )
    return (
        record_pk,
        record_id,
        json.dumps(labels, ensure_ascii=False),
        SEPARATOR.join(section.replace(SEPARATOR, " ") for section, _ in passages),
        SEPARATOR.join(role.replace(SEPARATOR, " ") for _, role in passages),
        np.asarray(vectors, dtype=np.float16).tobytes(),
        " " + " ".join(tokens) + " ",
        " ".join(title_terms(keywords.get("title", ""), keywords.get("alerts", ""))),
    )


def insert(conn: Connection, values: RowValues) -> None:
    """Write one record's row, replacing an earlier row of the same record."""
    conn.exec_driver_sql(
        f"INSERT OR REPLACE INTO {TABLE} "
        "(record_pk, record_id, labels, sections, roles, vectors, tokens, "
        "title_terms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        values,
    )


def delete(conn: Connection, record_pk: int | None = None) -> None:
    """Delete one record's row, or every row when record_pk is None."""
    if record_pk is None:
        conn.exec_driver_sql(f"DELETE FROM {TABLE}")
    else:
        conn.exec_driver_sql(f"DELETE FROM {TABLE} WHERE record_pk = ?", (record_pk,))


def rows_for_records(engine: Engine, record_pks: Sequence[int]) -> list[ScoringRow]:
    """Return the rows of the given records that exist, in any order."""
    if not record_pks:
        return []
    query = (
        f"SELECT {_COLUMNS} FROM {TABLE} s "
        f"WHERE s.record_pk IN ({placeholders(len(record_pks))})"
    )
    params = tuple(int(pk) for pk in record_pks)
    with engine.connect() as conn:
        return [_row(values) for values in fetch_rows(conn, query, params)]


def rows_for_keywords(
    engine: Engine, match: str, weights: str, limit: int
) -> list[RowValues]:
    """Return the rows of the records that best match an FTS5 query, best first.

    The rows are returned as stored, for parse_rows(): a search reads them on a
    second thread while the model embeds the alert, and Python work on that
    thread holds the GIL that each torch operation of the embedding waits for.

    Args:
        engine: The knowledge base's database.
        match: An FTS5 MATCH expression.
        weights: BM25 weights of the full-text columns, comma-separated.
        limit: How many records at most.
    """
    query = (
        f"SELECT {_COLUMNS} FROM records_fts f "
        f"JOIN {TABLE} s ON s.record_pk = f.rowid "
        f"WHERE records_fts MATCH ? ORDER BY bm25(records_fts, {weights}) LIMIT ?"
    )
    with engine.connect() as conn:
        return fetch_rows(conn, query, (match, limit))


def parse_rows(rows: Sequence[RowValues]) -> list[ScoringRow]:
    """Return stored rows, as rows_for_keywords() gives them, as ScoringRows."""
    return [_row(values) for values in rows]


def backfill(engine: Engine) -> int:
    """Write the missing rows of a knowledge base built before this table existed.

    Runs in transactions of BACKFILL_BATCH records, so a killed process keeps the
    rows written so far and the next start goes on from there. Rows that a writer
    added meanwhile are kept. Returns how many rows were written.
    """
    with engine.connect() as conn:
        low, high = conn.exec_driver_sql("SELECT min(pk), max(pk) FROM records").one()
    written = 0
    if low is not None:
        started = time.perf_counter()
        # A warning, so that the command line shows why it is busy: about 200 s
        # at a million records.
        logger.warning(
            "filling in the scoring rows of records %d to %d, once after an upgrade",
            low,
            high,
        )
        for first in range(int(low), int(high) + 1, BACKFILL_BATCH):
            with engine.begin() as conn:
                written += _backfill_batch(conn, first, first + BACKFILL_BATCH - 1)
        logger.info(
            "wrote %d scoring rows in %.1f s", written, time.perf_counter() - started
        )
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, 'true')",
            (COMPLETE_KEY,),
        )
    return written


def _backfill_batch(conn: Connection, first: int, last: int) -> int:
    """Write the missing rows of the records whose pk is in [first, last]."""
    records = conn.exec_driver_sql(
        "SELECT pk, id, json_extract(data, '$.labels') FROM records "
        f"WHERE pk BETWEEN ? AND ? AND pk NOT IN "
        f"(SELECT record_pk FROM {TABLE} WHERE record_pk BETWEEN ? AND ?)",
        (first, last, first, last),
    ).all()
    if not records:
        return 0
    passages: dict[int, list[tuple[str, str, bytes]]] = {}
    for record_pk, section, role, vector in conn.exec_driver_sql(
        "SELECT record_pk, section, role, vector FROM passages "
        "WHERE record_pk BETWEEN ? AND ? ORDER BY pk",
        (first, last),
    ):
        passages.setdefault(record_pk, []).append((section, role, vector))
    columns = ", ".join(SYMPTOM_COLUMNS)
    keywords = {
        row[0]: dict(zip(SYMPTOM_COLUMNS, row[1:], strict=True))
        for row in conn.exec_driver_sql(
            f"SELECT rowid, {columns} FROM records_fts WHERE rowid BETWEEN ? AND ?",
            (first, last),
        )
    }
    for record_pk, record_id, labels in records:
        own = passages.get(record_pk, [])
        vectors = (
            np.frombuffer(b"".join(v for _, _, v in own), dtype=np.float32)
            if own
            else np.zeros(0, dtype=np.float32)
        )
        insert(
            conn,
            row_values(
                record_pk,
                record_id,
                json.loads(labels) if labels else {},
                [(section, role) for section, role, _ in own],
                vectors,
                keywords.get(record_pk, {}),
            ),
        )
    return len(records)


def _row(values: RowValues) -> ScoringRow:
    record_pk, record_id, labels, sections, roles, vectors, tokens, titles = values
    matrix = np.frombuffer(vectors, dtype=np.float16)
    if not roles:
        return ScoringRow(
            record_pk,
            record_id,
            labels,
            [],
            [],
            matrix.reshape(0, 0),
            tokens,
            titles.split(),
        )
    role_list = roles.split(SEPARATOR)
    return ScoringRow(
        record_pk=record_pk,
        record_id=record_id,
        labels=labels,
        sections=sections.split(SEPARATOR),
        roles=role_list,
        vectors=matrix.reshape(len(role_list), -1),
        tokens=tokens,
        title_terms=titles.split(),
    )


def fetch_rows(conn: Connection, query: str, params: tuple[Any, ...]) -> list[Any]:
    """Run a query on the driver's cursor, without SQLAlchemy's Row per result."""
    cursor = conn.connection.driver_connection.execute(  # type: ignore[union-attr]
        query, params
    )
    return cursor.fetchall()


def placeholders(count: int) -> str:
    """Return count "?" marks for the IN list of a plain SQL statement."""
    return ", ".join("?" * count)
