"""Echo wire models: the vendor's field names exactly."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from tuneyard.api.dialects.values import Int, Name, validated

__all__ = ["DATASET_FORMATS", "CreateJob", "parse_create"]

DATASET_FORMATS = frozenset({"openai-chat"})
"""What a job's training file may hold: chat conversations."""


class CreateJob(BaseModel):
    """`POST /echo/v1/jobs`."""

    model_config = ConfigDict(extra="forbid")

    model: Name
    trainingFile: Name
    epochs: Int | None = None


def parse_create(body: dict[str, Any]) -> CreateJob:
    """Validate the body; every problem at once as InvalidRequest."""
    return validated(CreateJob, body)
