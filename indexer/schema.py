"""Create the tables of a SQLite database so that processes may start at once.

SQLAlchemy's create_all() checks whether each table exists and then creates it,
so two processes opening a new database together could both try, and the second
failed with "table ... already exists". Each statement here carries IF NOT EXISTS.
"""

from __future__ import annotations

from sqlalchemy import Engine, MetaData
from sqlalchemy.schema import CreateIndex, CreateTable


def create_tables(engine: Engine, metadata: MetaData) -> None:
    """Create the tables and indexes of metadata that do not exist yet."""
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            conn.execute(CreateTable(table, if_not_exists=True))
            for index in table.indexes:
                conn.execute(CreateIndex(index, if_not_exists=True))
