"""Keyset paging in the one stable order (created_at desc, id desc): cursors and slices."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from tuneyard import errors

__all__ = ["Cursor", "Slice", "cursor_at"]

T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True)
class Cursor:
    """A position in the one stable order: a listing that starts at a cursor returns the
    items strictly after it (a dialect's `marker` or `after`)."""

    created_at: datetime
    id: str


@dataclasses.dataclass(frozen=True, slots=True)
class Slice(Generic[T]):
    """Items of a keyset listing, and whether more follow them."""

    items: list[T]
    more: bool


class _Listed(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def workspace_id(self) -> str: ...

    @property
    def created_at(self) -> datetime: ...


def cursor_at(marker: str, found: _Listed | None, workspace_id: str) -> Cursor:
    """The cursor of the item a client named as its marker (it may have been deleted since
    it was listed); InvalidRequest when there is no such item in the workspace."""
    if found is None or found.workspace_id != workspace_id:
        raise errors.InvalidRequest(f"marker {marker} is not in this list", param="marker")
    return Cursor(found.created_at, found.id)
