"""Read-only links to a job's training curves, for people without an API key (Qianfan's
`vdlLink`): an unguessable token seals the job's workspace and id, and the curves are read
from the job's timeline and checkpoints."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from tuneyard import errors
from tuneyard.core.jobs import Job

if TYPE_CHECKING:
    from tuneyard.core.service import Service

__all__ = ["Curves", "curves", "shared_job", "token"]

_PURPOSE = "curves"
_MAX_POINTS = 2000


@dataclasses.dataclass(frozen=True, slots=True)
class Curves:
    """A run's losses by optimizer step: training (smoothed, every reported step) and
    validation (at each checkpoint still listed)."""

    train: list[tuple[int, float]]
    validation: list[tuple[int, float]]


def token(service: Service, job: Job) -> str:
    """A token that opens `job`'s curves (sealed and authenticated; it cannot be forged
    or pointed at another job)."""
    return service.ports.sealer.seal(f"{_PURPOSE}:{job.workspace_id}:{job.id}")


def shared_job(service: Service, sealed: str) -> Job:
    """The job a token opens; JobNotFound for a forged or stale token or a deleted job."""
    try:
        purpose, workspace_id, job_id = service.ports.sealer.open(sealed).split(":", 2)
    except (errors.StorageError, ValueError):
        raise errors.JobNotFound("This link is not valid.") from None
    if purpose != _PURPOSE:
        raise errors.JobNotFound("This link is not valid.")
    return service.get_job(workspace_id, job_id)


def curves(service: Service, job: Job) -> Curves:
    """The losses the run reported (every `metrics` event), thinned evenly to at most 2,000
    points, and the validation loss of each checkpoint."""
    train: list[tuple[int, float]] = []
    for event in service.timeline(job.id):
        data = event.data or {}
        step, loss = data.get("step"), data.get("loss")
        if event.type == "metrics" and isinstance(step, int) and isinstance(loss, int | float):
            train.append((step, float(loss)))
    if len(train) > _MAX_POINTS:
        stride = len(train) / _MAX_POINTS
        train = [train[int(i * stride)] for i in range(_MAX_POINTS - 1)] + [train[-1]]
    validation = [
        (int(c["step"]), float(c["valid_loss"]))
        for c in job.progress.checkpoints
        if isinstance(c.get("step"), int) and isinstance(c.get("valid_loss"), int | float)
    ]
    return Curves(train=train, validation=validation)
