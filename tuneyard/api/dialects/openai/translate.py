"""Neutral → OpenAI: pure rendering of files, jobs, events, checkpoints, lists and errors
(spec §4.3, §4.5), shaped as the SDK's strict models read them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from tuneyard.api.dialects.openai import create, names
from tuneyard.api.errors import Code
from tuneyard.core.checkpoints import Checkpoint
from tuneyard.core.events import JobEvent, saved_checkpoint
from tuneyard.core.files import StoredFile
from tuneyard.core.jobs import Job
from tuneyard.core.states import JobStatus
from tuneyard.kinds import Objective

__all__ = [
    "BASE_OWNER",
    "ERRORS",
    "STATUS",
    "checkpoint",
    "error_body",
    "event",
    "file",
    "job",
    "listing",
    "model_name",
    "model_object",
    "unix",
]

STATUS: dict[JobStatus, str] = {
    JobStatus.CREATED: "validating_files",
    JobStatus.VALIDATING: "validating_files",
    JobStatus.QUEUED: "queued",
    JobStatus.RUNNING: "running",
    JobStatus.PAUSING: "paused",
    JobStatus.PAUSED: "paused",
    JobStatus.CANCELLING: "cancelled",
    JobStatus.SUCCEEDED: "succeeded",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "cancelled",
}
"""Neutral status → OpenAI `status` (spec §5.2; a cancel shows at once)."""

ERRORS: dict[Code, tuple[int, str, str | None]] = {
    Code.VALIDATION: (400, "invalid_request_error", None),
    Code.MALFORMED_JSON: (400, "invalid_request_error", None),
    Code.UNKNOWN_ACTION: (400, "invalid_request_error", None),
    Code.UNSUPPORTED: (400, "invalid_request_error", "unsupported_value"),
    Code.MODEL_NOT_FOUND: (400, "invalid_request_error", "model_not_available"),
    Code.UNAUTHENTICATED: (401, "invalid_request_error", "invalid_api_key"),
    Code.MALFORMED_CREDENTIALS: (401, "invalid_request_error", "invalid_api_key"),
    Code.INVALID_CREDENTIALS: (401, "invalid_request_error", "invalid_api_key"),
    Code.REQUEST_EXPIRED: (401, "invalid_request_error", "invalid_api_key"),
    Code.SIGNATURE_MISMATCH: (401, "invalid_request_error", "invalid_api_key"),
    Code.FORBIDDEN: (403, "invalid_request_error", "permission_denied"),
    Code.NOT_FOUND: (404, "invalid_request_error", None),
    Code.FILE_NOT_FOUND: (404, "invalid_request_error", None),
    Code.METHOD_NOT_ALLOWED: (405, "invalid_request_error", None),
    Code.WRONG_STATE: (400, "invalid_request_error", None),
    Code.CONFLICT: (409, "invalid_request_error", "conflict"),
    Code.PAYLOAD_TOO_LARGE: (413, "invalid_request_error", "request_too_large"),
    Code.RATE_LIMITED: (429, "rate_limit_exceeded", "rate_limit_exceeded"),
    Code.SERVED_MODEL_NOT_FOUND: (404, "invalid_request_error", "model_not_found"),
    Code.CONTEXT_LENGTH_EXCEEDED: (400, "invalid_request_error", "context_length_exceeded"),
    Code.UNAVAILABLE: (503, "server_error", "service_unavailable"),
    Code.EXPORT_FAILED: (500, "server_error", None),
    Code.INTERNAL: (500, "server_error", None),
}
"""Neutral error code → (HTTP status, `type`, `code`) (spec §4.5)."""

_FILE_PARAMS = {
    "training_file": "invalid_training_file",
    "validation_file": "invalid_validation_file",
}
_DATASET_KINDS = {"invalid_n_examples"}


def error_body(code: Code, message: str, param: str | None) -> tuple[int, dict[str, Any]]:
    """(HTTP status, `{"error": {message, type, param, code}}`). A training or validation
    file that does not exist or cannot serve the job is 400 `invalid_training_file` /
    `invalid_validation_file`, as OpenAI answers a create request."""
    status, kind, vendor_code = ERRORS[code]
    if param in _FILE_PARAMS and code in (Code.VALIDATION, Code.FILE_NOT_FOUND, Code.NOT_FOUND):
        status, vendor_code = 400, _FILE_PARAMS[param]
    return status, {
        "error": {"message": message, "type": kind, "param": param, "code": vendor_code}
    }


def unix(moment: datetime | None) -> int | None:
    """Unix seconds, or None."""
    return int(moment.timestamp()) if moment is not None else None


def file(stored: StoredFile) -> dict[str, Any]:
    """A FileObject (`status` processed or error, `status_details` the first problem)."""
    return {
        "id": stored.id,
        "object": "file",
        "bytes": stored.bytes,
        "created_at": unix(stored.created_at),
        "filename": stored.filename,
        "purpose": stored.purpose,
        "status": stored.status,
        "status_details": stored.status_details,
        "expires_at": None,
    }


def listing(items: Sequence[Mapping[str, Any]], *, more: bool) -> dict[str, Any]:
    """The list envelope the SDK's cursor pages read (`has_more`, `after=<last id>`)."""
    return {
        "object": "list",
        "data": list(items),
        "has_more": more,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
    }


