"""Echo create request → neutral JobSpec."""

from __future__ import annotations

from tests.dialects.echo import wire
from tuneyard.core import ids
from tuneyard.core.jobs import Hyperparameters, JobSpec
from tuneyard.kinds import Method, TaskType

__all__ = ["ID_STYLE", "to_spec"]

ID_STYLE = ids.IdStyle(prefix="echo-", length=10)
"""Echo job ids: `echo-` and 10 lowercase alphanumerics."""


def to_spec(create: wire.CreateJob, *, workspace_id: str) -> JobSpec:
    """The neutral spec of a create request: LoRA SFT, 1 epoch unless asked."""
    return JobSpec(
        workspace_id=workspace_id,
        display_name="",
        base_model=create.model,
        task_type=TaskType.GENERATION,
        method=Method.LORA,
        hyperparameters=Hyperparameters(n_epochs=create.epochs or 1),
        dialect="echo",
        id_style=ID_STYLE,
        training_file_id=create.trainingFile,
    )
