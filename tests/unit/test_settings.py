"""Settings: defaults < TUNEYARD_* environment < flags; every problem at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuneyard import errors
from tuneyard.settings import Settings


def test_defaults() -> None:
    settings = Settings.load(env={})
    assert (settings.host, settings.port, settings.max_running_jobs) == ("127.0.0.1", 8000, 1)
    assert settings.db_url.startswith("sqlite:///") and settings.db_url.endswith("tuneyard.db")


def test_environment_twins_then_flags() -> None:
    env = {"TUNEYARD_PORT": "9001", "TUNEYARD_HOST": "0.0.0.0", "TUNEYARD_DATA_DIR": "/srv/ty"}
    settings = Settings.load({"port": 9002, "host": None}, env=env)
    assert settings.port == 9002
    assert settings.host == "0.0.0.0"
    assert settings.data_dir == Path("/srv/ty")


def test_all_problems_reported() -> None:
    env = {"TUNEYARD_PORT": "eighty", "TUNEYARD_MAX_RUNNING_JOBS": "0"}
    with pytest.raises(errors.InvalidRequest) as caught:
        Settings.load(env=env)
    assert "TUNEYARD_PORT" in caught.value.message
    assert "max-running-jobs" in caught.value.message


def test_database_pool_size_from_environment_and_flag() -> None:
    assert Settings.load(env={}).database_pool_size == 40
    env = {"TUNEYARD_DATABASE_POOL_SIZE": "8"}
    assert Settings.load(env=env).database_pool_size == 8
    assert Settings.load({"database_pool_size": 12}, env=env).database_pool_size == 12
    with pytest.raises(errors.InvalidRequest) as caught:
        Settings.load({"database_pool_size": 0}, env={})
    assert "database-pool-size" in caught.value.message


def test_database_pool_size_flag() -> None:
    from tuneyard.cli import main as cli

    args = cli._parser().parse_args(["serve", "--database-pool-size", "6"])
    assert cli._settings(args).database_pool_size == 6
