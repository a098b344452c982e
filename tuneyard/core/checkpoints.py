"""A checkpoint of a run: one type from the worker's `checkpoint` event to the API.

The worker sends the fields of `WIRE` (see `tuneyard.core.protocol`); the server adds when
it saw the checkpoint (`created_at`) and, once the checkpoint is exported as a model, that
model's name (`model_name`). `Progress.checkpoints` keeps them in a JSON column through
`to_dict` / `from_dict`, in the shape earlier versions stored.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

__all__ = ["WIRE", "Checkpoint"]

WIRE = (
    "step",
    "epoch",
    "path",
    "train_loss",
    "valid_loss",
    "perplexity",
    "token_accuracy",
    "reward_accuracy",
)
"""The fields a worker's `checkpoint` event carries, in their order on the wire."""


@dataclasses.dataclass(frozen=True, slots=True)
class Checkpoint:
    """What a checkpoint records about the run at its step (losses None where not measured)."""

    step: int
    epoch: int
    path: str
    """The checkpoint's directory on the worker's disk."""
    train_loss: float | None = None
    """Mean training loss of the epoch so far."""
    valid_loss: float | None = None
    perplexity: float | None = None
    token_accuracy: float | None = None
    reward_accuracy: float | None = None
    """DPO: share of validation pairs whose chosen reply the model prefers."""
    created_at: datetime | None = None
    """When the server recorded it (not sent by the worker)."""
    model_name: str | None = None
    """The model the checkpoint was exported as, if it was."""

    @property
    def rank_loss(self) -> float:
        """The loss that decides the best checkpoint: validation loss, else training loss
        (infinite when neither was measured)."""
        if self.valid_loss is not None:
            return self.valid_loss
        return self.train_loss if self.train_loss is not None else math.inf

    def wire(self) -> dict[str, Any]:
        """The fields of the `checkpoint` protocol event (and of `checkpoint.json`)."""
        return {name: getattr(self, name) for name in WIRE}

    def to_dict(self) -> dict[str, Any]:
        """The stored form: the wire fields and `created_at` (ISO 8601), plus `model_name`
        once exported."""
        data = self.wire()
        data["created_at"] = self.created_at.isoformat() if self.created_at else None
        if self.model_name is not None:
            data["model_name"] = self.model_name
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Checkpoint:
        """Inverse of `to_dict` (and of `wire`); unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        fields = {k: v for k, v in data.items() if k in names}
        created = fields.get("created_at")
        if isinstance(created, str):
            fields["created_at"] = datetime.fromisoformat(created)
        return cls(**fields)
