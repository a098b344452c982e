"""`Gather`: reads of rows by key that arrive while one is in flight are gathered into
the next, one query and one worker-thread hop for all of them.

On a store across the network (PostgreSQL) a point read costs a request a worker-thread
hop (~90 µs of CPU: the event loop must not wait on the round trip) and a query (~150 µs
of driver work), where everything else in a `GET` of a job costs ~200 µs. Under load many
such reads are waiting at once (a hundred clients polling jobs); gathered, they share the
hop and the query (`SELECT … WHERE id IN (…)`), and each request pays a share.

Freshness is what a read of its own would give: a request's key is only ever read by a
query that starts after the request arrived (the keys waiting are taken when a query
starts; those that arrive during it wait for the next), so a write that finished before a
request arrived is always seen. One query runs at a time per `Gather`; a failed query
fails every request it was reading for, with the same error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Generic, TypeVar

from fastapi.concurrency import run_in_threadpool

__all__ = ["Gather"]

T = TypeVar("T")

MAX_KEYS = 500
"""The most keys one query reads (the rest wait for the next)."""


class Gather(Generic[T]):
    """Reads by key through `read_many(keys) -> {key: row}` (run on a worker thread), for
    requests on one event loop; a key with no row reads as None."""

    def __init__(self, read_many: Callable[[Sequence[str]], Mapping[str, T]]) -> None:
        self.read_many = read_many
        self._waiting: dict[str, list[asyncio.Future[T | None]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.queries = 0
        """Queries run so far (for tests and the bench)."""

    async def get(self, key: str) -> T | None:
        """The row for `key`, read by a query that starts after this call."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # first use, or a new loop (a test's): start afresh
            self._loop, self._waiting, self._reader = loop, {}, None
        future: asyncio.Future[T | None] = loop.create_future()
        self._waiting.setdefault(key, []).append(future)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read())
        return await future

    async def _read(self) -> None:
        while self._waiting:
            keys = list(self._waiting)[:MAX_KEYS]
            batch = {key: self._waiting.pop(key) for key in keys}
            self.queries += 1
            try:
                rows = await run_in_threadpool(self.read_many, keys)
            except BaseException as exc:  # every request it read for fails the same way
                _settle(batch, exc)
                if not isinstance(exc, Exception):
                    _settle(self._waiting, asyncio.CancelledError())
                    raise
                continue
            for key, futures in batch.items():
                row = rows.get(key)
                for future in futures:
                    if not future.done():  # a request cancelled meanwhile has gone
                        future.set_result(row)


def _settle(batch: Mapping[str, list[asyncio.Future[T | None]]], exc: BaseException) -> None:
    for futures in batch.values():
        for future in futures:
            if not future.done():
                future.set_exception(exc)
