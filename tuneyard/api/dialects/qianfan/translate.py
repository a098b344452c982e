"""Neutral → Qianfan: pure rendering of errors, jobs (groups), tasks and paging (spec §3)."""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime
from typing import Any

from tuneyard.api.errors import Code
from tuneyard.core.groups import JobGroup
from tuneyard.core.jobs import Job
from tuneyard.core.paging import Slice
from tuneyard.core.states import JobStatus
from tuneyard.kinds import Method

__all__ = [
    "ERRORS",
    "ERROR_CODES",
    "RUN_STATUS",
    "UNSET_TIME",
    "checkpoint_list",
    "error_body",
    "error_fields",
    "group",
    "iso",
    "metrics",
    "page_info",
    "run_progress",
    "task",
    "task_summary",
]

ERRORS: dict[Code, tuple[int, str, str]] = {
    Code.VALIDATION: (400, "InappropriateJSON", "The request is not valid."),
    Code.UNSUPPORTED: (400, "InappropriateJSON", "Unsupported parameter."),
    Code.MODEL_NOT_FOUND: (400, "InappropriateJSON", "Model not found."),
    Code.MALFORMED_JSON: (400, "MalformedJSON", "The body is not well-formed JSON."),
    Code.UNKNOWN_ACTION: (400, "InvalidHTTPRequest", "Unknown Action."),
    Code.UNAUTHENTICATED: (400, "InvalidHTTPAuthHeader", "The Authorization header is missing."),
    Code.MALFORMED_CREDENTIALS: (
        400,
        "InvalidHTTPAuthHeader",
        "The Authorization header is invalid.",
    ),
    Code.INVALID_CREDENTIALS: (403, "InvalidAccessKeyId", "The access key ID does not exist."),
    Code.SIGNATURE_MISMATCH: (
        400,
        "SignatureDoesNotMatch",
        "The request signature does not match.",
    ),
    Code.REQUEST_EXPIRED: (400, "RequestExpired", "The request has expired."),
    Code.FORBIDDEN: (403, "AccessDenied", "Access denied."),
    Code.NOT_FOUND: (404, "ResourceNotFound", "The resource does not exist."),
    Code.FILE_NOT_FOUND: (404, "ResourceNotFound", "The dataset does not exist."),
    Code.METHOD_NOT_ALLOWED: (405, "InvalidHTTPRequest", "Method not allowed."),
    Code.WRONG_STATE: (400, "InappropriateJSON", "The task's status does not allow this."),
    Code.CONFLICT: (409, "Conflict", "Conflict."),
    Code.PAYLOAD_TOO_LARGE: (413, "RequestEntityTooLarge", "The request body is too large."),
    Code.RATE_LIMITED: (429, "RequestLimitExceeded", "Too many tasks; please retry later."),
    Code.SERVED_MODEL_NOT_FOUND: (404, "ResourceNotFound", "The model does not exist."),
    Code.CONTEXT_LENGTH_EXCEEDED: (400, "InappropriateJSON", "The prompt is too long."),
    Code.UNAVAILABLE: (503, "ServiceUnavailable", "The service is unavailable; retry later."),
    Code.EXPORT_FAILED: (500, "InternalError", "The model could not be exported."),
    Code.INTERNAL: (500, "InternalError", "Internal server error."),
}
"""Neutral error code → (HTTP status, BCE code, default message) (spec §3.4, §5.5, §7)."""


def error_body(code: Code, message: str, request_id: str) -> tuple[int, dict[str, Any]]:
    """(HTTP status, `{requestId, code, message}`) for a neutral error code."""
    status, vendor_code, default = ERRORS[code]
    return status, {"requestId": request_id, "code": vendor_code, "message": message or default}


UNSET_TIME = "0000-00-00T00:00:00Z"
"""How the vendor writes a time that has not happened yet (the SDK's mock server)."""

RUN_STATUS: dict[JobStatus, str] = {
    JobStatus.CREATED: "Waiting",
    JobStatus.VALIDATING: "Waiting",
    JobStatus.QUEUED: "Waiting",
    JobStatus.PAUSING: "Running",
    JobStatus.PAUSED: "Waiting",
    JobStatus.RUNNING: "Running",
    JobStatus.CANCELLING: "Running",
    JobStatus.SUCCEEDED: "Done",
    JobStatus.FAILED: "Failed",
    JobStatus.CANCELLED: "Stopped",
}
"""Neutral status → `runStatus` (spec §5.2)."""

ERROR_CODES: dict[str, int] = {
    "file.extension": 1001,
    "file.size": 1002,
    "file.encoding": 1003,
    "file.format": 1004,
    "file.noexist": 1005,
    "File not found": 1005,
    "file.error": 1006,
    "train.unknown": 2001,
}
"""A failed task's `errorCode` by failure reason (the vendor publishes none; README)."""

