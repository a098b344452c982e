"""Reading a server's SQLite database directly (read-only), as an operator inspects it:
jobs with their status, attempts and progress, and a job's events. Works while the server
is running, and after it was killed."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ACTIVE = ("running", "cancelling", "pausing")
"""Statuses in which a job has (or had, if its server died) a worker."""
TERMINAL = ("succeeded", "failed", "cancelled")


@dataclasses.dataclass(frozen=True)
class JobRow:
    """The columns of a job that tests look at."""

    id: str
    dialect: str
    status: str
    attempts: int
    step: int | None
    total_steps: int | None
    error_code: str | None
    error_message: str | None


@contextlib.contextmanager
def _connect(db: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        yield connection
    finally:
        connection.close()


def jobs(db: Path) -> dict[str, JobRow]:
    """Every job, by id."""
    if not db.exists():
        return {}
    query = (
        "SELECT id, dialect, status, attempts, progress, error_code, error_message FROM jobs"
        " ORDER BY created_at, id"
    )
    with _connect(db) as connection:
        rows = connection.execute(query).fetchall()
    found = {}
    for job_id, dialect, status, attempts, raw, code, message in rows:
        progress: dict[str, Any] = json.loads(raw) if raw else {}
        found[job_id] = JobRow(
            job_id,
            dialect,
            status,
            int(attempts),
            progress.get("step"),
            progress.get("total_steps"),
            code,
            message,
        )
    return found


def events(db: Path, job_id: str) -> list[str]:
    """A job's events as `created_at level type: message` lines, oldest first."""
    with _connect(db) as connection:
        rows = connection.execute(
            "SELECT created_at, level, type, message FROM job_events WHERE job_id = ? ORDER BY seq",
            (job_id,),
        ).fetchall()
    return [f"{at} {level} {kind}: {message}" for at, level, kind, message in rows]
