"""DashScope ↔ neutral: pure mapping of requests, jobs, files, logs, statuses and errors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from tuneyard import errors
from tuneyard.api.dialects import values
from tuneyard.api.dialects.dashscope import wire
from tuneyard.core.events import JobEvent
from tuneyard.core.files import StoredFile
from tuneyard.core.jobs import Hyperparameters, Job, JobSpec, Method, Objective, Parent, TaskType
from tuneyard.core.ports import FilePage, Page
from tuneyard.core.states import JobStatus

__all__ = [
    "BEIJING",
    "ERRORS",
    "STATUS",
    "TRAINING_TYPES",
    "error_body",
    "file",
    "files_page",
    "format_time",
    "job",
    "jobs_page",
    "logs",
    "to_spec",
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
    _S.SUCCEEDED: "SUCCEEDED",
    _S.FAILED: "FAILED",
    _S.CANCELLED: "CANCELED",
}
"""Neutral status → DashScope status (spec §5.2)."""

ERRORS: dict[str, tuple[int, str, str]] = {
    "validation": (400, "InvalidParameter", "Invalid parameter"),
    "unsupported": (400, "InvalidParameter", "Unsupported parameter"),
    "model_not_found": (400, "InvalidParameter", "Model not found."),
    "file_not_found": (400, "InvalidParameter", "File not found."),
    "unauthenticated": (401, "InvalidApiKey", "No API-key provided."),
    "invalid_credentials": (401, "InvalidApiKey", "Invalid API-key provided."),
    "forbidden": (403, "AccessDenied", "Access denied."),
    "not_found": (404, "NotFound", "Not Found!"),
    "method_not_allowed": (405, "MethodNotAllowed", "Method not allowed."),
    "wrong_state": (400, "UnsupportedOperation", "Unsupported operation."),
    "conflict": (409, "Conflict", "Conflict."),
    "rate_limited": (429, "Throttling", "Too many fine-tune job in running, please retry later."),
    "internal": (500, "InternalError", "Internal server error!"),
}
"""Neutral error code → (HTTP status, DashScope code, default message) (spec §2.9, §5.5)."""

TRAINING_TYPES: dict[str, tuple[Method, Objective]] = {
    "sft": (Method.FULL, Objective.SFT),
    "efficient_sft": (Method.LORA, Objective.SFT),
    "dpo_full": (Method.FULL, Objective.DPO),
    "dpo_lora": (Method.LORA, Objective.DPO),
}
"""`training_type` → (method, objective); `cpt` (continued pre-training) is not offered."""

_SCHEDULERS = {"linear": "linear", "cosine": "cosine", "constant": "constant"}
_FILE_MESSAGE = ERRORS["file_not_found"][2]


def format_time(value: dt.datetime | None) -> str | None:
    """`2024-10-29 16:53:53`: Beijing time, no offset, as the vendor writes it."""
    return value.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S") if value else None


def error_body(code: str, message: str, request_id: str) -> tuple[int, dict[str, Any]]:
    """(HTTP status, `{request_id, code, message}`) for a neutral error code."""
    status, vendor_code, default = ERRORS.get(code, ERRORS["internal"])
    if code == "file_not_found":
        message = _FILE_MESSAGE  # the v2 SDK matches this text to raise NotFoundError
    return status, {"request_id": request_id, "code": vendor_code, "message": message or default}


def _one(
    ids: Sequence[str] | None, refs: Sequence[wire.DatasetRef] | None, field: str
) -> str | None:
    found = list(ids or []) or [r.file_id for r in refs or []]
    if len(found) > 1:
        raise errors.UnsupportedFeature(
            f"{field}: a job trains on one file; concatenate the {len(found)} files "
            "(JSONL lines append) and upload them as one",
            param=field,
        )
    return found[0] if found else None


def _echo_numbers(raw: dict[str, Any]) -> dict[str, Any]:
    """The client's hyper_parameters with numeric strings made numbers (spec §7)."""
    echoed: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            echoed[key] = values.number(value)
        except ValueError:
            echoed[key] = value  # words such as "cosine" stay as sent
    return echoed


