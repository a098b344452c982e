"""Job events: the timeline of what happened to a job, for logs, streams and reports."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

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


def saved_checkpoint(event: JobEvent) -> Mapping[str, Any] | None:
    """The checkpoint a timeline event records (the lifecycle logs each with the worker's
    record: step, path, train_loss, valid_loss, token_accuracy, …), or None."""
    data = event.data or {}
    if event.type == "message" and "path" in data and isinstance(data.get("step"), int):
        return data
    return None
