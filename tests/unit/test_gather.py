"""`Gather`: reads that wait together share one query; a read never answers a request
with a query that started before the request arrived; failures reach every waiter."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence

import pytest

from tuneyard.api.gather import Gather


class Store:
    """A dict read by `read_many` on a worker thread; each query can be held open."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}
        self.queries: list[list[str]] = []
        self.release = threading.Event()
        self.release.set()
        self.fail: Exception | None = None

    def read_many(self, keys: Sequence[str]) -> Mapping[str, int]:
        self.queries.append(sorted(keys))
        snapshot = dict(self.rows)  # what the query reads: the rows as it starts
        self.release.wait(5)
        if self.fail is not None:
            raise self.fail
        return {k: snapshot[k] for k in keys if k in snapshot}


def test_reads_waiting_together_share_one_query() -> None:
    store = Store()
    store.rows.update(a=1, b=2)
    gather: Gather[int] = Gather(store.read_many)

    async def main() -> list[int | None]:
        return await asyncio.gather(*(gather.get(k) for k in "abab" + "c"))

    assert asyncio.run(main()) == [1, 2, 1, 2, None]
    assert store.queries == [["a", "b", "c"]]


def test_a_request_arriving_during_a_query_waits_for_the_next_one() -> None:
    """Freshness: a write that finished before a request arrived is seen by it, even when
    a query of the same key was already running."""
    store = Store()
    store.rows["a"] = 1
    gather: Gather[int] = Gather(store.read_many)

    async def main() -> tuple[int | None, int | None]:
        store.release.clear()
        first = asyncio.create_task(gather.get("a"))
        while not store.queries:  # the first query is running (and read a = 1)
            await asyncio.sleep(0.001)
        store.rows["a"] = 2  # a write that finishes now
        second = asyncio.create_task(gather.get("a"))
        await asyncio.sleep(0.01)
        store.release.set()
        return await first, await second

    assert asyncio.run(main()) == (1, 2)
    assert store.queries == [["a"], ["a"]]


def test_a_failed_query_fails_every_request_it_read_for() -> None:
    store = Store()
    store.fail = RuntimeError("database error")
    gather: Gather[int] = Gather(store.read_many)

    async def main() -> list[int | BaseException | None]:
        return await asyncio.gather(gather.get("a"), gather.get("b"), return_exceptions=True)

    results = asyncio.run(main())
    assert [str(r) for r in results] == ["database error"] * 2
    store.fail = None
    store.rows["a"] = 7
    assert asyncio.run(gather.get("a")) == 7  # the next read works (and on a new loop)


def test_a_request_that_leaves_does_not_stop_the_others() -> None:
    store = Store()
    store.rows.update(a=1)
    gather: Gather[int] = Gather(store.read_many)

    async def main() -> int | None:
        store.release.clear()
        gone = asyncio.create_task(gather.get("a"))
        stays = asyncio.create_task(gather.get("a"))
        await asyncio.sleep(0.01)
        gone.cancel()
        store.release.set()
        with pytest.raises(asyncio.CancelledError):
            await gone
        return await stays

    assert asyncio.run(main()) == 1


def test_at_most_max_keys_a_query() -> None:
    from tuneyard.api import gather as module

    store = Store()
    gather: Gather[int] = Gather(store.read_many)
    keys = [f"k{i}" for i in range(module.MAX_KEYS + 3)]

    async def main() -> None:
        await asyncio.gather(*(gather.get(k) for k in keys))

    asyncio.run(main())
    assert [len(q) for q in store.queries] == [module.MAX_KEYS, 3]
