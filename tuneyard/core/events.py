"""Job events: the timeline of what happened to a job, for logs, streams and reports."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from tuneyard.core.checkpoints import Checkpoint

__all__ = ["JobEvent", "saved_checkpoint"]


@dataclasses.dataclass(frozen=True, slots=True)
class JobEvent:
    """One entry of a job's timeline; `type` is "status", "message" or "metrics"."""

    job_id: str
    seq: int
    created_at: datetime
    level: str
    type: str
    message: str
    data: dict[str, Any] | None = None


def saved_checkpoint(event: JobEvent) -> Checkpoint | None:
    """The checkpoint a timeline event records (the recorder logs each as its stored form,
    `Checkpoint.to_dict`), or None."""
    data = event.data or {}
    if event.type == "message" and "path" in data and isinstance(data.get("step"), int):
        try:
            return Checkpoint.from_dict(data)
        except TypeError:  # a `resumed`-like record without a checkpoint's fields
            return None
    return None
