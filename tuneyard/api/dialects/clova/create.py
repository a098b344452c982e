"""CLOVA create request → neutral JobSpec (spec §1.4): tuning and task types, the
vendor's defaults and ranges, the default name, and an Object Storage dataset."""

from __future__ import annotations

import datetime as dt

from tuneyard import errors
from tuneyard.api.dialects.clova import wire
from tuneyard.core import buckets, ids
from tuneyard.core.jobs import Hyperparameters, JobSpec
from tuneyard.core.submission import ObjectSource
from tuneyard.kinds import Method, TaskType

__all__ = ["object_source", "to_spec"]

ID_STYLE = ids.SHORT
"""CLOVA task ids: 8 lowercase alphanumerics with a letter (`czf9fbky`)."""

_TUNING_TYPES = {"PEFT": Method.LORA, "LORA": Method.LORA}
_TASK_TYPES = {"GENERATION": TaskType.GENERATION, "CLASSIFICATION": TaskType.CLASSIFICATION}


def to_spec(create: wire.CreateTask, *, workspace_id: str, now: dt.datetime) -> JobSpec:
    """The neutral spec of a create request; unknown enum values are reported as CLOVA does."""
    tuning = (create.tuningType or create.method or "PEFT").upper()
    if tuning not in _TUNING_TYPES:
        raise errors.UnsupportedFeature(f"Unsupported tuningType {tuning}", param="tuningType")
    task_type = (create.taskType or "GENERATION").upper()
    if task_type not in _TASK_TYPES:
        raise errors.InvalidRequest(
            "taskType must be GENERATION or CLASSIFICATION", param="taskType"
        )
    problems: dict[str, str] = {}
    epochs = 8 if create.trainEpochs is None else create.trainEpochs
    if not 1 <= epochs <= 20:
        problems["trainEpochs"] = "trainEpochs must be between 1 and 20"
    rate = 1e-4 if create.learningRate is None else create.learningRate
    if not 1e-6 <= rate <= 1:
        problems["learningRate"] = "learningRate must be between 1.0E-6 and 1"
    if problems:
        raise errors.InvalidRequest("; ".join(problems.values()), param=next(iter(problems)))
    return JobSpec(
        workspace_id=workspace_id,
        display_name=create.name or now.astimezone(wire.KST).strftime("%y%m%d-%H%M%S"),
        base_model=create.model,
        task_type=_TASK_TYPES[task_type],
        method=_TUNING_TYPES[tuning],
        hyperparameters=Hyperparameters(n_epochs=epochs, learning_rate=rate),
        dialect="clova",
        id_style=ID_STYLE,
    )


def object_source(create: wire.CreateTask) -> ObjectSource | None:
    """The Object Storage dataset named by the request, if any (all four fields needed)."""
    if not (create.trainingDatasetFilePath or create.trainingDatasetBucket):
        return None
    missing = [
        name
        for name in (
            "trainingDatasetBucket",
            "trainingDatasetFilePath",
            "trainingDatasetAccessKey",
            "trainingDatasetSecretKey",
        )
        if not getattr(create, name)
    ]
    if missing:
        raise errors.InvalidRequest(
            f"{', '.join(missing)} required with an Object Storage dataset", param=missing[0]
        )
    assert create.trainingDatasetBucket and create.trainingDatasetFilePath
    buckets.check_path(
        create.trainingDatasetBucket, param="trainingDatasetBucket", what="bucket name"
    )
    buckets.check_path(create.trainingDatasetFilePath, param="trainingDatasetFilePath")
    return ObjectSource(
        bucket=create.trainingDatasetBucket,
        path=create.trainingDatasetFilePath,
        access_key=create.trainingDatasetAccessKey,
        secret_key=create.trainingDatasetSecretKey,
    )
