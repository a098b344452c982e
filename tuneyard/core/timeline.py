"""A job's timeline as clients read it: one reader with a cursor and a direction serves
every dialect (log pages, event lists, live streams) and the results file and curves."""

from __future__ import annotations

from collections.abc import Iterator

from tuneyard.core.events import JobEvent
from tuneyard.core.jobs import Job
from tuneyard.core.paging import Slice
from tuneyard.core.ports import Ports
from tuneyard.core.queries import Jobs

__all__ = ["Timeline"]

_BATCH = 1000


class Timeline:
    """Read the events of a workspace's jobs."""

    def __init__(self, ports: Ports, jobs: Jobs) -> None:
        self.ports = ports
        self.jobs = jobs

    def read(
        self,
        workspace_id: str,
        job_id: str,
        *,
        after: int = 0,
        before: int | None = None,
        limit: int = _BATCH,
        newest_first: bool = False,
    ) -> Slice[JobEvent]:
        """Up to `limit` of the job's events and whether more follow in that direction:
        oldest first from after the event `after` (a `seq`; 0: from the first), or with
        `newest_first` from before the event `before` (None: from the newest).
        JobNotFound for a job not of the workspace."""
        self.jobs.get(workspace_id, job_id)
        return self._slice(job_id, after=after, before=before, limit=limit, newest=newest_first)

    def count(self, workspace_id: str, job_id: str) -> int:
        """How many events the job's timeline holds."""
        self.jobs.get(workspace_id, job_id)
        return self.ports.events.count(job_id)

    def each(self, job: Job) -> Iterator[JobEvent]:
        """Every event of a job already looked up, oldest first, read in batches."""
        after = 0
        while True:
            batch = self._slice(job.id, after=after, before=None, limit=_BATCH, newest=False)
            yield from batch.items
            if not batch.more:
                return
            after = batch.items[-1].seq

    def _slice(
        self, job_id: str, *, after: int, before: int | None, limit: int, newest: bool
    ) -> Slice[JobEvent]:
        if newest:
            found = self.ports.events.latest(job_id, before_seq=before, limit=limit + 1)
        else:
            found = self.ports.events.list(job_id, after_seq=after, limit=limit + 1)
        return Slice(found[:limit], len(found) > limit)
