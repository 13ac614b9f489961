"""Create the tables of a SQLite database so that processes may start at once.

SQLAlchemy's create_all() checks whether each table exists and then creates it,
so two processes opening a new database together could both try, and the second
failed with "table ... already exists". Each statement here carries IF NOT EXISTS.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, MetaData, Table
from sqlalchemy.schema import CreateIndex, CreateTable


def create_tables(engine: Engine, metadata: MetaData) -> None:
    """Create the tables and indexes of metadata that do not exist yet.

    A table made by an older release gains the nullable columns added since, so
    its rows read as None there.
    """
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            conn.execute(CreateTable(table, if_not_exists=True))
            _add_missing_columns(conn, table)
            for index in table.indexes:
                conn.execute(CreateIndex(index, if_not_exists=True))


def _add_missing_columns(conn: Connection, table: Table) -> None:
    quoted = table.name.replace('"', '""')
    present = {row[1] for row in conn.exec_driver_sql(f'PRAGMA table_info("{quoted}")')}
    for column in table.columns:
        if column.name in present:
            continue
        if not column.nullable or column.primary_key:
            raise RuntimeError(
                f"table {table.name} lacks column {column.name}, which cannot be "
                "added to existing rows"
            )
        kind = column.type.compile(dialect=conn.dialect)
        conn.exec_driver_sql(
            f'ALTER TABLE "{quoted}" ADD COLUMN "{column.name}" {kind}'
        )
