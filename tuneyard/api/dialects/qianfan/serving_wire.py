"""Qianfan wire models of the model and service Actions (`/v2/model`, `/v2/service`), the
keys the SDK sends (`resources/console/model.py`, `service.py`: `Model.V2`,
`Service.V2`). Unknown top-level keys are ignored, as for the tuning Actions (the SDK adds
its keyword arguments to every body); billing and resource blocks are kept as sent.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from tuneyard.api.dialects.values import Int, Name, OptName, OptStr

__all__ = [
    "MODEL_TYPES",
    "CreateModel",
    "CreateModelSet",
    "CreateService",
    "ListModelSets",
    "ListServices",
    "ModelRef",
    "ModelSetRef",
    "ModifyService",
    "ServiceRef",
    "TrainMeta",
]

MODEL_TYPES = frozenset({"Text2Text"})
"""The `modelType`s tuneyard's tuned models are (text generation; the vendor lists more)."""

_SUFFIX = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,18}[a-z0-9])$")


def _suffix(value: str) -> str:
    if not _SUFFIX.match(value):
        raise ValueError(
            "2-20 lowercase letters, digits, _ and -, starting and ending with a letter or digit"
        )
    return value


def _sized(low: int, high: int) -> Any:
    def check(value: str) -> str:
        if not low <= len(value) <= high:
            raise ValueError(f"must be {low}-{high} characters")
        return value

    return AfterValidator(check)


UrlSuffix = Annotated[str, AfterValidator(_suffix)]
"""A service's URL suffix: what the chat endpoint is called by."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class _Paged(_Body):
    marker: OptName = None
    maxKeys: Int = 10
    pageReverse: bool = False


class CreateModelSet(_Body):
    """`CreateCustomModelSet`."""

    modelSetName: Annotated[Name, _sized(1, 50)]
    modelType: Name
    labels: list[Name] = Field(default_factory=list, max_length=20)
    description: Annotated[str, _sized(0, 500)] = ""


class ListModelSets(_Paged):
    """`DescribeCustomModelSets`."""


class ModelSetRef(_Body):
    """`DescribeModelSet` (by id or name), `DeleteModelSet` (by id)."""

    modelSetId: OptName = None
    modelSetName: OptName = None


class TrainMeta(_Body):
    """`trainMeta`: the task to publish, and a checkpoint step (the doc's table says
    `checkpointStep`, its example `step`; both are read)."""

    taskId: Name
    checkpointStep: Int | None = None
    step: Int | None = None


class CreateModel(_Body):
    """`CreateCustomModel` (a version of a model set)."""

    modelSetId: Name
    sourceType: Name
    trainMeta: TrainMeta | None = None
    importMeta: dict[str, Any] | None = None
    description: Annotated[str, _sized(0, 300)] = ""


class ModelRef(_Body):
    """`DescribeModel`, `DeleteModel`: a model version (`amv-…`)."""

    modelId: Name


class CreateService(_Body):
    """`CreateService`: a model version served under a URL suffix."""

    modelSetId: Name
    modelId: Name
    name: Annotated[Name, _sized(2, 20)]
    urlSuffix: UrlSuffix
    description: Annotated[str, _sized(0, 500)] = ""
    resourceConfig: dict[str, Any] | None = None
    deploymentConfig: dict[str, Any] | None = None
    billing: dict[str, Any] | None = None
    protocolVersion: Int | None = None


class ListServices(_Paged):
    """`DescribeServices` and its filters."""

    name: OptStr = None
    serviceType: list[Name] | None = None
    runStatus: list[Name] | None = None
    creator: list[Name] | None = None
    chargeType: OptStr = None
    payType: OptStr = None


class ServiceRef(_Body):
    """`DescribeService`, `DeleteService`."""

    serviceId: Name


class ModifyService(_Body):
    """`ModifyService`: serve another model version."""

    serviceId: Name
    modelSetId: Name
    modelId: Name
