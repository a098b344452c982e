"""Uploaded dataset files, as stored (the bytes live in the blob store)."""

from __future__ import annotations

import dataclasses
from datetime import datetime

__all__ = ["StoredFile"]


@dataclasses.dataclass(frozen=True, slots=True)
class StoredFile:
    """A file a client uploaded: its metadata; `blob_key` names its bytes in the BlobStore.

    `truncated` is True when the upload went past the size limit and only the first
    `limit + 1` bytes were kept (the dataset check then reports `file.size`). A deleted
    file (`deleted_at`) is hidden from its workspace; its bytes stay while jobs use them.
    """

    id: str
    workspace_id: str
    filename: str
    bytes: int
    sha256: str
    purpose: str
    blob_key: str
    created_at: datetime
    truncated: bool = False
    description: str | None = None
    deleted_at: datetime | None = None
    status: str = "processed"
    """"uploaded" (not checked yet), "processed" (a valid dataset) or "error"."""
    status_details: str | None = None
    """Why a file is "error": the first problem, "reason: line N: message"."""
