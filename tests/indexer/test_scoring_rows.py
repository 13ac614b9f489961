"""Scoring rows contain what the records and passages tables contain, kept in step."""

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from indexer import scoring_rows
from indexer.candidates import candidate_passages
from indexer.database import Database
from indexer.knowledge_base import KnowledgeBase, keyword_fields
from indexer.normalize import tokenize
from indexer.record import IncidentRecord, Kind
from indexer.settings import IndexerSettings
from indexer.terms import title_terms
from recommender import retrieval


def _rows_by_id(database: Database) -> dict[str, scoring_rows.ScoringRow]:
    with database.engine.connect() as conn:
        pks = [pk for (pk,) in conn.exec_driver_sql("SELECT pk FROM records")]
    return {row.record_id: row for row in database.record_rows(pks)}


def _count_rows(database: Database) -> int:
    with database.engine.connect() as conn:
        return conn.exec_driver_sql(
            f"SELECT count(*) FROM {scoring_rows.TABLE}"
        ).scalar_one()


def test_rows_match_stored_records(sample_kb):
    database = sample_kb.database
    ids = sorted(database.record_hashes())
    rows = _rows_by_id(database)
    records = sample_kb.get_many(ids)
    texts = database.keyword_text(ids, symptom_only=True)

    assert sorted(rows) == ids
    for record_id, row in rows.items():
        stored = database.record_passages([record_id])
        assert json.loads(row.labels) == records[record_id].labels
        assert row.sections == [ref.section for ref, _ in stored]
        assert row.roles == [ref.role for ref, _ in stored]
        assert row.vectors.dtype == np.float16
        exact = np.stack([vector for _, vector in stored])
        assert row.vectors.shape == exact.shape == (len(stored), 384)
        # float16 keeps every component within its rounding step.
        assert np.abs(row.vectors.astype(np.float32) - exact).max() < 5e-4
        assert set(row.tokens.split()) == set(tokenize(texts[record_id]))
        # Title terms come from the title as indexed: volatile tokens such as
        # dates and counts are already gone.
        fields = keyword_fields(records[record_id], frozenset())
        assert row.title_terms == title_terms(fields["title"], fields["alerts"])
        assert row.title_terms


