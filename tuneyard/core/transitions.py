"""The one place a job's status moves: check the transition table, compare-and-set in the
repository, write the status event. Every path uses it: client actions, the lifecycle,
and the scheduler's claim (the repository's claim is its compare-and-set)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from tuneyard.core import states
from tuneyard.core.jobs import Job
from tuneyard.core.ports import Fence, Ports
from tuneyard.core.states import JobStatus

__all__ = ["Transitions"]

_S = JobStatus


class Transitions:
    """Status moves of jobs, each logged as a `status` event of the job's timeline."""

    def __init__(self, ports: Ports) -> None:
        self.ports = ports

    def created(self, job: Job) -> None:
        """Log a job's first status (it was stored CREATED)."""
        self.ports.events.append(
            job.id, created_at=job.created_at, level="info", type="status", message="Job created"
        )

    def move(
        self, job: Job, new: JobStatus, fence: Fence | None = None, /, **fields: object
    ) -> bool:
        """Compare-and-set `job.status -> new` through the transition table; log it.
        False when the job's status moved meanwhile (nothing is written), or its lease
        fails the `fence` (another scheduler holds it now)."""
        states.check_transition(job.status, new)
        now = self.ports.clock.now()
        if not self.ports.jobs.transition(job.id, job.status, new, fence, updated_at=now, **fields):
            return False
        self._log(job.id, job.status, new, now)
        return True

    def claim(self, owner: str, lease_until: datetime) -> Job | None:
        """QUEUED -> RUNNING for the oldest queued job, under a lease held by `owner` (the
        repository's claim is the compare-and-set); logged with its attempt: 1, plus one
        per worker lost so far (a clean restart, a pause or a requeue continues the same
        attempt). None when no job is queued."""
        states.check_transition(_S.QUEUED, _S.RUNNING)
        job = self.ports.jobs.claim_next(owner, self.ports.clock.now(), lease_until)
        if job is not None:
            attempt = {"attempt": job.attempts + 1}
            self._log(job.id, _S.QUEUED, _S.RUNNING, self.ports.clock.now(), attempt)
        return job

    def fail(
        self,
        job: Job,
        code: str,
        message: str,
        *,
        kind: str | None = None,
        param: str | None = None,
        attempts: int | None = None,
        fence: Fence | None = None,
    ) -> bool:
        """Move a job to FAILED with a failure reason and message (and, for a dataset, the
        problem's kind and the input it is about; for a lost worker, the attempts used),
        fenced as `move` is; False when it was not moved."""
        fresh = self.ports.jobs.get(job.id)
        assert fresh is not None
        progress = dataclasses.replace(fresh.progress, weights_saved=False)
        self.ports.jobs.save_progress(fresh.id, progress, self.ports.clock.now())
        return self.move(
            fresh,
            _S.FAILED,
            fence,
            error_code=code,
            error_message=message,
            error_kind=kind,
            error_param=param,
            finished_at=self.ports.clock.now(),
            lease_owner=None,
            **({} if attempts is None else {"attempts": attempts}),
        )

    def _log(
        self,
        job_id: str,
        old: JobStatus,
        new: JobStatus,
        now: datetime,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.ports.events.append(
            job_id,
            created_at=now,
            level="error" if new is _S.FAILED else "info",
            type="status",
            message=f"Status {old.value} -> {new.value}",
            data={"from": old.value, "to": new.value, **(extra or {})},
        )
