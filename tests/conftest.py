"""Shared fixtures: backends for the contract tier, and test hygiene."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.world import make_ports
from tuneyard.basemodels import tinychat

os.environ.setdefault("HF_HUB_OFFLINE", "1")

BACKENDS = ["memory", "sqlite"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each contract test runs once per storage backend."""
    return str(request.param)


@pytest.fixture
def ports(backend: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Ports over the parametrised backend."""
    return make_ports(backend, tmp_path)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny-chat, built once per test session (tests must not modify it)."""
    return tinychat.ensure_built(tmp_path_factory.mktemp("models") / "tiny-chat")
