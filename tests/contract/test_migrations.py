"""The Alembic migrations build exactly the schema `storage.tables` declares."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tuneyard.storage import database, tables


def test_migrations_match_the_tables(tmp_path: Path) -> None:
    engine = database.connect(f"sqlite:///{tmp_path / 'm.db'}")
    database.migrate(engine)
    database.migrate(engine)  # idempotent at every start
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), tables.metadata)
    assert diff == []
