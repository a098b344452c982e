"""CLOVA wire models: the vendor's field names exactly, numbers as numbers or strings."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from tuneyard import errors
from tuneyard.api.dialects.values import Float, Int, OptStr

__all__ = ["CreateTask", "parse_create"]


class CreateTask(BaseModel):
    """`POST /tuning/v2/tasks` body (JSON or multipart fields), spec §1.4."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    name: OptStr = None
    model: str
    tuningType: OptStr = None
    method: OptStr = None
    taskType: OptStr = None
    trainEpochs: Int | None = None
    learningRate: Float | None = None
    trainingDatasetBucket: OptStr = None
    trainingDatasetFilePath: OptStr = None
    trainingDatasetAccessKey: OptStr = None
    trainingDatasetSecretKey: OptStr = None


def parse_create(fields: dict[str, Any]) -> CreateTask:
    """Validate the create fields; every problem is reported at once as InvalidRequest."""
    try:
        return CreateTask.model_validate(fields)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        ]
        first = exc.errors()[0]["loc"]
        raise errors.InvalidRequest(
            "; ".join(problems), param=str(first[0]) if first else None
        ) from exc
