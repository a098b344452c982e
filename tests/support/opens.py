"""Which files a piece of code opens: proof that an object it must not read was not read."""

from __future__ import annotations

import builtins
import io
import os
from pathlib import Path
from typing import Any

import pytest


def record_opens(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """From now on, every file opened (builtins.open, io.open, Path.open) is appended,
    resolved, to the returned list."""
    opened: list[Path] = []
    real = io.open

    def spy(file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, (str, bytes, os.PathLike)):
            opened.append(Path(os.fsdecode(file)).resolve())
        return real(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", spy)
    monkeypatch.setattr(builtins, "open", spy)
    return opened
