"""Job events: the timeline of what happened to a job, for logs, streams and reports."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

__all__ = ["JobEvent"]


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
