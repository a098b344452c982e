"""A published model: a named, versioned tuned model of a workspace (the record; use-cases:
`publishing`).

- `PublishedModel` is the name (unique among a workspace's published models; a clash is
  `errors.PublishedNameTaken`, 409, and never tells one workspace about another's names),
  with a description, labels and the kind of model it holds.
- Each `PublishedVersion` points at one succeeded job's tuned model: its final output
  (`step` None) or a kept checkpoint. Versions are numbered 1, 2, … per model, in the
  order they were added; a number is never reused while its model lives.
- Deleting a published model or version deletes only the name: the job and its weights
  stay. A version a deployment serves, whatever its status (`Deployment.model` names the
  version's id), cannot be deleted, nor its model (`errors.ModelDeployed`, 409).
- A deleted job's model leaves its versions in place; deploying one then answers
  not-found, as the tuned model itself does.
- Vendor extras go in `attributes`, kept as sent; `dialect` says who created it.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

__all__ = ["PublishedModel", "PublishedVersion"]


@dataclasses.dataclass(frozen=True, slots=True)
class PublishedModel:
    """A named set of versions of a tuned model, in one workspace."""

    id: str
    workspace_id: str
    name: str
    """Unique among the workspace's published models."""
    kind: str
    """What the model does, as the creating dialect named it (a model type)."""
    dialect: str
    created_at: datetime
    updated_at: datetime
    """When it last changed: created, or a version added or deleted."""
    description: str = ""
    labels: tuple[str, ...] = ()
    created_by: str | None = None
    attributes: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Vendor fields kept as sent."""


@dataclasses.dataclass(frozen=True, slots=True)
class PublishedVersion:
    """One version of a published model: a succeeded job's output or checkpoint."""

    id: str
    model_id: str
    workspace_id: str
    job_id: str
    created_at: datetime
    number: int = 0
    """1, 2, … within its model; 0 until the repository numbers it on insert."""
    step: int | None = None
    """The checkpoint's step; None for the job's final model."""
    description: str = ""
    created_by: str | None = None
    attributes: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Vendor fields kept as sent."""
