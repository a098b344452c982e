"""Neutral → DashScope: pure rendering of jobs, files, logs, checkpoints, statuses and errors
(requests go the other way in `create`)."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import Any

from tuneyard import errors
from tuneyard.api import params
from tuneyard.api.dialects.dashscope import create
from tuneyard.api.errors import Code
from tuneyard.core.events import JobEvent
from tuneyard.core.files import StoredFile
from tuneyard.core.jobs import Job
from tuneyard.core.ports import FilePage, Page
from tuneyard.core.states import JobStatus

__all__ = [
    "BEIJING",
    "ERRORS",
    "STATUS",
    "error_body",
    "file",
    "files_page",
    "format_time",
    "job",
    "jobs_page",
    "checkpoint_name",
    "checkpoint_step",
    "checkpoints",
    "logs",
    "stream_line",
]

BEIJING = dt.timezone(dt.timedelta(hours=8), "CST")
"""DashScope shows times as Beijing wall-clock time with no offset (spec §2.5)."""

_S = JobStatus
STATUS: dict[JobStatus, str] = {
    _S.CREATED: "PENDING",
    _S.VALIDATING: "PENDING",
    _S.QUEUED: "QUEUING",
    _S.RUNNING: "RUNNING",
    _S.PAUSED: "PENDING",
    _S.CANCELLING: "CANCELING",
    _S.PAUSING: "RUNNING",
    _S.SUCCEEDED: "SUCCEEDED",
    _S.FAILED: "FAILED",
    _S.CANCELLED: "CANCELED",
}
"""Neutral status → DashScope status (spec §5.2)."""

ERRORS: dict[Code, tuple[int, str, str]] = {
    Code.VALIDATION: (400, "InvalidParameter", "Invalid parameter"),
    Code.MALFORMED_JSON: (400, "InvalidParameter", "The body is not valid JSON."),
    Code.UNKNOWN_ACTION: (400, "InvalidParameter", "Unknown operation."),
    Code.UNSUPPORTED: (400, "InvalidParameter", "Unsupported parameter"),
    Code.MODEL_NOT_FOUND: (400, "InvalidParameter", "Model not found."),
    Code.FILE_NOT_FOUND: (400, "InvalidParameter", "File not found."),
    Code.UNAUTHENTICATED: (401, "InvalidApiKey", "No API-key provided."),
    Code.INVALID_CREDENTIALS: (401, "InvalidApiKey", "Invalid API-key provided."),
    Code.MALFORMED_CREDENTIALS: (401, "InvalidApiKey", "Invalid API-key provided."),
    Code.REQUEST_EXPIRED: (401, "InvalidApiKey", "Invalid API-key provided."),
    Code.SIGNATURE_MISMATCH: (401, "InvalidApiKey", "Invalid API-key provided."),
    Code.FORBIDDEN: (403, "AccessDenied", "Access denied."),
    Code.NOT_FOUND: (404, "NotFound", "Not Found!"),
    Code.METHOD_NOT_ALLOWED: (405, "MethodNotAllowed", "Method not allowed."),
    Code.WRONG_STATE: (400, "UnsupportedOperation", "Unsupported operation."),
    Code.CONFLICT: (409, "Conflict", "Conflict."),
    Code.PAYLOAD_TOO_LARGE: (413, "RequestTooLarge", "Request body too large."),
    Code.RATE_LIMITED: (
        429,
        "Throttling",
        "Too many fine-tune job in running, please retry later.",
    ),
    Code.SERVED_MODEL_NOT_FOUND: (404, "ModelNotFound", "Model not found."),
    Code.CONTEXT_LENGTH_EXCEEDED: (400, "InvalidParameter", "Range of input length exceeded."),
    Code.UNAVAILABLE: (503, "ServiceUnavailable", "The service is unavailable; retry later."),
    Code.EXPORT_FAILED: (500, "InternalError", "Internal server error!"),
    Code.INTERNAL: (500, "InternalError", "Internal server error!"),
}
"""Neutral error code → (HTTP status, DashScope code, default message) (spec §2.9, §5.5)."""

_FILE_MESSAGE = ERRORS[Code.FILE_NOT_FOUND][2]


@functools.lru_cache(maxsize=4096)  # a job's times, formatted on every GET of it
def format_time(value: dt.datetime | None) -> str | None:
    """`2024-10-29 16:53:53`: Beijing time, no offset, as the vendor writes it."""
    return value.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S") if value else None


def error_body(code: Code, message: str, request_id: str) -> tuple[int, dict[str, Any]]:
    """(HTTP status, `{request_id, code, message}`) for a neutral error code."""
    status, vendor_code, default = ERRORS[code]
    if code is Code.FILE_NOT_FOUND:
        message = _FILE_MESSAGE  # the v2 SDK matches this text to raise NotFoundError
    return status, {"request_id": request_id, "code": vendor_code, "message": message or default}


def job(record: Job) -> dict[str, Any]:
    """The job object of seed 002 (spec §2.5): every key, null where unknown."""
    echo = record.echo
    failed = record.status in (_S.FAILED, _S.CANCELLED)
    body: dict[str, Any] = {
        "job_id": record.id,
        "job_name": record.display_name or record.id,
        "status": STATUS[record.status],
        "finetuned_output": record.output_name,
        "model": echo.get("model", record.base_model),
        "base_model": record.base_model,
        "training_file_ids": list(echo.get("training_file_ids") or [record.training_file_id]),
        "validation_file_ids": list(echo.get("validation_file_ids") or []),
        "hyper_parameters": dict(echo.get("hyper_parameters") or {}),
        "training_type": echo.get("training_type", _training_type(record)),
        "create_time": format_time(record.created_at),
        "workspace_id": record.workspace_id,
        "user_identity": record.account,
        "modifier": record.modified_by,
        "creator": record.created_by,
        "end_time": format_time(record.finished_at),
        "group": "llm",
        "usage": record.progress.trained_tokens,
        "output_cnt": len(record.progress.checkpoints),
        "max_output_cnt": record.hyperparameters.save_total_limit,
    }
    if failed:
        body["code"] = record.error_code or "1"
        body["message"] = record.error_message or "The fine-tune job was canceled."
    return body


def _training_type(record: Job) -> str:
    for name, pair in create.TRAINING_TYPES.items():
        if pair == (record.method, record.objective):
            return name
    return "sft"


def jobs_page(listing: Page, *, page_no: int, page_size: int) -> dict[str, Any]:
    """`{page_no, page_size, total, jobs}`."""
    return {
        "page_no": page_no,
        "page_size": page_size,
        "total": listing.total,
        "jobs": [job(j) for j in listing.items],
    }


def file(stored: StoredFile) -> dict[str, Any]:
    """A file item (spec §2.7; fields past file_id/name as the v2 SDK reads them)."""
    return {
        "file_id": stored.id,
        "name": stored.filename,
        "description": stored.description,
        "size": stored.bytes,
        "sha256": stored.sha256,
        "purpose": stored.purpose,
        "upload_time": format_time(stored.created_at),
        "gmt_create": format_time(stored.created_at),
    }


def files_page(listing: FilePage, *, page_no: int, page_size: int) -> dict[str, Any]:
    """`{page_no, page_size, total, files}`."""
    return {
        "page_no": page_no,
        "page_size": page_size,
        "total": listing.total,
        "files": [file(f) for f in listing.items],
    }


def checkpoint_name(step: int) -> str:
    """`checkpoint-{step}`, the vendor's name for a snapshot."""
    return f"checkpoint-{step}"


