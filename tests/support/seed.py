"""What seed 000 says a CLOVA task object holds: every field, by name."""

from __future__ import annotations

TASK_FIELDS = frozenset(
    {
        "id",
        "name",
        "model",
        "method",
        "taskType",
        "trainEpochs",
        "learningRate",
        "status",
        "statusInfo",
        "createdClientType",
        "createdDate",
        "updatedDate",
    }
)
STATUS_INFO_FIELDS = frozenset(
    {
        "label",
        "dataRows",
        "numOfTokens",
        "currStep",
        "totalTrainSteps",
        "currEpoch",
        "totalTrainEpochs",
        "estimatedTime",
        "trainLoss",
        "sendWeightSuccess",
        "failureReason",
        "message",
        "endDatetime",
    }
)
