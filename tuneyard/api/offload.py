"""`read`: a short read of the store, run where it costs least.

A worker-thread hop (AnyIO's `run_sync_in_worker_thread`) costs a request more CPU than a
point read of a local SQLite file by its primary key (tens of µs), and serialises on the
GIL anyway. So where the store never waits on the network (`Ports.inline_reads`: memory,
or SQLite on the server's disk) a read of one row runs on the event loop; elsewhere
(PostgreSQL) it keeps its worker thread, where a slow round trip blocks nobody else.

Only point reads belong here: a listing, a write or anything that may touch a large file
stays on `run_in_threadpool`.

`job` reads one job, the hottest read of all (every client polling a job's status),
gathered with the other job reads waiting at the same time (see `tuneyard.api.gather`):
one query for many, on the event loop for a local store as `read` does, else on a worker
thread.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from fastapi.concurrency import run_in_threadpool

from tuneyard.api.gather import Gather
from tuneyard.core import queries
from tuneyard.core.jobs import Job
from tuneyard.core.service import Service

__all__ = ["job", "read"]

P = ParamSpec("P")
T = TypeVar("T")


async def read(service: Service, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`call(*args, **kwargs)`: on the event loop when the service's store is local, else
    on a worker thread."""
    if service.ports.inline_reads:
        return call(*args, **kwargs)
    return await run_in_threadpool(call, *args, **kwargs)


_job_reads: weakref.WeakKeyDictionary[Service, Gather[Job]] = weakref.WeakKeyDictionary()


async def job(service: Service, workspace_id: str, job_id: str) -> Job:
    """`service.jobs.get(workspace_id, job_id)`, gathered with the other job reads waiting
    (on the event loop for a local store, else on a worker thread)."""
    reads = _job_reads.get(service)
    if reads is None:
        ports = service.ports
        reads = _job_reads[service] = Gather(ports.jobs.get_many, inline=ports.inline_reads)
    return queries.visible(workspace_id, job_id, await reads.get(job_id))
