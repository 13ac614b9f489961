"""Tables are created so that two processes opening a new database both succeed."""

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, create_engine

from indexer.schema import create_tables


def _metadata() -> MetaData:
    metadata = MetaData()
    Table(
        "feedback",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("record_id", String, nullable=False),
        Index("ix_feedback_record", "record_id"),
    )
    return metadata


def test_existing_tables_kept_on_create(tmp_path, monkeypatch):
    engine = create_engine(f"sqlite:///{tmp_path / 'shared.db'}")
    create_tables(engine, _metadata())
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO feedback (record_id) VALUES ('INC-1')")
    # As a second process that looked before the first created the table.
    monkeypatch.setattr(engine.dialect, "has_table", lambda *args, **kwargs: False)
    monkeypatch.setattr(engine.dialect, "has_index", lambda *args, **kwargs: False)

    create_tables(engine, _metadata())

    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT record_id FROM feedback").all()
        indexes = conn.exec_driver_sql("PRAGMA index_list(feedback)").all()
    assert rows == [("INC-1",)]
    assert [index[1] for index in indexes] == ["ix_feedback_record"]
