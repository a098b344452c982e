"""Read-only links to a job's training curves, for people without an API key (a dialect's
visualisation link): an unguessable token seals the job's workspace and id, and the curves
are read from the job's timeline and checkpoints."""

from __future__ import annotations

import dataclasses

from tuneyard import errors
from tuneyard.core.jobs import Job
from tuneyard.core.ports import Sealer
from tuneyard.core.queries import Jobs
from tuneyard.core.timeline import Timeline

__all__ = ["Curves", "curves", "shared_job", "token"]

_PURPOSE = "curves"
_MAX_POINTS = 2000


@dataclasses.dataclass(frozen=True, slots=True)
class Curves:
    """A run's losses by optimizer step: training (smoothed, every reported step) and
    validation (at each checkpoint still listed)."""

    train: list[tuple[int, float]]
    validation: list[tuple[int, float]]


def token(sealer: Sealer, job: Job) -> str:
    """A token that opens `job`'s curves (sealed and authenticated; it cannot be forged
    or pointed at another job)."""
    return sealer.seal(f"{_PURPOSE}:{job.workspace_id}:{job.id}")


def shared_job(sealer: Sealer, jobs: Jobs, sealed: str) -> Job:
    """The job a token opens; JobNotFound for a forged or stale token or a deleted job."""
    try:
        purpose, workspace_id, job_id = sealer.open(sealed).split(":", 2)
    except (errors.StorageError, ValueError):
        raise errors.JobNotFound("This link is not valid.") from None
    if purpose != _PURPOSE:
        raise errors.JobNotFound("This link is not valid.")
    return jobs.get(workspace_id, job_id)


def curves(events: Timeline, job: Job) -> Curves:
    """The losses the run reported (every `metrics` event), thinned evenly to at most 2,000
    points, and the validation loss of each checkpoint."""
    train: list[tuple[int, float]] = []
    for event in events.each(job):
        data = event.data or {}
        step, loss = data.get("step"), data.get("loss")
        if event.type == "metrics" and isinstance(step, int) and isinstance(loss, int | float):
            train.append((step, float(loss)))
    if len(train) > _MAX_POINTS:
        stride = len(train) / _MAX_POINTS
        train = [train[int(i * stride)] for i in range(_MAX_POINTS - 1)] + [train[-1]]
    validation = [
        (c.step, float(c.valid_loss)) for c in job.progress.checkpoints if c.valid_loss is not None
    ]
    return Curves(train=train, validation=validation)
