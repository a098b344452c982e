"""The data dir and the SQLite database are private to the user running tuneyard."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tuneyard import runtime
from tuneyard.settings import Settings
from tuneyard.storage import database


@pytest.fixture(autouse=True)
def _open_umask() -> Iterator[None]:
    """A permissive umask, as many shells have: the modes must not depend on it."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_the_data_dir_and_database_are_created_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "nested" / "data"
    live = runtime.build(Settings(data_dir=data_dir))
    live.service.credentials.create_key("ws")  # a write: the WAL and its index exist now
    assert _mode(data_dir) == 0o700
    for folder in ("blobs", "jobs"):
        assert _mode(data_dir / folder) == 0o700, folder
    database_files = sorted(data_dir.glob("tuneyard.db*"))
    assert data_dir / "tuneyard.db" in database_files
    for path in database_files:
        assert _mode(path) == 0o600, path.name


def test_a_database_elsewhere_is_private_too(tmp_path: Path) -> None:
    path = tmp_path / "db" / "elsewhere.db"
    path.parent.mkdir()
    engine = database.connect(f"sqlite:///{path}")
    database.migrate(engine)
    assert _mode(path) == 0o600


def test_an_existing_database_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    database.migrate(database.connect(f"sqlite:///{path}"))
    path.chmod(0o644)  # written by an earlier version
    database.migrate(database.connect(f"sqlite:///{path}"))
    assert _mode(path) == 0o600