def _hyperparameters(record: Job) -> dict[str, Any]:
    """`n_epochs`, `batch_size`, `learning_rate_multiplier` (and DPO `beta`): as sent
    ("auto" stays "auto") until the run resolves them, then the values used."""
    used = record.progress.hyperparameters
    if used is not None:
        base = create.BASE_LEARNING_RATE[record.objective]
        shown: dict[str, Any] = {
            "n_epochs": used.get("n_epochs"),
            "batch_size": used.get("batch_size"),
            "learning_rate_multiplier": round(float(used.get("learning_rate", 0)) / base, 6),
        }
    else:
        sent = record.echo.get("hyperparameters", {})
        shown = {
            key: sent.get(key, "auto")
            for key in ("n_epochs", "batch_size", "learning_rate_multiplier")
        }
    if record.objective is Objective.DPO:
        shown["beta"] = record.echo.get("hyperparameters", {}).get("beta", "auto")
        if used is not None:
            shown["beta"] = used.get("dpo_beta")
    return shown


def _error(record: Job) -> dict[str, Any] | None:
    """`null` unless the job failed (spec §7); dataset problems carry OpenAI's codes."""
    if record.status is not JobStatus.FAILED:
        return None
    param = record.error_param
    if record.error_kind in _DATASET_KINDS:
        code = record.error_kind
    elif param in _FILE_PARAMS or (record.error_code or "").startswith("file"):
        code = _FILE_PARAMS.get(param or "training_file", "invalid_training_file")
        param = param or "training_file"
    else:
        code = "training_failed"
    return {"code": code, "message": record.error_message or "The job failed.", "param": param}


def job_of(record: Job, organization: str) -> dict[str, Any]:
    """`job`, the organization given by position."""
    return job(record, organization=organization)


def job(record: Job, *, organization: str) -> dict[str, Any]:
    """A FineTuningJob: every field of the SDK's model, `null` where unknown."""
    hyper = _hyperparameters(record)
    method_type = "dpo" if record.objective is Objective.DPO else "supervised"
    succeeded = record.status is JobStatus.SUCCEEDED
    progress = record.progress
    started = unix(record.started_at)
    estimated = None
    if record.status is JobStatus.RUNNING and started and progress.estimated_time_s:
        estimated = started + int(progress.estimated_time_s)
    return {
        "object": "fine_tuning.job",
        "id": names.job_id(record.id),
        "model": record.echo.get("model", record.base_model),
        "created_at": unix(record.created_at),
        "finished_at": unix(record.finished_at),
        "fine_tuned_model": model_name(record, organization) if succeeded else None,
        "organization_id": organization,
        "result_files": list(progress.result_files),
        "status": STATUS[record.status],
        "validation_file": record.validation_file_id,
        "training_file": record.training_file_id or "",
        "hyperparameters": {k: v for k, v in hyper.items() if k != "beta"},
        "trained_tokens": progress.trained_tokens if succeeded else None,
        "error": _error(record),
        "seed": record.hyperparameters.seed,
        "estimated_finish": estimated,
        "integrations": [],
        "metadata": record.metadata,
        "user_provided_suffix": record.echo.get("suffix"),
        "method": {"type": method_type, method_type: {"hyperparameters": hyper}},
    }