def hyperparameters(raw: dict[str, Any], method: Method) -> Hyperparameters:
    """The run's hyperparameters: the client's values over DashScope's defaults (spec §2.4)."""
    hp = wire.parse_hyper(raw)
    scheduler = (hp.lr_scheduler_type or "cosine").lower()
    if scheduler not in _SCHEDULERS:
        raise errors.UnsupportedFeature(
            f"lr_scheduler_type {hp.lr_scheduler_type} is not supported; "
            "use linear, cosine or Constant",
            param="hyper_parameters.lr_scheduler_type",
        )
    strategy = (hp.save_strategy or "epoch").lower()
    if strategy not in ("epoch", "steps"):
        raise errors.InvalidRequest(
            "save_strategy must be epoch or steps", param="hyper_parameters.save_strategy"
        )
    split = 0.8 if hp.split is None else hp.split
    if not 0 < split <= 1:
        raise errors.InvalidRequest("split must be in (0, 1]", param="hyper_parameters.split")
    lora = method is Method.LORA
    defaults = Hyperparameters()
    return Hyperparameters(
        n_epochs=hp.n_epochs if hp.n_epochs is not None else 1,
        learning_rate=hp.learning_rate
        if hp.learning_rate is not None
        else (1e-4 if lora else 1e-5),
        batch_size=hp.batch_size if hp.batch_size is not None else defaults.batch_size,
        max_seq_len=hp.max_length if hp.max_length is not None else 2048,
        lr_scheduler=_SCHEDULERS[scheduler],
        warmup_ratio=hp.warmup_ratio if hp.warmup_ratio is not None else 0.05,
        weight_decay=hp.weight_decay if hp.weight_decay is not None else 0.1,
        validation_split=round(1 - split, 6),
        lora_rank=hp.lora_rank if hp.lora_rank is not None else 8,
        lora_alpha=hp.lora_alpha if hp.lora_alpha is not None else 32,
        lora_dropout=hp.lora_dropout if hp.lora_dropout is not None else 0.1,
        save_steps=0 if strategy == "epoch" else (hp.save_steps or 50),
        save_total_limit=hp.save_total_limit if hp.save_total_limit is not None else 1,
        seed=hp.seed if hp.seed is not None else defaults.seed,
    )


def to_spec(create: wire.CreateFineTune, *, workspace_id: str, parent: Job | None) -> JobSpec:
    """The neutral spec of a create request. `parent` is the job whose `finetuned_output`
    the request named as its `model` (continued training), None for a base model."""
    training_type = (create.training_type or "sft").lower()
    if training_type not in TRAINING_TYPES:
        raise errors.UnsupportedFeature(
            f"training_type {create.training_type} is not supported; use one of "
            + ", ".join(TRAINING_TYPES),
            param="training_type",
        )
    method, objective = TRAINING_TYPES[training_type]
    training = _one(create.training_file_ids, create.training_datasets, "training_file_ids")
    if training is None:
        raise errors.InvalidRequest("Missing training files", param="training_file_ids")
    validation = _one(create.validation_file_ids, create.validation_datasets, "validation_file_ids")
    raw = dict(create.hyper_parameters or {})
    base = parent.base_model if parent is not None else create.model
    suffix = create.finetuned_output_suffix
    output = (
        create.model_name
        or create.finetuned_output
        or (f"{base}-{suffix}-{{job_id}}" if suffix else f"{base}-{{job_id}}")
    )
    return JobSpec(
        workspace_id=workspace_id,
        display_name=create.job_name or "",
        base_model=base,
        task_type=TaskType.GENERATION,
        method=method,
        hyperparameters=hyperparameters(raw, method),
        dialect="dashscope",
        training_file_id=training,
        objective=objective,
        parent=Parent(parent.id) if parent is not None else None,
        validation_file_id=validation,
        output_name=output,
        echo={
            "model": create.model,
            "training_type": training_type,
            "hyper_parameters": _echo_numbers(raw),
            "training_file_ids": [training],
            "validation_file_ids": [validation] if validation else [],
        },
    )


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
        "user_identity": None,
        "modifier": None,
        "creator": None,
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
    for name, pair in TRAINING_TYPES.items():
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


def logs(events: Sequence[JobEvent], *, total: int) -> dict[str, Any]:
    """`{total, logs}`: one free-text line per event (`time - LEVEL - message`)."""
    return {
        "total": total,
        "logs": [f"{format_time(e.created_at)} - {e.level.upper()} - {e.message}" for e in events],
    }
