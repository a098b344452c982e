"""Job groups: a named container of training runs (the record; use-cases: `group_admin`).

A group fixes the base model and the objective; each run in it is an ordinary job with
`group_id` set, so runs are queued, trained, stopped and listed like any other job.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from tuneyard.kinds import Objective

__all__ = ["JobGroup"]


@dataclasses.dataclass(frozen=True, slots=True)
class JobGroup:
    """A named container of jobs on one base model with one objective."""

    id: str
    workspace_id: str
    name: str
    description: str
    base_model: str
    objective: Objective
    created_at: datetime
    created_by: str | None = None
    echo: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Request fields the creating dialect keeps as sent (e.g. defaults for its runs)."""
    deleted: bool = False