_STATUS_MESSAGES = {
    ("created", "validating"): "Validating training file: {training_file}",
    ("validating", "queued"): "Files validated, moving job to queued state",
    ("queued", "running"): "Fine-tuning job started",
    ("running", "succeeded"): "The job has successfully completed",
    ("running", "cancelling"): "Fine tuning process stopping due to job cancellation",
    ("running", "pausing"): "Fine tuning process pausing",
    ("paused", "queued"): "Fine-tuning job resumed",
}


def event(record: JobEvent, job_record: Job) -> dict[str, Any]:
    """A FineTuningJobEvent: progress and checkpoints as `metrics` (step, total_steps,
    train_loss, train_mean_token_accuracy; valid_loss and valid_mean_token_accuracy at
    checkpoints), everything else as `message`."""
    data = dict(record.data or {})
    kind = "message"
    message = record.message
    level = record.level if record.level in ("info", "warn", "error") else "info"
    shown: dict[str, Any] | None = None
    if record.type == "metrics":
        kind = "metrics"
        shown = {
            "step": data.get("step"),
            "total_steps": data.get("total_steps"),
            "train_loss": data.get("loss"),
            "train_mean_token_accuracy": data.get("accuracy"),
        }
        message = (
            f"Step {data.get('step')}/{data.get('total_steps')}: training loss={data.get('loss')}"
        )
    elif (saved := saved_checkpoint(record)) is not None:
        kind = "metrics"
        shown = {
            "step": saved.step,
            "total_steps": job_record.progress.total_steps,
            "train_loss": saved.train_loss,
            "valid_loss": saved.valid_loss,
            "valid_mean_token_accuracy": saved.token_accuracy,
        }
        message = f"Checkpoint created at step {saved.step}"
    elif record.type == "status":
        template = _STATUS_MESSAGES.get((str(data.get("from")), str(data.get("to"))))
        if template is not None:
            message = template.format(training_file=job_record.training_file_id)
            level = "warn" if data.get("to") in ("cancelling", "pausing") else level
        shown = None
    else:
        shown = {k: v for k, v in data.items() if k != "path"} or None
    return {
        "object": "fine_tuning.job.event",
        "id": names.event_id(job_record.id, record.seq),
        "created_at": unix(record.created_at),
        "level": level,
        "message": message,
        "data": shown,
        "type": kind,
    }


def model_name(record: Job, organization: str) -> str:
    """The job's `ft:` name: the one it was created with (OpenAI), else one made up the
    same way (a job of another dialect)."""
    if record.output_name and record.output_name.startswith("ft:"):
        return record.output_name
    return names.fine_tuned_model(record.base_model, organization, None, record.id)


BASE_OWNER = "tuneyard"
"""`owned_by` of the base models (the tuned ones are owned by their workspace)."""


def model_object(name: str, *, created: datetime | None, owned_by: str) -> dict[str, Any]:
    """A Model (`GET /v1/models`); `created` 0 when unknown (a base model)."""
    return {"id": name, "object": "model", "created": unix(created) or 0, "owned_by": owned_by}


def checkpoint(saved: Checkpoint, record: Job, *, organization: str) -> dict[str, Any]:
    """A FineTuningJobCheckpoint of one kept checkpoint."""
    step = saved.step
    created_at = unix(saved.created_at) if saved.created_at else unix(record.updated_at)
    metrics = {
        "step": float(step),
        "train_loss": saved.train_loss,
        "valid_loss": saved.valid_loss,
        "valid_mean_token_accuracy": saved.token_accuracy,
    }
    return {
        "object": "fine_tuning.job.checkpoint",
        "id": names.checkpoint_id(record.id, step),
        "created_at": created_at,
        "fine_tuned_model_checkpoint": f"{model_name(record, organization)}:ckpt-step-{step}",
        "fine_tuning_job_id": names.job_id(record.id),
        "step_number": step,
        "metrics": {k: v for k, v in metrics.items() if v is not None},
    }
