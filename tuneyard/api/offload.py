"""`read`: a short read of the store, run where it costs least.

A worker-thread hop (AnyIO's `run_sync_in_worker_thread`) costs a request more CPU than a
point read of a local SQLite file by its primary key (tens of µs), and serialises on the
GIL anyway. So where the store never waits on the network (`Ports.inline_reads`: memory,
or SQLite on the server's disk) a read of one row runs on the event loop; elsewhere
(PostgreSQL) it keeps its worker thread, where a slow round trip blocks nobody else.

Only point reads belong here: a listing, a write or anything that may touch a large file
stays on `run_in_threadpool`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from fastapi.concurrency import run_in_threadpool

from tuneyard.core.service import Service

__all__ = ["read"]

P = ParamSpec("P")
T = TypeVar("T")


async def read(service: Service, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`call(*args, **kwargs)`: on the event loop when the service's store is local, else
    on a worker thread."""
    if service.ports.inline_reads:
        return call(*args, **kwargs)
    return await run_in_threadpool(call, *args, **kwargs)
