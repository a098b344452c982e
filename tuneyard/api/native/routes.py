"""Native routes under /tuneyard/v1 (plus /healthz); errors as {"error": {...}}."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from tuneyard import errors
from tuneyard.api import bodies, multipart, params
from tuneyard.api.deps import ServiceDep, WorkspaceDep
from tuneyard.api.dialects import values
from tuneyard.api.errors import Code
from tuneyard.api.native import classify, estimate, jobs
from tuneyard.core import files
from tuneyard.kinds import TaskType

__all__ = ["render_error", "router"]

router = APIRouter()
router.include_router(classify.router)  # POST /tuneyard/v1/models/{model}/classify
router.include_router(jobs.router)  # GET /tuneyard/v1/jobs/{job_id}, POST …/priority
router.include_router(estimate.router)  # POST /tuneyard/v1/estimate


def render_error(
    request: Request, status: int, code: Code, message: str, param: str | None
) -> Response:
    """tuneyard's own error envelope."""
    return JSONResponse(
        {"error": {"code": code, "message": message, "param": param}}, status_code=status
    )


@router.get("/healthz", tags=["native"])
async def health() -> dict[str, str]:
    """Liveness: the process serves HTTP (no key needed)."""
    return {"status": "ok"}


@router.get("/tuneyard/v1/models", tags=["native"])
async def models(service: ServiceDep, workspace: WorkspaceDep) -> dict[str, Any]:
    """The base models jobs can name."""
    return {
        "data": [
            {
                "name": m.name,
                "task_types": [t.value for t in m.task_types],
                "source": m.source,
                "description": m.description,
            }
            for m in service.ports.catalog.all()
        ]
    }


@router.get("/tuneyard/v1/jobs/{job_id}/events", tags=["native"])
async def job_events(
    job_id: str, service: ServiceDep, workspace: WorkspaceDep, after: str = ""
) -> dict[str, Any]:
    """A job's timeline: status changes, every dataset issue, progress, the outcome."""
    after_seq = params.whole(after, "after", default=0)
    found = await run_in_threadpool(service.events.read, workspace, job_id, after=after_seq)
    events = found.items
    return {
        "data": [
            {
                "seq": e.seq,
                "created_at": e.created_at.isoformat(),
                "level": e.level,
                "type": e.type,
                "message": e.message,
                "data": e.data,
            }
            for e in events
        ]
    }


@router.get("/tuneyard/v1/jobs/{job_id}/checkpoints", tags=["native"])
async def job_checkpoints(
    job_id: str, service: ServiceDep, workspace: WorkspaceDep
) -> dict[str, Any]:
    """A job's checkpoints on disk, oldest first: step, epoch, path, train_loss, valid_loss,
    perplexity, token_accuracy (reward_accuracy for DPO)."""
    found = await run_in_threadpool(service.weights.checkpoints, workspace, job_id)
    return {"data": [c.to_dict() for c in found]}


class ExportRequest(BaseModel):
    """Which weights to export, and how."""

    step: values.Int | None = Field(
        None, ge=1, le=params.MAX_INT, description="a checkpoint's step; null: the final model"
    )
    merged: bool = Field(False, description="merge a LoRA adapter into its base weights")


@router.post("/tuneyard/v1/jobs/{job_id}/export", tags=["native"])
async def export_model(
    job_id: str, request: Request, service: ServiceDep, workspace: WorkspaceDep
) -> dict[str, Any]:
    """Write a job's final model or checkpoint as a Hugging Face directory on the server
    (under the job's folder) and return its path. Merging loads the model, so it may take
    a while on large models; an export already written is returned at once. The body (an
    ExportRequest) is read only once the key is known."""
    body = values.validated(ExportRequest, await bodies.json_object(request))
    exported = await run_in_threadpool(
        service.weights.export, workspace, job_id, step=body.step, merged=body.merged
    )
    return {
        "job_id": job_id,
        "step": body.step,
        "path": str(exported.path),
        "format": exported.format,
    }


@router.post("/tuneyard/v1/datasets/validate", tags=["native"])
async def validate_dataset(
    request: Request, service: ServiceDep, workspace: WorkspaceDep
) -> dict[str, Any]:
    """Pre-flight check of a dataset (multipart `file`; optional `format`, `model`,
    `task_type`, `max_issues`): every issue, rows, token counts. The file is not kept."""
    form = await multipart.read_form(request, max_files=1)
    try:
        upload, fields = multipart.file_and_fields(form)
        task_type = fields.get("task_type")
        if task_type not in (None, "generation", "classification"):
            raise errors.InvalidRequest(
                "task_type must be generation or classification", param="task_type"
            )
        max_issues = params.whole(
            fields.get("max_issues"), "max_issues", default=100, low=1, high=10_000
        )
        check = await run_in_threadpool(
            service.uploads.check_upload,
            files.safe_name(upload.filename, default="dataset"),
            iter(lambda: upload.file.read(1 << 20), b""),
            fmt=fields.get("format"),
            model_name=fields.get("model"),
            task_type=TaskType(task_type) if task_type else None,
            max_issues=max_issues,
        )
    finally:
        await form.close()
    return check.to_dict()
