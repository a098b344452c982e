"""CLOVA wire models: the vendor's field names exactly, numbers as numbers or strings."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict

from tuneyard.api.dialects.values import Float, Int, Name, ObjectPath, OptName, OptStr, validated

__all__ = ["DATASET_FORMATS", "KST", "CreateTask", "parse_create"]

KST = dt.timezone(dt.timedelta(hours=9), "KST")
"""CLOVA Studio's time zone, Korea Standard Time (`+0900`; Korea has no DST): times are
rendered in it and a task's default name is its creation time there."""
DATASET_FORMATS = frozenset({"clova-csv", "clova-jsonl"})
"""What a task's training file holds: CLOVA's CSV or JSON Lines (spec §1.8)."""


class CreateTask(BaseModel):
    """`POST /tuning/v2/tasks` body (JSON or multipart fields), spec §1.4."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    name: OptName = None
    model: Name
    tuningType: OptStr = None
    method: OptStr = None
    taskType: OptStr = None
    trainEpochs: Int | None = None
    learningRate: Float | None = None
    trainingDatasetBucket: OptName = None
    trainingDatasetFilePath: ObjectPath = None
    trainingDatasetAccessKey: OptName = None
    trainingDatasetSecretKey: OptName = None


def parse_create(fields: dict[str, Any]) -> CreateTask:
    """Validate the create fields; every problem is reported at once as InvalidRequest."""
    return validated(CreateTask, fields)
