"""The blob store: bytes by key as files on local disk (tests use a temporary root)."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from tuneyard import errors

__all__ = ["LocalBlobStore", "check_key"]

_KEY = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def check_key(key: str) -> str:
    """The key, if it is one a blob may have (ValueError otherwise)."""
    if not _KEY.match(key) or key.startswith("."):
        raise ValueError(f"bad blob key {key!r}")
    return key


class LocalBlobStore:
    """Blobs as files under a root directory; written to a temp file, then renamed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        """The file holding the blob."""
        key = check_key(key)
        return self.root / key[-2:] / key

    def put(self, key: str, chunks: Iterable[bytes], *, limit: int) -> tuple[int, str, bool]:
        """Stream chunks to disk, keeping at most `limit + 1` bytes."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        truncated = False
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    room = limit + 1 - size
                    if len(chunk) > room:
                        chunk, truncated = chunk[:room], True
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    if truncated:
                        break
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise errors.StorageError(f"could not store the upload: {exc.strerror}") from exc
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return size, digest.hexdigest(), truncated

    def delete(self, key: str) -> None:
        """Remove the blob if present."""
        self.path(key).unlink(missing_ok=True)
