"""Numbered pages of jobs: the totals stay exact through inserts, deletes and the base
model filter, and every page (walked from either end of the index) holds the right jobs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from tests.support import world
from tests.support.world import ManualClock
from tuneyard import errors
from tuneyard.core.paging import Cursor
from tuneyard.core.ports import Ports
from tuneyard.storage import database, tables

_job = world.job_record


def _fill(ports: Ports) -> list[str]:
    """Two workspaces' jobs of two base models, some sharing a creation time (so the id
    breaks ties); the ids of workspace "ws", newest first."""
    clock = ports.clock
    assert isinstance(clock, ManualClock)
    for i in range(23):
        if i % 3:
            clock.advance(1)
        model = "tiny-chat" if i % 4 else "other-model"
        ports.jobs.add(_job(ports, f"job{i:05d}", base_model=model))
        ports.jobs.add(_job(ports, f"oth{i:05d}", workspace="other"))
    stored = [ports.jobs.get(f"job{i:05d}") for i in range(23)]
    ordered = sorted(
        (j for j in stored if j is not None), key=lambda j: (j.created_at, j.id), reverse=True
    )
    return [j.id for j in ordered]


def test_every_page_from_either_end_is_the_stable_order(ports: Ports) -> None:
    newest_first = _fill(ports)
    for limit in (1, 4, 7, 23, 30):
        for offset in range(len(newest_first) + 2):
            page = ports.jobs.page("ws", offset=offset, limit=limit)
            assert page.total == 23
            assert [j.id for j in page.items] == newest_first[offset : offset + limit]


def test_totals_follow_inserts_deletes_and_the_model_filter(ports: Ports) -> None:
    newest_first = _fill(ports)
    ports.jobs.mark_deleted("job00004", ports.clock.now())  # other-model
    ports.jobs.mark_deleted("job00005", ports.clock.now())  # tiny-chat
    ports.jobs.mark_deleted("job00005", ports.clock.now())  # twice: counted once
    live = [i for i in newest_first if i not in ("job00004", "job00005")]
    assert ports.jobs.page("ws", offset=0, limit=50).total == 21
    assert [j.id for j in ports.jobs.page("ws", offset=0, limit=50).items] == live
    tiny = ports.jobs.page("ws", offset=0, limit=50, base_model="tiny-chat")
    other = ports.jobs.page("ws", offset=0, limit=50, base_model="other-model")
    assert (tiny.total, other.total) == (16, 5)
    assert [j.id for j in tiny.items] == [i for i in live if int(i[3:]) % 4]
    deep = ports.jobs.page("ws", offset=14, limit=3, base_model="tiny-chat")
    assert [j.id for j in deep.items] == [j.id for j in tiny.items][14:17]
    assert ports.jobs.page("ws", offset=0, limit=5, base_model="nothing").total == 0
    assert ports.jobs.page("other", offset=0, limit=5).total == 23
    assert ports.jobs.page("nobody", offset=0, limit=5).total == 0


def test_a_page_reads_its_total_and_walks_only_the_index(ports: Ports) -> None:
    """No `count(*)` over the jobs on a page call, and the walk to a deep page reads ids
    only (the page's rows are read by id afterwards)."""
    if ports.jobs.__class__.__module__.endswith("memory"):
        pytest.skip("the memory fake runs no SQL")
    _fill(ports)
    engine: sa.Engine = ports.jobs.engine  # type: ignore[attr-defined]
    seen: list[str] = []

    def record(conn: object, cursor: object, statement: str, *rest: object) -> None:
        seen.append(" ".join(statement.lower().split()))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        ports.jobs.page("ws", offset=3, limit=4)
        ports.jobs.page("ws", offset=12, limit=4, base_model="tiny-chat")
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert not [s for s in seen if "count(" in s]
    pages = [s for s in seen if s.startswith("select jobs.id, jobs.workspace_id")]
    assert len(pages) == 2
    assert all("jobs.id in (select jobs.id from jobs where" in s for s in pages)


def test_a_refused_insert_is_not_counted(ports: Ports) -> None:
    ports.jobs.add(_job(ports, "job00001", output_name="adder"), max_active=5)
    with pytest.raises(errors.Conflict):
        ports.jobs.add(_job(ports, "job00002", output_name="adder"))
    with pytest.raises(errors.Throttled):
        ports.jobs.add(_job(ports, "job00003"), max_active=1)
    assert ports.jobs.page("ws", offset=0, limit=5).total == 1


def _upgrade(engine: sa.Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(database._MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def test_migration_0011_counts_the_jobs_already_stored(tmp_path: Path) -> None:
    engine = database.connect(f"sqlite:///{tmp_path / 'm.db'}")
    _upgrade(engine, "0010")
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    base = {
        "display_name": "n",
        "task_type": "generation",
        "method": "lora",
        "hyperparameters": {},
        "dialect": "clova",
        "created_via": "API",
        "status": "queued",
        "progress": {},
        "created_at": when,
        "updated_at": when,
        "attempts": 0,
    }
    rows = [
        {**base, "id": "a1", "workspace_id": "ws", "base_model": "m1", "deleted": False},
        {**base, "id": "a2", "workspace_id": "ws", "base_model": "m1", "deleted": False},
        {**base, "id": "a3", "workspace_id": "ws", "base_model": "m2", "deleted": False},
        {**base, "id": "a4", "workspace_id": "ws", "base_model": "m2", "deleted": True},
        {**base, "id": "b1", "workspace_id": "other", "base_model": "m1", "deleted": False},
    ]
    with engine.begin() as conn:
        conn.execute(tables.jobs.insert(), rows)
    database.migrate(engine)
    with engine.connect() as conn:
        counts = set(conn.execute(sa.select(tables.job_counts)).all())
    engine.dispose()
    assert counts == {("ws", "m1", 2), ("ws", "m2", 1), ("other", "m1", 1)}


def test_sqlite_plans_seek_the_listing_indexes(tmp_path: Path) -> None:
    """On SQLite a deep cursor seeks into the listing index (a bare OR of the two cursor
    cases scanned it from the start), and a page's ids come from a covering index."""
    ports = world.make_ports("sqlite", tmp_path)
    _fill(ports)
    engine: sa.Engine = ports.jobs.engine  # type: ignore[attr-defined]
    plans: list[str] = []

    def explain(
        conn: sa.Connection, cursor: object, statement: str, params: Any, *_: object
    ) -> None:
        if statement.lstrip().lower().startswith("select jobs.id, jobs.workspace_id"):
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).all()
            plans.append(" | ".join(str(r[-1]) for r in rows))

    job = ports.jobs.get("job00010")
    assert job is not None
    sa.event.listen(engine, "before_cursor_execute", explain)
    try:
        ports.jobs.slice("ws", after=Cursor(job.created_at, job.id), limit=3)
        ports.jobs.page("ws", offset=3, limit=4)
    finally:
        sa.event.remove(engine, "before_cursor_execute", explain)
    engine.dispose()
    keyset, page = plans
    assert "created_at<" in keyset.replace(" ", ""), keyset
    assert "COVERING INDEX ix_jobs_workspace_created" in page, page
