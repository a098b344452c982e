"""Following a job's timeline for an event stream: read the job and its new events every
half second, and say when the stream should end.

`follow_job` yields each read as an `Update` (the job record, the events after the last
one yielded, whether more are waiting) and, between reads, the SSE comments a stream
sends (a keep-alive every 15 s; a last one when nothing new came for `idle_s`). It ends
after an update that leaves nothing to wait for — the job at rest (finished or paused)
with no new event on two reads a poll apart (a job's move to rest may be logged just
after it: a paused job's "Paused at step" line), or with `follow=False` once everything
so far is read — when the client has gone, or when idle. A job deleted meanwhile raises
JobNotFound, which each stream renders its own way. This is the loop of DashScope's
`/fine-tunes/{id}/stream` and of the console's job stream.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator

from fastapi.concurrency import run_in_threadpool
from starlette.requests import Request

from tuneyard.core import states
from tuneyard.core.events import JobEvent
from tuneyard.core.jobs import Job
from tuneyard.core.service import Service

__all__ = ["KEEP_ALIVE_S", "POLL_S", "Update", "at_rest", "follow_job"]

POLL_S = 0.5
"""How often the job and its timeline are read while nothing new comes."""
KEEP_ALIVE_S = 15.0
"""How often an idle stream sends a comment, so proxies keep it open."""
_BATCH = 2000


@dataclasses.dataclass(frozen=True, slots=True)
class Update:
    """One read: the job, the events after the last update's, and whether more wait."""

    job: Job
    events: list[JobEvent]
    more: bool


def at_rest(job: Job) -> bool:
    """Whether nothing will happen to the job until someone acts (finished or paused)."""
    return states.is_terminal(job.status) or job.status is states.JobStatus.PAUSED


async def follow_job(
    request: Request,
    service: Service,
    workspace: str,
    job_id: str,
    *,
    after: int,
    idle_s: float,
    follow: bool = True,
) -> AsyncIterator[Update | str]:
    """The job's updates from after the event `after`, and the comments between them."""
    sent, quiet, last_news = after, 0.0, time.monotonic()
    rested = False  # the last read found the job at rest with nothing new
    while True:
        # the job first: a job at rest has logged its last event before it is read
        job = await run_in_threadpool(service.jobs.get, workspace, job_id)
        found = await run_in_threadpool(
            service.events.read, workspace, job_id, after=sent, limit=_BATCH
        )
        if found.items:
            sent = found.items[-1].seq
        yield Update(job, found.items, found.more)
        if found.more:
            continue
        if not follow or await request.is_disconnected():
            return
        if at_rest(job) and not found.items:
            if rested:  # at rest on two reads a poll apart: its last events are logged
                return
            rested = True
            await asyncio.sleep(POLL_S)
            continue
        rested = False
        if found.items:
            quiet, last_news = 0.0, time.monotonic()
            continue
        if time.monotonic() - last_news >= idle_s:
            yield f": no new event for {idle_s:g} s; the stream ends (reconnect to follow)\n\n"
            return
        await asyncio.sleep(POLL_S)
        quiet += POLL_S
        if quiet >= KEEP_ALIVE_S:
            yield ": keep-alive\n\n"
            quiet = 0.0
