"""Replicas that start at once on an empty database all come up: the migration runs under
a database lock (PostgreSQL advisory lock, SQLite write lock), so one process migrates and
the others find the schema current instead of failing on tables that already exist."""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support import postgres
from tuneyard.storage import database

pytestmark = pytest.mark.integration

PROCESSES = 3


def _migrate(url: str, barrier: Any, results: Any) -> None:
    engine = database.connect(url)
    barrier.wait()  # all at once
    try:
        database.migrate(engine)
        results.put("ok")
    except Exception as exc:
        results.put(f"{type(exc).__name__}: {exc}"[:300])
    finally:
        engine.dispose()


def _race(url: str) -> list[str]:
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(PROCESSES), context.Queue()
    processes = [
        context.Process(target=_migrate, args=(url, barrier, results)) for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(30)
    return outcomes


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of a database with no tables at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    server = postgres.server()
    name = f"empty_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(
        server.admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)
        admin.dispose()


def test_replicas_starting_at_once_all_migrate(empty_url: str) -> None:
    for _ in range(2):  # an empty database, then a current one
        assert _race(empty_url) == ["ok"] * PROCESSES
    engine = database.connect(empty_url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    finally:
        engine.dispose()
    assert len(versions) == 1
