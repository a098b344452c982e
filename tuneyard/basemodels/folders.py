"""Writing a locally built model folder once: `build_once`.

The folder is written in a temporary directory beside its place and renamed into it, so it
is never half-written; a file lock beside it serialises concurrent builders (two servers,
a test and a bench), and a folder from another build is replaced.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["build_once"]


def build_once(path: Path, is_built: Callable[[Path], bool], build: Callable[[Path], None]) -> Path:
    """Write the folder `path` with `build(staging)` unless `is_built(path)`; return `path`."""
    path = Path(path)
    if is_built(path):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.parent / f".{path.name}.lock"):
        if is_built(path):
            return path
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
        try:
            build(staging)
            if path.exists():
                retired = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
                os.replace(path, retired / path.name)
                shutil.rmtree(retired, ignore_errors=True)
            os.replace(staging, path)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return path


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
