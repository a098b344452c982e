"""Alembic environment: migrations run on the connection `storage.database.migrate` passes."""

from __future__ import annotations

from alembic import context

from tuneyard.storage import tables

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through tuneyard.storage.database.migrate")
context.configure(
    connection=connection,
    target_metadata=tables.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
