"""Reporting how far a dataset has been read: bytes so far, at most ten times a second."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tuneyard.datasets import source

__all__ = ["INTERVAL_S", "ProgressCallback", "tracked"]

INTERVAL_S = 0.1
"""Least time between two progress reports while a file is being read."""

ProgressCallback = Callable[[int], None]
"""Receives the number of bytes of the file read so far."""


def tracked(
    lines: source.LineReader, on_progress: ProgressCallback | None, path: Path
) -> Iterator[source.Line]:
    """The reader's lines, reporting progress on the way and the file's size once they end."""
    if on_progress is None:
        yield from lines
        return
    due, done = 0.0, 0
    for line in lines:
        now = time.monotonic()
        if now >= due:
            done = lines.bytes_read
            on_progress(done)
            due = now + INTERVAL_S
        yield line
    with contextlib.suppress(OSError):
        done = os.stat(path).st_size
    on_progress(done)
