"""The SQLite database of the live response: incidents in progress and the outbox.

It sits beside the knowledge base (INCIDENT_HOME/response.db) and apart from it,
because `indexer build` replaces the knowledge base while incidents are open.
Every write transaction starts with BEGIN IMMEDIATE, so two processes that update
the same incident take turns instead of failing half-way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event

from indexer.errors import KnowledgeBaseError
from indexer.schema import create_tables

FILE_NAME = "response.db"
# Seconds a writer waits for another process's transaction before failing.
BUSY_TIMEOUT_SECONDS = 30

metadata = MetaData()


def open_response_db(home: Path) -> Engine:
    """Open the response database in the knowledge base folder, creating the file.

    Raises:
        KnowledgeBaseError: The folder does not exist, so a mistyped
            INCIDENT_HOME does not leave a new folder behind.
    """
    if not home.is_dir():
        raise KnowledgeBaseError(
            f"knowledge base folder {home} does not exist, so incidents in progress "
            "cannot be stored; set INCIDENT_HOME (or --home) to the folder of "
            "'indexer build'"
        )
    engine = create_engine(f"sqlite:///{home / FILE_NAME}")
    event.listen(engine, "connect", _configure)
    event.listen(engine, "begin", _begin_immediate)
    create_tables(engine, metadata)
    return engine


def _configure(dbapi_connection: Any, _record: Any) -> None:
    # The driver would start transactions late and as DEFERRED, so its own handling
    # is turned off and _begin_immediate emits BEGIN IMMEDIATE instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
    cursor.close()


def _begin_immediate(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")
