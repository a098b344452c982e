"""One row by its key, read on the database driver's own cursor: the hottest read (a job
by id, on every GET of a job) without SQLAlchemy's per-execution result machinery.

The statement is an ordinary SQLAlchemy select, compiled once per engine for its dialect;
each column is converted by the same type processors SQLAlchemy would apply (its own
`TypeEngine.result_processor` for that dialect, so a row reads back exactly as through
`Connection.execute`). Profiled on PostgreSQL, building the result's column descriptions
and metadata cost more than the query's round trip; on SQLite about half the read.

On an SQLite file each thread reads on a connection of its own, kept open (taken from the
engine once, with its pragmas, then detached from the pool): checking a connection out of
the pool and back in cost a quarter of the read. SQLite's driver opens no transaction for a
SELECT, so each read sees what was committed before it, as a pooled connection's would.
"""

from __future__ import annotations

import threading
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
        processors = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]
        self.processed: tuple[tuple[int, str, Callable[[Any], Any]], ...] = tuple(
            (i, name, process)
            for i, (name, process) in enumerate(zip(self.names, processors, strict=True))
            if process is not None
        )
        """The columns whose values a type processor converts: (index, name, processor)."""
        self.errors: type[Exception] = dialect.loaded_dbapi.Error
        self.autocommit = dialect.name != "sqlite"
        """Read outside a transaction: no BEGIN before nor ROLLBACK after the query (two
        round trips of three on PostgreSQL); SQLite's driver begins none to read."""
        database = engine.url.database if dialect.name == "sqlite" else None
        self.own_connections = bool(database) and database != ":memory:"
        """An SQLite file: each thread keeps a connection of its own (an in-memory
        database is one connection's, so it is always the pool's)."""
        self._local = threading.local()

    def one(self, value: Any) -> dict[str, Any] | None:
        """The row whose key is `value`, or None."""
        values: Any = (value,) if self.positional else {self.param: value}
        if self.own_connections:
            return self._row(self._read_own(values))
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
        return self._row(row)

    def _read_own(self, values: Any) -> Any:
        """The row, read on this thread's own connection (opened on first use)."""
        dbapi = getattr(self._local, "connection", None)
        try:
            if dbapi is None:
                raw = self.engine.raw_connection()
                raw.detach()  # this thread's from now on; closed when the thread's gone
                dbapi = raw.dbapi_connection
                if dbapi is None:
                    raise errors.StorageError("database error: no connection")
                self._local.connection = dbapi
            cursor = dbapi.cursor()
            try:
                cursor.execute(self.sql, values)
                return cursor.fetchone()
            finally:
                cursor.close()
        except (self.errors, sa.exc.SQLAlchemyError) as exc:
            self._local.connection = None
            if dbapi is not None:
                dbapi.close()
            raise errors.StorageError(f"database error: {exc.__class__.__name__}") from exc

    def _row(self, row: Any) -> dict[str, Any] | None:
        if row is None:
            return None
        found = dict(zip(self.names, row, strict=True))
        for i, name, process in self.processed:
            value = row[i]
            if value is not None:  # every processor reads NULL as None: not asked
                found[name] = process(value)
        return found
