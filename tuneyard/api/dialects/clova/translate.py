"""Neutral → CLOVA: pure rendering of tasks, pages, statuses and errors (requests go the
other way in `create`)."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from tuneyard.api.dialects.clova import wire
from tuneyard.api.errors import Code
from tuneyard.core.jobs import Job
from tuneyard.core.ports import Page
from tuneyard.core.states import JobStatus
from tuneyard.kinds import Method, TaskType

__all__ = [
    "ERRORS",
    "KST",
    "STATUS",
    "error_status",
    "format_time",
    "page",
    "task",
]

KST = wire.KST
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

ERRORS: dict[Code, tuple[str, str]] = {
    Code.VALIDATION: ("40001", "Invalid parameter"),
    Code.MALFORMED_JSON: ("40001", "Invalid parameter"),
    Code.UNKNOWN_ACTION: ("40001", "Invalid parameter"),
    Code.UNSUPPORTED: ("40009", "Unsupported function"),
    Code.MODEL_NOT_FOUND: ("40080", "model not found"),
    Code.UNAUTHENTICATED: ("40100", "Unauthorized"),
    Code.INVALID_CREDENTIALS: ("40104", "Invalid key"),
    Code.MALFORMED_CREDENTIALS: ("40100", "Unauthorized"),
    Code.REQUEST_EXPIRED: ("40104", "Invalid key"),
    Code.SIGNATURE_MISMATCH: ("40104", "Invalid key"),
    Code.FORBIDDEN: ("40100", "Unauthorized"),
    Code.NOT_FOUND: ("40400", "Not found"),
    Code.FILE_NOT_FOUND: ("40400", "Not found"),
    Code.METHOD_NOT_ALLOWED: ("40500", "Method not allowed"),
    Code.WRONG_STATE: ("40000", "Bad request"),
    Code.CONFLICT: ("40000", "Bad request"),
    Code.PAYLOAD_TOO_LARGE: ("41300", "Payload too large"),
    Code.RATE_LIMITED: ("42900", "Too many requests"),
    Code.SERVED_MODEL_NOT_FOUND: ("40400", "Not found"),
    Code.CONTEXT_LENGTH_EXCEEDED: ("40003", "Text too long"),
    Code.UNAVAILABLE: ("50300", "Service unavailable"),
    Code.EXPORT_FAILED: ("50000", "Internal server error"),
    Code.INTERNAL: ("50000", "Internal server error"),
}
"""Neutral error code → (CLOVA status.code, default message) (spec §1.2, §5.5, §7)."""

_METHOD_NAMES = {Method.LORA: "LoRA", Method.FULL: "FULL"}


@functools.lru_cache(maxsize=4096)  # a job's times, formatted on every GET of it
def format_time(value: dt.datetime | None) -> str | None:
    """`2023-08-21T13:07:06+0900`: ISO 8601 in KST with the offset written without a colon."""
    return value.astimezone(KST).strftime("%Y-%m-%dT%H:%M:%S%z") if value else None


def error_status(code: Code, message: str) -> dict[str, Any]:
    """The `status` object of an error envelope."""
    status_code, default = ERRORS[code]
    return {"code": status_code, "message": message or default}


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
