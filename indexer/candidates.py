"""Lean reads of the candidate records of one search.

A search scores a few hundred candidate records but returns only the top few, so
it reads the candidates' passage vectors as one matrix and their labels alone, and
reads whole records only for what it returns. Building a full IncidentRecord for
every candidate cost more than scoring them. The queries are plain SQL with one
placeholder per id: SQLAlchemy's expanding IN recompiled each statement and took
longer than SQLite took to run it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from indexer.database import Database


@dataclass(frozen=True)
class CandidatePassages:
    """The passages of some records, one row each, in the order SQLite gave them.

    Attributes:
        record_ids: The record of each passage.
        sections: The section of each passage.
        roles: The role of each passage (symptom, context, cause or fix).
        vectors: One row per passage, float32, L2-normalised.
    """

    record_ids: list[str]
    sections: list[str]
    roles: list[str]
    vectors: np.ndarray

    def __len__(self) -> int:
        return len(self.record_ids)


# NOTE: at a million records the database (about 26 GB) outgrows the page cache of
# a 24 GiB machine, and these reads from disk then set the p99 of a search.
def candidate_passages(
    database: Database, record_ids: Sequence[str]
) -> CandidatePassages:
    """Return every passage of the given records with its vector."""
    if not record_ids:
        return CandidatePassages([], [], [], np.zeros((0, 0), dtype=np.float32))
    query = (
        "SELECT r.id, p.section, p.role, p.vector FROM passages p "
        "JOIN records r ON r.pk = p.record_pk "
        f"WHERE r.id IN ({_placeholders(len(record_ids))})"
    )
    with database.engine.connect() as conn:
        rows = conn.exec_driver_sql(query, tuple(record_ids)).all()
    if not rows:
        return CandidatePassages([], [], [], np.zeros((0, 0), dtype=np.float32))

    # One buffer and one reshape instead of an array per passage.
    blob = b"".join(row[3] for row in rows)
    vectors = np.frombuffer(blob, dtype=np.float32).reshape(len(rows), -1)
    return CandidatePassages(
        record_ids=[row[0] for row in rows],
        sections=[row[1] for row in rows],
        roles=[row[2] for row in rows],
        vectors=vectors,
    )


def join_passages(
    first: CandidatePassages, second: CandidatePassages
) -> CandidatePassages:
    """Return the passages of both, first's rows before second's."""
    if not len(second):
        return first
    if not len(first):
        return second
    return CandidatePassages(
        record_ids=first.record_ids + second.record_ids,
        sections=first.sections + second.sections,
        roles=first.roles + second.roles,
        vectors=np.concatenate([first.vectors, second.vectors]),
    )


def record_labels(
    database: Database, record_ids: Sequence[str]
) -> dict[str, dict[str, str]]:
    """Return the labels of the known records among record_ids, keyed by id.

    SQLite extracts the labels from the stored JSON, so the sections of records
    that will not be returned are never parsed.
    """
    if not record_ids:
        return {}
    query = (
        "SELECT id, json_extract(data, '$.labels') FROM records "
        f"WHERE id IN ({_placeholders(len(record_ids))})"
    )
    with database.engine.connect() as conn:
        rows = conn.exec_driver_sql(query, tuple(record_ids)).all()
    return {
        record_id: json.loads(labels) if labels else {} for record_id, labels in rows
    }


def _placeholders(count: int) -> str:
    return ", ".join("?" * count)
