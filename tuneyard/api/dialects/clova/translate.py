"""Pure mapping between CLOVA's task objects and the core: status table, fields, errors."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tuneyard import errors
from tuneyard.api.dialects.clova.wire import CreateTask
from tuneyard.core import buckets
from tuneyard.core.jobs import Hyperparameters, Job, JobSpec, Method, TaskType
from tuneyard.core.ports import Page
from tuneyard.core.service import ObjectSource
from tuneyard.core.states import JobStatus

__all__ = [
    "ERRORS",
    "KST",
    "STATUS",
    "error_status",
    "format_time",
    "object_source",
    "page",
    "task",
    "to_spec",
]

KST = dt.timezone(dt.timedelta(hours=9), "KST")
"""CLOVA Studio renders times in Korea Standard Time (`+0900`; Korea has no DST)."""

_S = JobStatus
STATUS: dict[JobStatus, str] = {
    _S.CREATED: "WAIT",
    _S.VALIDATING: "WAIT",
    _S.QUEUED: "WAIT",
    _S.PAUSED: "WAIT",
    _S.RUNNING: "RUNNING",
    _S.CANCELLING: "RUNNING",
    _S.PAUSING: "RUNNING",
    _S.SUCCEEDED: "SUCCEEDED",
    _S.FAILED: "FAILED",
    _S.CANCELLED: "FAILED",
}
"""Neutral status → CLOVA status (spec §5.2)."""

ERRORS: dict[str, tuple[str, str]] = {
    "validation": ("40001", "Invalid parameter"),
    "malformed_json": ("40001", "Invalid parameter"),
    "unknown_action": ("40001", "Invalid parameter"),
    "unsupported": ("40009", "Unsupported function"),
    "model_not_found": ("40080", "model not found"),
    "unauthenticated": ("40100", "Unauthorized"),
    "invalid_credentials": ("40104", "Invalid key"),
    "malformed_credentials": ("40100", "Unauthorized"),
    "request_expired": ("40104", "Invalid key"),
    "signature_mismatch": ("40104", "Invalid key"),
    "forbidden": ("40100", "Unauthorized"),
    "not_found": ("40400", "Not found"),
    "file_not_found": ("40400", "Not found"),
    "method_not_allowed": ("40500", "Method not allowed"),
    "wrong_state": ("40000", "Bad request"),
    "conflict": ("40000", "Bad request"),
    "payload_too_large": ("41300", "Payload too large"),
    "rate_limited": ("42900", "Too many requests"),
    "export_failed": ("50000", "Internal server error"),
    "internal": ("50000", "Internal server error"),
}
"""Neutral error code → (CLOVA status.code, default message) (spec §1.2, §5.5, §7)."""

_TUNING_TYPES = {"PEFT": Method.LORA, "LORA": Method.LORA}
_TASK_TYPES = {"GENERATION": TaskType.GENERATION, "CLASSIFICATION": TaskType.CLASSIFICATION}
_METHOD_NAMES = {Method.LORA: "LoRA", Method.FULL: "FULL"}


def format_time(value: dt.datetime | None) -> str | None:
    """`2023-08-21T13:07:06+0900`: ISO 8601 in KST with the offset written without a colon."""
    return value.astimezone(KST).strftime("%Y-%m-%dT%H:%M:%S%z") if value else None


def error_status(code: str, message: str) -> dict[str, Any]:
    """The `status` object of an error envelope."""
    status_code, default = ERRORS.get(code, ERRORS["internal"])
    return {"code": status_code, "message": message or default}


def to_spec(create: CreateTask, *, workspace_id: str, now: dt.datetime) -> JobSpec:
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
        display_name=create.name or now.astimezone(KST).strftime("%y%m%d-%H%M%S"),
        base_model=create.model,
        task_type=_TASK_TYPES[task_type],
        method=_TUNING_TYPES[tuning],
        hyperparameters=Hyperparameters(n_epochs=epochs, learning_rate=rate),
        dialect="clova",
    )


def object_source(create: CreateTask) -> ObjectSource | None:
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


def task(job: Job) -> dict[str, Any]:
    """The task object of seed 000 / spec §1.5: every field, nulls where unknown."""
    p = job.progress
    cancelled = job.status is _S.CANCELLED
    return {
        "id": job.id,
        "name": job.display_name,
        "model": job.base_model,
        "method": _METHOD_NAMES[job.method],
        "taskType": job.task_type.value.upper(),
        "trainEpochs": job.hyperparameters.n_epochs,
        "learningRate": job.hyperparameters.learning_rate,
        "status": STATUS[job.status],
        "statusInfo": {
            "label": p.labels if job.task_type is TaskType.CLASSIFICATION else None,
            "dataRows": p.data_rows,
            "numOfTokens": p.num_tokens,
            "currStep": p.step,
            "totalTrainSteps": p.total_steps,
            "currEpoch": p.epoch,
            "totalTrainEpochs": p.total_epochs,
            "estimatedTime": p.estimated_time_s,
            "trainLoss": p.train_loss,
            "sendWeightSuccess": p.weights_saved,
            "failureReason": job.error_code or ("train.unknown" if cancelled else None),
            "message": job.error_message or ("Training was stopped" if cancelled else None),
            "endDatetime": format_time(job.finished_at),
        },
        "createdClientType": job.created_via,
        "createdDate": format_time(job.created_at),
        "updatedDate": format_time(job.updated_at),
    }


def page(listing: Page, *, number: int, size: int) -> dict[str, Any]:
    """A Spring-style page (spec §1.6): `number` is 0-based."""
    return {
        "totalPages": (listing.total + size - 1) // size,
        "totalElements": listing.total,
        "size": size,
        "number": number,
        "content": [task(job) for job in listing.items],
    }
