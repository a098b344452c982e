"""Uploaded dataset files, as stored (the bytes live in the blob store)."""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from datetime import datetime

__all__ = ["MAX_NAME_BYTES", "StoredFile", "safe_name"]

MAX_NAME_BYTES = 255
"""The longest file name kept, in UTF-8 bytes (what file systems allow)."""

_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Control, format (bidi overrides, zero-width), surrogate, private, unassigned, line and
paragraph separator characters: never kept in a name."""
_LONGEST_SUFFIX = 16


def safe_name(name: str | None, default: str = "dataset.jsonl") -> str:
    """A client's file name reduced to a safe base name: its last path component (`/` and
    `\\` both separate), without control or other invisible characters, leading dots or
    surrounding blanks, at most MAX_NAME_BYTES of UTF-8 (the suffix kept); `default` when
    nothing is left."""
    base = re.split(r"[/\\]", name or "")[-1]
    kept = "".join(c for c in base if unicodedata.category(c) not in _UNSAFE_CATEGORIES)
    kept = kept.strip().lstrip(".").strip()
    if not kept:
        return default
    if len(kept.encode("utf-8")) <= MAX_NAME_BYTES:
        return kept
    stem, dot, suffix = kept.rpartition(".")
    if not dot or not stem or len(suffix) > _LONGEST_SUFFIX or not suffix.isascii():
        stem, suffix = kept, ""
    tail = f".{suffix}" if suffix else ""
    room = MAX_NAME_BYTES - len(tail.encode("utf-8"))
    return stem.encode("utf-8")[:room].decode("utf-8", "ignore").rstrip() + tail


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
