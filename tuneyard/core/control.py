"""A client's control of its jobs: cancel, pause, resume, prioritize, delete."""

from __future__ import annotations

from tuneyard import errors
from tuneyard.core import deployments, states
from tuneyard.core.jobs import PRIORITY_MAX, PRIORITY_MIN, Job
from tuneyard.core.ports import Ports
from tuneyard.core.queries import Jobs
from tuneyard.core.states import JobStatus
from tuneyard.core.transitions import Transitions
from tuneyard.core.workdirs import WorkDirs

__all__ = ["Control"]

_S = JobStatus


class Control:
    """Stop, pause, resume, reprioritize and delete jobs; every status change goes through
    `Transitions`."""

    def __init__(self, ports: Ports, jobs: Jobs, transitions: Transitions, dirs: WorkDirs) -> None:
        self.ports = ports
        self.jobs = jobs
        self.transitions = transitions
        self.dirs = dirs

    def cancel(self, workspace_id: str, job_id: str, *, by: str | None = None) -> Job:
        """Stop a job: RUNNING goes CANCELLING (the scheduler stops the worker), others CANCELLED;
        a job already CANCELLING is left as it is. `by` (who cancels) becomes the job's
        `modified_by`.

        Raises InvalidTransition for a finished job.
        """
        job = self.jobs.get(workspace_id, job_id)
        for _ in range(5):  # the status may move under us (e.g. QUEUED -> RUNNING)
            if states.is_terminal(job.status):
                raise errors.InvalidTransition(f"the job has already {job.status.value}")
            if job.status is _S.CANCELLING:
                return job  # already stopping: the worker ends at its next step boundary
            alive = job.status in (_S.RUNNING, _S.PAUSING)  # a worker must be stopped
            target = _S.CANCELLING if alive else _S.CANCELLED
            fields: dict[str, object] = {"modified_by": by} if by else {}
            if target is _S.CANCELLED:
                fields["finished_at"] = self.ports.clock.now()
            if self.transitions.move(job, target, **fields):
                return self.jobs.get(workspace_id, job_id)
            job = self.jobs.get(workspace_id, job_id)
        raise errors.Conflict("the job changed state repeatedly; try again")

    def pause(self, workspace_id: str, job_id: str, *, by: str | None = None) -> Job:
        """Pause a RUNNING job: it goes PAUSING, its worker saves a checkpoint at the next
        step boundary and exits, and the job is PAUSED (its worker slot freed). A job
        already pausing or paused is returned as it is; others raise InvalidTransition."""
        job = self.jobs.get(workspace_id, job_id)
        if job.status in (_S.PAUSING, _S.PAUSED):
            return job
        if job.status is not _S.RUNNING:
            raise errors.InvalidTransition(
                f"only a running job can be paused; it is {job.status.value}"
            )
        fields: dict[str, object] = {"modified_by": by} if by else {}
        if not self.transitions.move(job, _S.PAUSING, **fields):
            raise errors.Conflict("the job changed state meanwhile; try again")
        return self.jobs.get(workspace_id, job_id)

    def resume(self, workspace_id: str, job_id: str, *, by: str | None = None) -> Job:
        """Queue a PAUSED job again; its worker resumes from the newest checkpoint. A job
        still PAUSING raises Conflict (retry once it is paused); a RUNNING or QUEUED job
        is returned as it is; a finished one raises InvalidTransition."""
        job = self.jobs.get(workspace_id, job_id)
        if job.status in (_S.RUNNING, _S.QUEUED):
            return job
        if job.status is _S.PAUSING:
            raise errors.Conflict("the job is still pausing; resume it once it is paused")
        if job.status is not _S.PAUSED:
            raise errors.InvalidTransition(
                f"only a paused job can be resumed; it is {job.status.value}"
            )
        fields: dict[str, object] = {"modified_by": by} if by else {}
        if not self.transitions.move(job, _S.QUEUED, queued_at=self.ports.clock.now(), **fields):
            raise errors.Conflict("the job changed state meanwhile; try again")
        return self.jobs.get(workspace_id, job_id)

    def prioritize(self, workspace_id: str, job_id: str, priority: int) -> Job:
        """Set an unfinished job's priority (PRIORITY_MIN..PRIORITY_MAX; higher is claimed
        first among its workspace's queued jobs). A finished job raises
        InvalidTransition."""
        if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
            raise errors.InvalidRequest(
                f"priority must be between {PRIORITY_MIN} and {PRIORITY_MAX}", param="priority"
            )
        job = self.jobs.get(workspace_id, job_id)
        if not self.ports.jobs.set_priority(job.id, priority, self.ports.clock.now()):
            job = self.jobs.get(workspace_id, job_id)
            raise errors.InvalidTransition(f"the job has already {job.status.value}")
        return self.jobs.get(workspace_id, job_id)

    def delete(self, workspace_id: str, job_id: str, *, by: str | None = None) -> None:
        """Delete a job; a job still in progress is cancelled first; ModelDeployed while
        a deployment serves its tuned model (delete that first)."""
        job = self.jobs.get(workspace_id, job_id)
        deployments.refuse_if_serving(job.id, self.ports.deployments.serving(job.id))
        if not states.is_terminal(job.status):
            job = self.cancel(workspace_id, job_id, by=by)
        self.ports.jobs.mark_deleted(job.id, self.ports.clock.now())
        if states.is_terminal(job.status):
            self.dirs.purge(job.id)