def checkpoint_step(name: str) -> int:
    """The step of `checkpoint-{step}` (or a bare step number); InvalidRequest otherwise."""
    try:
        return params.integer(name.removeprefix("checkpoint-"))
    except ValueError:
        raise errors.InvalidRequest(
            f"{name} is not a checkpoint name (checkpoint-<step>)", param="checkpoint"
        ) from None


def checkpoints(record: Job) -> list[dict[str, Any]]:
    """The job's checkpoints kept on disk (spec §2.6), oldest first."""
    found = []
    for entry in record.progress.checkpoints:
        step = entry.step
        created = entry.created_at
        name = checkpoint_name(step)
        found.append(
            {
                "create_time": format_time(created) if created else None,
                "full_name": f"{record.id}:{name}",
                "checkpoint_id": f"{record.id}:{name}",
                "job_id": record.id,
                "checkpoint": name,
                "step": step,
                "model_name": entry.model_name,
                "model_display_name": entry.model_name,
                "status": "SUCCEEDED",
                "expire_time": None,
                "train_loss": entry.train_loss,
                "valid_loss": entry.valid_loss,
                "perplexity": entry.perplexity,
            }
        )
    return found


def stream_line(event: JobEvent) -> str:
    """One `/stream` frame: the event as a log line."""
    return f"data:{_line(event)}\n\n"


def _line(event: JobEvent) -> str:
    return f"{format_time(event.created_at)} - {event.level.upper()} - {event.message}"


def logs(events: Sequence[JobEvent], *, total: int) -> dict[str, Any]:
    """`{total, logs}`: one free-text line per event (`time - LEVEL - message`)."""
    return {"total": total, "logs": [_line(e) for e in events]}
