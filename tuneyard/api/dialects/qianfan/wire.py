"""Qianfan wire models: the bodies of the fine-tuning Actions, the vendor's keys exactly
(spec §3.2). Unknown top-level keys are ignored (the SDK adds its own keyword arguments to
every body); unknown `hyperParameterConfig` keys are refused, since a misspelt knob that
is silently ignored trains the wrong model.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from tuneyard.api.dialects.values import Float, Int, Name, ObjectPath, OptName, OptStr, validated
from tuneyard.datasets import validator

__all__ = [
    "DATASET_FORMATS",
    "CreateJob",
    "CreateTask",
    "DatasetConfig",
    "DatasetVersion",
    "HyperParameterConfig",
    "JobRef",
    "ListJobs",
    "ListTasks",
    "TaskRef",
    "parse",
]

_M = TypeVar("_M", bound=BaseModel)

DATASET_FORMATS = frozenset(validator.FORMATS)
"""What a task's training file may hold: any format tuneyard reads, detected (a Platform
file may have been uploaded through any dialect; a BOS object is read as it is)."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class CreateJob(_Body):
    """`CreateFineTuningJob`."""

    name: Name
    description: str = ""
    model: Name
    trainMode: Name
    parameterScale: OptStr = None
    hyperParameterConfig: dict[str, Any] | None = None


class HyperParameterConfig(BaseModel):
    """`hyperParameterConfig` (camelCase, `Packing` with a capital P, spec §3.2)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    epoch: Int | None = None
    learningRate: Float | None = None
    batchSize: Int | None = None
    maxSeqLen: Int | None = None
    loggingSteps: Int | None = None
    warmupRatio: Float | None = None
    weightDecay: Float | None = None
    loraRank: Int | None = None
    loraAlpha: Int | None = None
    loraDropout: Float | None = None
    loraAllLinear: bool | OptStr = None
    loraTargetModules: list[Name] | Name | None = None
    schedulerName: OptStr = None
    gradientAccumulationSteps: Int | None = None
    pseudoSamplingProb: Float | None = None
    checkpointCount: Int | None = None
    saveStep: Int | None = None
    dpoBeta: Float | None = None
    packing: bool | OptStr = Field(default=None, alias="Packing")
    seed: Int | None = None


class DatasetVersion(_Body):
    """One entry of `datasetConfig.versions`."""

    versionId: OptName = None
    storagePath: ObjectPath = None
    versionBosUri: ObjectPath = None
    samplingRate: Float | None = None


class DatasetConfig(_Body):
    """`datasetConfig`: where the training data is and how much is held out."""

    sourceType: Name = "Platform"
    versions: list[DatasetVersion] = []
    splitRatio: Int | None = None


class CreateTask(_Body):
    """`CreateFineTuningTask`."""

    jobId: Name
    parameterScale: OptStr = None
    hyperParameterConfig: dict[str, Any] | None = None
    datasetConfig: DatasetConfig
    incrementTaskId: OptName = None
    incrementCheckpointStep: Int | None = None
    corpusConfig: dict[str, Any] | None = None
    modelConfig: dict[str, Any] | None = None
    resourceConfig: dict[str, Any] | None = None


class _Paged(_Body):
    marker: OptName = None
    maxKeys: Int = 10
    pageReverse: bool = False


class ListJobs(_Paged):
    """`DescribeFineTuningJobs`; `trainModel` is how the SDK spells `trainMode`."""

    trainMode: OptStr = None
    trainModel: OptStr = None
    model: OptStr = None


class ListTasks(_Paged):
    """`DescribeFineTuningTasks`."""

    jobId: Name


class TaskRef(_Body):
    """`DescribeFineTuningTask`, `StopFineTuningTask`, `DeleteFineTuningTask`."""

    taskId: Name


class JobRef(_Body):
    """`DeleteFineTuningJob`."""

    jobId: Name


def parse(model: type[_M], body: dict[str, Any], prefix: str = "") -> _M:
    """Validate a body; every problem is reported at once as InvalidRequest."""
    return validated(model, body, prefix)
