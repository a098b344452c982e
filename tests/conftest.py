"""Shared fixtures: backends for the contract tier, and test hygiene."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import postgres
from tests.support.world import make_ports
from tuneyard.basemodels import tinychat

os.environ.setdefault("HF_HUB_OFFLINE", "1")

BACKENDS = ["memory", "sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each contract test runs once per storage backend (PostgreSQL: a real server the
    session starts; skipped without one, failed under CI=true)."""
    if request.param == "postgres":
        postgres.require()
    return str(request.param)


@pytest.fixture(autouse=True)
def _drop_postgres_databases():  # type: ignore[no-untyped-def]
    """PostgreSQL databases a test made (tests.support.postgres.fresh_url) are dropped
    after it, so their connections do not pile up."""
    mark = postgres.created()
    yield
    postgres.drop_since(mark)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop the session's PostgreSQL server, if a test started one."""
    postgres.stop()


@pytest.fixture
def ports(backend: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Ports over the parametrised backend."""
    return make_ports(backend, tmp_path)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny-chat, built once per test session (tests must not modify it)."""
    return tinychat.ensure_built(tmp_path_factory.mktemp("models") / "tiny-chat")
