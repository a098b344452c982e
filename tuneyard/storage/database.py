"""Opening the database: the engine (SQLite in WAL mode by default) and Alembic migrations."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from tuneyard import errors

__all__ = ["connect", "migrate"]

_MIGRATIONS = Path(__file__).with_name("migrations")


POOL_SIZE = 40
"""Connections an engine keeps open by default (`--database-pool-size`): as many as the
threads that may query at once (the server runs blocking calls on AnyIO's 40 worker
threads), so a busy server reuses its connections instead of opening and closing one per
request past the pool."""
MAX_OVERFLOW = 10
"""Extra connections opened (and closed after use) past POOL_SIZE: the scheduler's and
the replicas' own threads."""
IDLE_PING_SECONDS = 10.0
"""A server database connection (PostgreSQL) that sat idle in the pool longer than this
is pinged before it is handed out, and replaced if the server dropped it. A busy server
reuses its connections within milliseconds, so it pays no ping; a connection the database
dropped while in use fails its one request and SQLAlchemy then recycles the whole pool."""


def connect(url: str, *, pool_size: int = POOL_SIZE) -> sa.Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and foreign keys, and its file
    is readable by its owner only. Both keep up to `pool_size` connections open (opened
    as needed, MAX_OVERFLOW more for a burst) and read JSON columns with orjson (several
    times faster than the standard library's decoder)."""
    if url.startswith("sqlite"):
        database = sa.engine.make_url(url).database
        _private_file(database)
        in_memory = not database or database == ":memory:"  # one connection, no pool
        pool = {} if in_memory else {"pool_size": pool_size, "max_overflow": MAX_OVERFLOW}
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            json_deserializer=orjson.loads,
            **pool,
        )

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    engine = sa.create_engine(
        url, pool_size=pool_size, max_overflow=MAX_OVERFLOW, json_deserializer=orjson.loads
    )
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: sa.Engine) -> None:
    """Ping a pooled connection on checkout only if it idled past IDLE_PING_SECONDS
    (`pool_pre_ping` pinged on every checkout: a third of a busy server's database work
    for one indexed read)."""

    @sa.event.listens_for(engine, "checkin")
    def _idle(dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
            dbapi_conn.rollback()  # the ping's implicit transaction
        except Exception as exc:  # the server dropped it: the pool opens another
            raise sa.exc.DisconnectionError(str(exc)) from exc


def _private_file(database: str | None) -> None:
    """Create the SQLite file mode 0600, or make an existing one so. SQLite creates the
    `-wal` and `-shm` files beside it with the database file's mode; existing ones are
    tightened too. Nothing is done for an in-memory database or a folder that is missing
    (connecting then fails as it always did)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.parent.is_dir():
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        with contextlib.suppress(PermissionError):  # another user's file: leave it be
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            path.with_name(path.name + suffix).chmod(0o600)


_MIGRATION_LOCK = 0x7475_6E65_7961_7264
"""The PostgreSQL advisory lock key migrations hold ("tuneyard" in ASCII)."""


def migrate(engine: sa.Engine) -> None:
    """Bring the schema to the newest Alembic revision (run at every start). Replicas that
    start at once take turns: the migration runs under a database-wide lock (an advisory
    lock on PostgreSQL, a write lock on SQLite), so the first migrates and the others find
    the schema current."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    try:
        with engine.begin() as conn:
            _lock_for_migration(conn)
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    except sa.exc.SQLAlchemyError as exc:
        raise errors.StorageError(f"could not migrate the database: {exc}") from exc


def _lock_for_migration(conn: sa.Connection) -> None:
    """Hold the migration lock until `conn`'s transaction ends."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # waits out another writer (busy_timeout)
