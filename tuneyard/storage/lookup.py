"""One row by its key, read on the database driver's own cursor: the hottest read (a job
by id, on every GET of a job) without SQLAlchemy's per-execution result machinery.

The statement is an ordinary SQLAlchemy select, compiled once per engine for its dialect;
each column is converted by the same type processors SQLAlchemy would apply (its own
`TypeEngine.result_processor` for that dialect, so a row reads back exactly as through
`Connection.execute`). Profiled on PostgreSQL, building the result's column descriptions
and metadata cost more than the query's round trip; on SQLite about half the read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from tuneyard import errors

__all__ = ["Lookup"]


class Lookup:
    """`statement` (a select of whole rows with one bound parameter, `param`) run as a
    prepared driver call; `one(value)` is the row as a dict by column name, or None."""

    def __init__(self, engine: sa.Engine, statement: sa.Select[Any], param: str) -> None:
        dialect = engine.dialect
        compiled = statement.compile(dialect=dialect)
        self.engine = engine
        self.sql = str(compiled)
        self.param = param
        self.positional = bool(compiled.positional)
        columns = list(statement.selected_columns)
        self.names = [c.name for c in columns]
        self.processors: list[Callable[[Any], Any] | None] = [
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
        ]
        self.errors: type[Exception] = dialect.loaded_dbapi.Error
        self.autocommit = dialect.name != "sqlite"
        """Read outside a transaction: no BEGIN before nor ROLLBACK after the query (two
        round trips of three on PostgreSQL); SQLite's driver begins none to read."""

    def one(self, value: Any) -> dict[str, Any] | None:
        """The row whose key is `value`, or None."""
        values: Any = (value,) if self.positional else {self.param: value}
        try:
            raw = self.engine.raw_connection()
        except sa.exc.SQLAlchemyError as exc:
            raise errors.StorageError(f"database error: {exc.__class__.__name__}") from exc
        dialect, dbapi = self.engine.dialect, raw.dbapi_connection
        try:
            if self.autocommit and dbapi is not None:
                dialect.set_isolation_level(dbapi, "AUTOCOMMIT")
            cursor = raw.cursor()
            try:
                cursor.execute(self.sql, values)
                row = cursor.fetchone()
            finally:
                cursor.close()
            if self.autocommit and dbapi is not None:
                dialect.reset_isolation_level(dbapi)
        except self.errors as exc:
            raw.invalidate(exc)  # a dropped connection is not handed out again
            raise errors.StorageError(f"database error: {exc.__class__.__name__}") from exc
        finally:
            raw.close()
        if row is None:
            return None
        return {
            name: (process(v) if process is not None else v)
            for name, process, v in zip(self.names, self.processors, row, strict=True)
        }
