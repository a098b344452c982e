"""Migration 0007 builds the unique index on live output names over data that broke it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from tuneyard.storage import database, tables


def _upgrade(engine: sa.Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(database._MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def _job(job_id: str, name: str | None, *, minute: int, deleted: bool = False) -> dict[str, object]:
    when = dt.datetime(2026, 1, 1, 0, minute, tzinfo=dt.UTC)
    return {
        "id": job_id,
        "workspace_id": "ws",
        "display_name": job_id,
        "base_model": "tiny-chat",
        "task_type": "generation",
        "method": "lora",
        "hyperparameters": {},
        "dialect": "dashscope",
        "created_via": "API",
        "status": "succeeded",
        "progress": {},
        "created_at": when,
        "updated_at": when,
        "attempts": 1,
        "deleted": deleted,
        "output_name": name,
        "error_message": None,
    }


def test_duplicate_live_names_are_renamed_before_the_index(tmp_path: Path) -> None:
    engine = database.connect(f"sqlite:///{tmp_path / 'm.db'}")
    _upgrade(engine, "0006")
    rows = [
        _job("old00001", "adder", minute=1),
        _job("new00001", "adder", minute=2),  # raced in before names were unique
        _job("gone0001", "adder", minute=3, deleted=True),
        _job("anon0001", None, minute=4),
        _job("anon0002", None, minute=5),
    ]
    with engine.begin() as conn:
        conn.execute(tables.jobs.insert(), rows)
    database.migrate(engine)
    with engine.connect() as conn:
        names = dict(conn.execute(sa.select(tables.jobs.c.id, tables.jobs.c.output_name)).all())
    assert names == {
        "old00001": "adder",
        "new00001": "adder-new00001",
        "gone0001": "adder",
        "anon0001": None,
        "anon0002": None,
    }


def test_attempts_become_the_workers_lost(tmp_path: Path) -> None:
    """Before 0007 every claim was an attempt; afterwards only a lost worker is."""
    engine = database.connect(f"sqlite:///{tmp_path / 'm.db'}")
    _upgrade(engine, "0006")
    restarted = {**_job("clean001", None, minute=1), "status": "queued", "attempts": 3}
    lost = {**_job("lost0001", None, minute=2), "status": "running", "attempts": 3}
    gave_up = {
        **_job("gave0001", None, minute=3),
        "status": "failed",
        "attempts": 3,
        "error_message": "The worker was lost (lease expired); gave up after 3 attempts",
    }
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def event(job_id: str, seq: int, message: str, level: str = "warn") -> dict[str, object]:
        return {
            "job_id": job_id,
            "seq": seq,
            "created_at": when,
            "level": level,
            "type": "message",
            "message": message,
        }

    with engine.begin() as conn:
        conn.execute(tables.jobs.insert(), [restarted, lost, gave_up])
        conn.execute(
            tables.job_events.insert(),
            [
                event("clean001", 1, "The server stopped; the job will run again"),
                event("clean001", 2, "The server stopped; the job will run again"),
                event("lost0001", 1, "The server stopped; the job will run again"),
                event(
                    "lost0001",
                    2,
                    "The training worker was killed (signal 9); the job "
                    "will run again from its last checkpoint",
                ),
                event("gave0001", 1, "The worker was lost (lease expired); the job will run again"),
                event("gave0001", 2, "The worker was lost (lease expired); the job will run again"),
            ],
        )
    database.migrate(engine)
    with engine.connect() as conn:
        attempts = dict(conn.execute(sa.select(tables.jobs.c.id, tables.jobs.c.attempts)).all())
    assert attempts == {"clean001": 0, "lost0001": 1, "gave0001": 3}
