"""The Alembic migrations build exactly the schema `storage.tables` declares."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tests.support import postgres
from tuneyard.storage import database, tables


def _differences(engine: sa.Engine) -> list[object]:
    """What autogenerate would change: tables, columns, types, server defaults, indexes."""
    options = {"compare_type": True, "compare_server_default": True}
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts=options)
        return list(compare_metadata(context, tables.metadata))


def test_migrations_match_the_tables(tmp_path: Path) -> None:
    engine = database.connect(f"sqlite:///{tmp_path / 'm.db'}")
    database.migrate(engine)
    database.migrate(engine)  # idempotent at every start
    assert _differences(engine) == []


def test_migrations_match_the_tables_on_postgresql() -> None:
    """The same on a real PostgreSQL: a new database migrated from nothing (not the test
    template) agrees with the tables, types and indexes included."""
    server = postgres.server()
    name = server.create_database_empty()
    engine = database.connect(server.url(name))
    try:
        database.migrate(engine)
        database.migrate(engine)
        assert _differences(engine) == []
    finally:
        engine.dispose()
        server.drop_database(name)
