"""The unit tier is honest: its tests start no process (and so train no worker).

Anything that needs a subprocess or a server belongs in tests/integration or above; a
unit test that tries to start one fails at once, naming this rule.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _no_processes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(
            "a unit test started a process; move it to tests/integration (tests/unit starts "
            "no process and trains nothing)"
        )

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    yield
