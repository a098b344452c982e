"""`Gather`: reads of rows by key that arrive while one is in flight are gathered into
the next, one query and one worker-thread hop for all of them.

On a store across the network (PostgreSQL) a point read costs a request a worker-thread
hop (~90 µs of CPU: the event loop must not wait on the round trip) and a query (~150 µs
of driver work), where everything else in a `GET` of a job costs ~200 µs. Under load many
such reads are waiting at once (a hundred clients polling jobs); gathered, they share the
hop and the query (`SELECT … WHERE id IN (…)`), and each request pays a share.

On a store on the server's own disk (SQLite, the memory fake: `inline=True`) the query
runs on the event loop itself, with no thread hop, once the requests that arrived
together have asked: the reads of one loop pass (every request whose bytes came in with
it) share it. A lone request pays a task switch (a few µs) for it; a hundred clients
polling one job read it once per pass, and render it once (`tuneyard.api.rendered`).

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
    """Reads by key through `read_many(keys) -> {key: row}` (run on a worker thread, or on
    the loop when `inline`), for requests on one event loop; a key with no row reads as
    None."""

    def __init__(
        self, read_many: Callable[[Sequence[str]], Mapping[str, T]], *, inline: bool = False
    ) -> None:
        self.read_many = read_many
        self.inline = inline
        """Run `read_many` on the event loop (a store on local disk), not a worker thread."""
        self._waiting: dict[str, list[asyncio.Future[T | None]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._scheduled = False
        """An inline read is on the loop's queue."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self.queries = 0
        """Queries run so far (for tests and the bench)."""

    async def get(self, key: str) -> T | None:
        """The row for `key`, read by a query that starts after this call."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # first use, or a new loop (a test's): start afresh
            self._loop, self._waiting, self._reader, self._scheduled = loop, {}, None, False
        future: asyncio.Future[T | None] = loop.create_future()
        self._waiting.setdefault(key, []).append(future)
        if self.inline:
            if not self._scheduled:  # after the requests already on the loop's queue
                self._scheduled = True
                loop.call_soon(self._read_inline)
        elif self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read())
        return await future

    def _read_inline(self) -> None:
        """Every waiting key read on the loop, now (a callback: no task to run it)."""
        self._scheduled = False
        while self._waiting:
            batch = self._take()
            try:
                rows = self.read_many(list(batch))
            except Exception as exc:  # every request it read for fails the same way
                _settle(batch, exc)
                continue
            _answer(batch, rows)

    async def _read(self) -> None:
        while self._waiting:
            batch = self._take()
            try:
                rows = await run_in_threadpool(self.read_many, list(batch))
            except BaseException as exc:  # every request it read for fails the same way
                _settle(batch, exc)
                if not isinstance(exc, Exception):
                    _settle(self._waiting, asyncio.CancelledError())
                    raise
                continue
            _answer(batch, rows)

    def _take(self) -> dict[str, list[asyncio.Future[T | None]]]:
        """The next query's keys (at most MAX_KEYS) with their waiters, no longer waiting."""
        keys = list(self._waiting)[:MAX_KEYS]
        self.queries += 1
        return {key: self._waiting.pop(key) for key in keys}


def _answer(batch: Mapping[str, list[asyncio.Future[T | None]]], rows: Mapping[str, T]) -> None:
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