_OTHER_ERROR = 2000

_METRICS = (
    ("BLEU-4", "bleu4"),
    ("ROUGE-1", "rouge1"),
    ("ROUGE-2", "rouge2"),
    ("ROUGE-L", "rougeL"),
)


@functools.lru_cache(maxsize=4096)  # a job's times, formatted on every GET of it
def iso(moment: datetime | None) -> str:
    """`2024-01-16T09:48:35Z` (UTC), or the vendor's zero time when unset."""
    if moment is None:
        return UNSET_TIME
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _times(created: datetime | None, finished: datetime | None) -> dict[str, str]:
    """Both spellings the vendor uses (spec §3.3): `createTime` and `createDate`, …"""
    return {
        "createTime": iso(created),
        "finishTime": iso(finished),
        "createDate": iso(created),
        "finishDate": iso(finished),
    }


def group(item: JobGroup) -> dict[str, Any]:
    """A job (group) as `DescribeFineTuningJobs` lists it."""
    return {
        "jobId": item.id,
        "name": item.name,
        "description": item.description,
        "model": item.base_model,
        "trainMode": item.echo.get("trainMode", "SFT"),
        "createTime": iso(item.created_at),
        "createDate": iso(item.created_at),
    }


def run_progress(job: Job) -> str:
    """`NN%`: whole percent of the optimizer steps done (the SDK reads `int(p[:-1])`)."""
    step, total = job.progress.step or 0, job.progress.total_steps or 0
    return f"{min(100, step * 100 // total) if total else 0}%"


def task_summary(job: Job, owner: JobGroup) -> dict[str, Any]:
    """A task as `DescribeFineTuningTasks` lists it."""
    return {
        "taskId": job.id,
        "jobId": owner.id,
        "jobName": owner.name,
        "jobDescription": owner.description,
        "model": owner.base_model,
        "trainMode": owner.echo.get("trainMode", "SFT"),
        "parameterScale": job.echo.get("parameterScale", _scale(job.method)),
        "runStatus": RUN_STATUS[job.status],
        **_times(job.created_at, job.finished_at),
    }


def _scale(method: Method) -> str:
    return "LoRA" if method is Method.LORA else "FullFineTuning"


def _percent(value: float) -> str:
    return f"{value * 100:.2f}%"


def metrics(job: Job) -> dict[str, str] | None:
    """BLEU-4 and ROUGE-1/2/L of the final evaluation as `"16.56%"`; None until Done."""
    found = job.progress.metrics or {}
    if job.status is not JobStatus.SUCCEEDED or not any(k in found for _, k in _METRICS):
        return None
    return {name: _percent(float(found[key])) for name, key in _METRICS if key in found}


def checkpoint_list(job: Job) -> list[dict[str, Any]]:
    """The checkpoints on disk, oldest first: `step`, `perplexity` (on the held-out split;
    exp(trainingLoss) when nothing is held out) and `trainingLoss`."""
    listed = []
    for saved in job.progress.checkpoints:
        loss = saved.train_loss
        perplexity = saved.perplexity
        if perplexity is None and loss is not None:
            perplexity = round(math.exp(min(float(loss), 50.0)), 4)
        listed.append({"step": saved.step, "perplexity": perplexity, "trainingLoss": loss})
    return listed


def error_fields(job: Job) -> dict[str, Any]:
    """`errorCode` (0: none) and `errorMessage` ("" unless the task failed)."""
    if job.status is not JobStatus.FAILED:
        return {"errorCode": 0, "errorMessage": ""}
    reason = job.error_code or ""
    message = job.error_message or "The task failed."
    if reason and not message.startswith(reason):
        message = f"{reason}: {message}"
    return {"errorCode": ERROR_CODES.get(reason, _OTHER_ERROR), "errorMessage": message}


def task(job: Job, owner: JobGroup, *, vdl_link: str) -> dict[str, Any]:
    """`DescribeFineTuningTask` (seed 003): `runProgress` only while Running, `metrics` only
    when Done, the checkpoints, the link to the loss curve, both timestamp spellings."""
    detail = task_summary(job, owner)
    if detail["runStatus"] == "Running":
        detail["runProgress"] = run_progress(job)
    detail["vdlLink"] = vdl_link
    scores = metrics(job)
    if scores is not None:
        detail["metrics"] = scores
    detail["checkpointList"] = checkpoint_list(job)
    detail.update(error_fields(job))
    return detail


def page_info(marker: str | None, max_keys: int, found: Slice[Any]) -> dict[str, Any]:
    """`pageInfo` (spec §7): `marker` as sent, `nextMarker` the id of the last item on this
    page (exclusive: the next page starts after it), `isTruncated` whether more follow."""
    return {
        "marker": marker or "",
        "maxKeys": max_keys,
        "isTruncated": found.more,
        "nextMarker": found.items[-1].id if found.items else "",
    }
