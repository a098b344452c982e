"""The job records the benches insert directly (no API, no validation): a LoRA job on
tiny-chat, as CLOVA would have created it."""

from __future__ import annotations

import datetime as dt

from tuneyard.core.jobs import Hyperparameters, Job, Progress
from tuneyard.core.states import JobStatus
from tuneyard.kinds import Method, TaskType

__all__ = ["job"]


def job(
    job_id: str,
    workspace: str,
    when: dt.datetime,
    *,
    status: JobStatus = JobStatus.SUCCEEDED,
    group_id: str | None = None,
) -> Job:
    """A job named `job_id` in `workspace`, created and last updated at `when`."""
    return Job(
        id=job_id,
        workspace_id=workspace,
        display_name=job_id,
        base_model="tiny-chat",
        task_type=TaskType.GENERATION,
        method=Method.LORA,
        training_file_id=None,
        hyperparameters=Hyperparameters(),
        dialect="clova",
        created_via="API",
        status=status,
        progress=Progress(),
        created_at=when,
        updated_at=when,
        group_id=group_id,
    )
