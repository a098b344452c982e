"""Neutral → Echo: the job object, the status and error tables, the error body."""

from __future__ import annotations

from typing import Any

from tuneyard.api.errors import Code
from tuneyard.core.jobs import Job
from tuneyard.core.states import JobStatus

__all__ = ["ERRORS", "STATUS", "error_body", "job"]

STATUS: dict[JobStatus, str] = {
    JobStatus.CREATED: "waiting",
    JobStatus.VALIDATING: "waiting",
    JobStatus.QUEUED: "waiting",
    JobStatus.RUNNING: "running",
    JobStatus.PAUSING: "running",
    JobStatus.PAUSED: "waiting",
    JobStatus.CANCELLING: "running",
    JobStatus.SUCCEEDED: "done",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "stopped",
}
"""Neutral status → Echo status."""

ERRORS: dict[Code, tuple[int, str]] = {
    Code.VALIDATION: (400, "BadRequest"),
    Code.MALFORMED_JSON: (400, "BadJson"),
    Code.UNKNOWN_ACTION: (400, "BadRequest"),
    Code.UNSUPPORTED: (400, "Unsupported"),
    Code.MODEL_NOT_FOUND: (400, "NoSuchModel"),
    Code.UNAUTHENTICATED: (401, "NoKey"),
    Code.MALFORMED_CREDENTIALS: (401, "NoKey"),
    Code.INVALID_CREDENTIALS: (401, "BadKey"),
    Code.REQUEST_EXPIRED: (401, "BadKey"),
    Code.SIGNATURE_MISMATCH: (401, "BadKey"),
    Code.FORBIDDEN: (403, "Denied"),
    Code.NOT_FOUND: (404, "NotFound"),
    Code.FILE_NOT_FOUND: (404, "NoSuchFile"),
    Code.METHOD_NOT_ALLOWED: (405, "BadMethod"),
    Code.WRONG_STATE: (409, "WrongState"),
    Code.CONFLICT: (409, "Conflict"),
    Code.PAYLOAD_TOO_LARGE: (413, "TooLarge"),
    Code.RATE_LIMITED: (429, "SlowDown"),
    Code.SERVED_MODEL_NOT_FOUND: (404, "NoSuchModel"),
    Code.CONTEXT_LENGTH_EXCEEDED: (400, "TooLong"),
    Code.UNAVAILABLE: (503, "Unavailable"),
    Code.EXPORT_FAILED: (500, "Internal"),
    Code.INTERNAL: (500, "Internal"),
}
"""Neutral error code → (HTTP status, Echo code)."""


def error_body(code: Code, message: str) -> tuple[int, dict[str, Any]]:
    """(HTTP status, `{"error": {"kind", "message"}}`)."""
    status, kind = ERRORS[code]
    return status, {"error": {"kind": kind, "message": message}}


def job(record: Job) -> dict[str, Any]:
    """The Echo job object."""
    return {
        "id": record.id,
        "model": record.base_model,
        "trainingFile": record.training_file_id,
        "epochs": record.hyperparameters.n_epochs,
        "status": STATUS[record.status],
    }
