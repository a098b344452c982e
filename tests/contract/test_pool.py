"""The PostgreSQL connection pool: a busy server pays no ping per request, and a pooled
connection the database dropped while it idled is replaced before anyone uses it."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support import postgres
from tuneyard import errors
from tuneyard.storage import database, sql

_pings: list[int] = []


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    postgres.require()
    made = postgres.fresh_engine()
    ping = made.dialect.do_ping
    _pings.clear()

    def counted(dbapi_conn):  # type: ignore[no-untyped-def]
        _pings.append(1)
        return ping(dbapi_conn)

    monkeypatch.setattr(made.dialect, "do_ping", counted)
    return made


def _backend(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_reused_at_once_is_not_pinged(engine: sa.Engine) -> None:
    pids = {_backend(engine) for _ in range(20)}
    assert len(pids) == 1
    assert _pings == []


def test_a_dropped_idle_connection_is_replaced(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _backend(engine)
    admin = sa.create_engine(postgres.server().admin_url, poolclass=sa.pool.NullPool)
    with admin.connect() as conn:  # as a database restart or failover would
        conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        conn.commit()
    admin.dispose()
    monkeypatch.setattr(database, "IDLE_PING_SECONDS", 0.0)
    second = _backend(engine)  # no error: the ping found it dead, the pool opened another
    assert second != first
    assert _pings == [1]


def test_a_job_read_on_a_dropped_connection_fails_once(engine: sa.Engine) -> None:
    """The driver-cursor read of a job (`storage.lookup`) gives a dropped connection back
    invalidated: the next read opens another and succeeds."""
    jobs = sql.SqlJobs(engine)
    assert jobs.get("missing1") is None
    first = _backend(engine)
    admin = sa.create_engine(postgres.server().admin_url, poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        conn.commit()
    admin.dispose()
    with pytest.raises(errors.StorageError):
        jobs.get("missing1")
    assert jobs.get("missing1") is None


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_pool_keeps_as_many_connections_as_configured(backend: str, tmp_path: Path) -> None:
    """`--database-pool-size`: the pool keeps that many connections open, and a burst past
    it is served by overflow connections that are closed after use."""
    if backend == "postgres":
        postgres.require()
        url = postgres.fresh_url()
    else:
        url = f"sqlite:///{tmp_path}/pool.db"
    engine = database.connect(url, pool_size=3)
    try:
        held = [engine.connect() for _ in range(5)]  # 3 pooled + 2 overflow
        for conn in held:
            conn.execute(sa.text("SELECT 1"))
        assert engine.pool.checkedout() == 5  # type: ignore[attr-defined]
        for conn in held:
            conn.close()
        assert engine.pool.checkedin() == 3  # type: ignore[attr-defined]
        assert engine.pool.size() == 3  # type: ignore[attr-defined]
    finally:
        engine.dispose()
