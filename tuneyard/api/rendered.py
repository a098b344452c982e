"""`fragment`: a job rendered (and encoded) once for every request that holds that very
job object.

Under load on PostgreSQL the `GET`s of one job waiting at the same time are read by one
query (`tuneyard.api.gather`), and every one of them receives the same `Job` object. Each
then rendered it to its dialect's dict and encoded it to JSON again (a dozen µs each, most
of a `GET`'s own work once the read is shared). Here the encoded rendering is kept beside
the object it came from and reused while a request hands in that same object (`is`, not
`==`): a job read again is a new object and is rendered afresh, so nothing stale is ever
served, and an object is never rendered twice while it is alive in a batch.

The entries hold their object (so its `id()` cannot be reused by another while the entry
lives) and are few (`SIZE`, oldest dropped first). Used from the event loop only.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import orjson

from tuneyard.api import respond

__all__ = ["SIZE", "fragment"]

T = TypeVar("T")
SIZE = 256
"""Entries kept: more than the distinct objects in flight at once in practice."""

_entries: dict[tuple[int, int, Hashable], tuple[object, object, orjson.Fragment]] = {}


def fragment(render: Callable[..., Any], value: T, *extra: Hashable) -> orjson.Fragment:
    """`render(value, *extra)` encoded as JSON, for placing in a response body; from the
    last call with the same `render`, the same object `value` and equal `extra` if it is
    still kept."""
    key = (id(render), id(value), extra)
    entry = _entries.get(key)
    if entry is not None and entry[0] is value and entry[1] is render:
        return entry[2]
    encoded = orjson.Fragment(respond.encode(render(value, *extra)))
    if len(_entries) >= SIZE:
        del _entries[next(iter(_entries))]
    _entries[key] = (value, render, encoded)
    return encoded