def test_float16_similarity_error_small(sample_kb):
    database = sample_kb.database
    rows = list(_rows_by_id(database).values())
    exact = np.concatenate(
        [
            np.stack([v for _, v in database.record_passages([row.record_id])])
            for row in rows
        ]
    )
    passages = candidate_passages(rows)
    queries = exact[:: max(1, len(exact) // 50)]

    difference = np.abs(queries @ passages.vectors.T - queries @ exact.T)

    assert passages.vectors.dtype == np.float32
    assert difference.max() < 1e-4


def test_unknown_record_rows_left_out(sample_kb):
    database = sample_kb.database
    with database.engine.connect() as conn:
        pks = [pk for (pk,) in conn.exec_driver_sql("SELECT pk FROM records LIMIT 3")]

    rows = database.record_rows([*pks, 10**9])

    assert sorted(row.record_pk for row in rows) == sorted(pks)
    assert database.record_rows([]) == []


def test_candidate_passages_group_by_record(sample_kb):
    rows = list(_rows_by_id(sample_kb.database).values())[:3]

    passages = candidate_passages(rows)

    expected = [row.record_id for row in rows for _ in row.roles]
    assert passages.record_ids == expected
    assert passages.sections == [s for row in rows for s in row.sections]
    assert passages.vectors.shape == (len(expected), 384)
    assert passages.records == [row.record_id for row in rows]
    assert passages.starts.tolist() == [
        sum(len(earlier.roles) for earlier in rows[:n]) for n in range(len(rows))
    ]
    assert len(candidate_passages([])) == 0


def test_best_per_record_takes_max(sample_kb):
    rows = list(_rows_by_id(sample_kb.database).values())[:4]
    passages = candidate_passages(rows)
    similarities = np.random.default_rng(3).uniform(-1, 1, len(passages))

    best = retrieval._best_per_record(passages, similarities)

    for row in rows:
        own = [
            value
            for rid, value in zip(passages.record_ids, similarities, strict=True)
            if rid == row.record_id
        ]
        assert best[row.record_id] == pytest.approx(max(own))
    assert len(best) == 4


def _incident(number: int, text: str, service: str = "checkout") -> IncidentRecord:
    return IncidentRecord(
        id=f"INC-{number}",
        kind=Kind.INCIDENT,
        title=f"Incident {number} on {service}",
        sections={"summary": text},
        labels={"service": service},
    )


@pytest.fixture
def small_kb(tmp_path, embedder) -> KnowledgeBase:
    knowledge_base = KnowledgeBase(IndexerSettings(home=tmp_path), embedder=embedder)
    knowledge_base.build(
        [_incident(n, f"disk full on node {n}, pods evicted") for n in range(4)]
    )
    return knowledge_base


def test_rows_follow_updates_and_removals(small_kb):
    database = small_kb.database
    small_kb.add([_incident(1, "certificate expired on the ingress", "edge")])
    small_kb.remove(["INC-2"])

    rows = _rows_by_id(database)

    assert sorted(rows) == ["INC-0", "INC-1", "INC-3"]
    assert _count_rows(database) == 3
    assert json.loads(rows["INC-1"].labels) == {"service": "edge"}
    assert " certificate " in rows["INC-1"].tokens
    assert " disk " not in rows["INC-1"].tokens


def _copy(knowledge_base: KnowledgeBase, path):
    """Copy the database file, with what its write-ahead log still contains."""
    with knowledge_base.database.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(knowledge_base.settings.home / "knowledge.db", path)


def test_older_base_gets_its_rows(small_kb, tmp_path):
    database = small_kb.database
    before = _rows_by_id(database)
    copy = tmp_path / "older.db"
    _copy(small_kb, copy)
    older = Database(f"sqlite:///{copy}")
    with older.engine.begin() as conn:
        # As a knowledge base built before the table existed.
        conn.exec_driver_sql(f"DROP TABLE {scoring_rows.TABLE}")
        conn.exec_driver_sql(
            "DELETE FROM meta WHERE key = ?", (scoring_rows.COMPLETE_KEY,)
        )
    older.engine.dispose()

    reopened = Database(f"sqlite:///{copy}")

    after = _rows_by_id(reopened)
    assert sorted(after) == sorted(before)
    for record_id, row in after.items():
        assert row.labels == before[record_id].labels
        assert row.roles == before[record_id].roles
        assert row.tokens == before[record_id].tokens
        assert np.array_equal(row.vectors, before[record_id].vectors)
    assert reopened.get_meta(scoring_rows.COMPLETE_KEY) is True


def _without_title_terms(knowledge_base: KnowledgeBase, path: Path) -> str:
    """Copy a knowledge base's database with the scoring rows' older layout."""
    _copy(knowledge_base, path)
    older = Database(f"sqlite:///{path}")
    with older.engine.begin() as conn:
        # The layout before title terms: complete, but one column short.
        conn.exec_driver_sql(
            f"ALTER TABLE {scoring_rows.TABLE} DROP COLUMN title_terms"
        )
    older.engine.dispose()
    return f"sqlite:///{path}"


def test_older_layout_rows_rewritten(small_kb, tmp_path):
    before = _rows_by_id(small_kb.database)
    url = _without_title_terms(small_kb, tmp_path / "no-titles.db")

    reopened = Database(url)

    after = _rows_by_id(reopened)
    assert sorted(after) == sorted(before)
    for record_id, row in after.items():
        assert row.title_terms == before[record_id].title_terms
        assert row.tokens == before[record_id].tokens
        assert np.array_equal(row.vectors, before[record_id].vectors)
    assert reopened.get_meta(scoring_rows.COMPLETE_KEY) is True


def test_concurrent_upgrade_drops_once(small_kb, tmp_path):
    before = _rows_by_id(small_kb.database)
    url = _without_title_terms(small_kb, tmp_path / "shared.db")
    start = time.time() + 2.0
    # Each look at the table's layout is slowed down, so that every process
    # looks before any has changed it.
    script = (
        "import sys, time\n"
        "from indexer import database\n"
        "configure = database._configure_sqlite\n"
        "def slow_layout(sql):\n"
        "    if sql.startswith('PRAGMA table_info(record_scoring)'):\n"
        "        time.sleep(0.5)\n"
        "    if sql.startswith('DROP TABLE record_scoring'):\n"
        "        print('dropped', file=sys.stderr, flush=True)\n"
        "def traced(connection, record):\n"
        "    configure(connection, record)\n"
        "    connection.set_trace_callback(slow_layout)\n"
        "database._configure_sqlite = traced\n"
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
        "database.Database(sys.argv[1])\n"
    )

    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, url, str(start)], stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    results = [(p.wait(timeout=60), p.communicate()[1].decode()) for p in processes]

    assert [code for code, _ in results] == [0, 0, 0], results
    # One process rewrote the rows; the others waited and left them alone.
    assert sum(err.count("dropped") for _, err in results) == 1, results
    after = _rows_by_id(Database(url))
    assert {rid: row.title_terms for rid, row in after.items()} == {
        rid: row.title_terms for rid, row in before.items()
    }


def test_upgrade_rechecks_under_lock(small_kb, monkeypatch):
    """A process that saw the older layout before another upgraded it looks again.

    It looks once more after taking the write lock and leaves the new rows alone.
    """
    before = _rows_by_id(small_kb.database)
    current = scoring_rows._current_layout
    looks: list[bool] = []

    def stale_first(conn):
        looks.append(current(conn))
        return len(looks) > 1 and looks[-1]

    monkeypatch.setattr(scoring_rows, "_current_layout", stale_first)

    scoring_rows.upgrade_layout(small_kb.database.engine)

    assert looks == [True, True]
    after = _rows_by_id(small_kb.database)
    assert {rid: row.title_terms for rid, row in after.items()} == {
        rid: row.title_terms for rid, row in before.items()
    }
    assert small_kb.database.get_meta(scoring_rows.COMPLETE_KEY) is True


def test_kill_during_drop_keeps_rows(small_kb, tmp_path):
    """A process killed between dropping the table and committing loses nothing."""
    before = _rows_by_id(small_kb.database)
    url = _without_title_terms(small_kb, tmp_path / "killed.db")
    # SIGKILL as the completion mark is removed, after the DROP, before COMMIT.
    script = (
        "import os, sys\n"
        "from indexer import database\n"
        "configure = database._configure_sqlite\n"
        "def kill_at_mark(sql):\n"
        "    if sql.startswith('DELETE FROM meta WHERE key'):\n"
        "        os.kill(os.getpid(), 9)\n"
        "def traced(connection, record):\n"
        "    configure(connection, record)\n"
        "    connection.set_trace_callback(kill_at_mark)\n"
        "database._configure_sqlite = traced\n"
        "database.Database(sys.argv[1])\n"
    )

    killed = subprocess.run([sys.executable, "-c", script, url], timeout=60)

    assert killed.returncode == -signal.SIGKILL
    older = sqlite3.connect(url.removeprefix("sqlite:///"))
    columns = [row[1] for row in older.execute("PRAGMA table_info(record_scoring)")]
    count = older.execute("SELECT count(*) FROM record_scoring").fetchone()[0]
    older.close()
    assert "title_terms" not in columns
    assert count == len(before)
    reopened = Database(url)
    assert sorted(_rows_by_id(reopened)) == sorted(before)
    assert reopened.get_meta(scoring_rows.COMPLETE_KEY) is True


def test_fill_resumes_after_interruption(small_kb, tmp_path):
    copy = tmp_path / "half.db"
    _copy(small_kb, copy)
    half = Database(f"sqlite:///{copy}")
    with half.engine.begin() as conn:
        # A killed run committed the first batch only: two rows are missing.
        conn.exec_driver_sql(
            f"DELETE FROM {scoring_rows.TABLE} WHERE record_pk IN "
            f"(SELECT record_pk FROM {scoring_rows.TABLE} "
            "ORDER BY record_pk DESC LIMIT 2)"
        )
        conn.exec_driver_sql(
            "DELETE FROM meta WHERE key = ?", (scoring_rows.COMPLETE_KEY,)
        )
    half.engine.dispose()

    reopened = Database(f"sqlite:///{copy}")

    assert _count_rows(reopened) == 4
    assert sorted(_rows_by_id(reopened)) == ["INC-0", "INC-1", "INC-2", "INC-3"]


@pytest.mark.skipif(
    not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io"
)
def test_warming_reads_every_vector(sample_kb):
    # A new engine, so that no page is in SQLite's own cache yet.
    database = Database(sample_kb.database.url)
    with sample_kb.database.engine.connect() as conn:
        stored = conn.exec_driver_sql(
            f"SELECT sum(length(vectors)) FROM {scoring_rows.TABLE}"
        ).scalar_one()
    before = _bytes_read()

    database.warm_scoring_rows()

    # rchar counts bytes read through system calls, also from the page cache.
    assert _bytes_read() - before >= stored
    database.engine.dispose()


def _bytes_read() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar line in /proc/self/io")
