"""Native job routes: `GET /tuneyard/v1/jobs/{job_id}` (the native job object, whichever
dialect created the job) and `POST /tuneyard/v1/jobs/{job_id}/priority`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from tuneyard.api import bodies, direct, offload, rendered, respond
from tuneyard.api.deps import ServiceDep, WorkspaceDep
from tuneyard.api.dialects import values
from tuneyard.core.jobs import PRIORITY_MAX, PRIORITY_MIN, Job

__all__ = ["PriorityRequest", "native_job", "router"]

router = APIRouter()


class PriorityRequest(BaseModel):
    """A job's new priority: higher is claimed first among its workspace's queued jobs."""

    model_config = ConfigDict(extra="forbid")

    priority: values.Int = Field(ge=PRIORITY_MIN, le=PRIORITY_MAX)


def _time(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def native_job(job: Job) -> dict[str, Any]:
    """The native job object."""
    return {
        "id": job.id,
        "object": "job",
        "workspace_id": job.workspace_id,
        "name": job.display_name,
        "dialect": job.dialect,
        "base_model": job.base_model,
        "task_type": job.task_type.value,
        "method": job.method.value,
        "objective": job.objective.value,
        "status": job.status.value,
        "priority": job.priority,
        "attempts": job.attempts,
        "output_name": job.output_name,
        "error_code": job.error_code,
        "error_message": job.error_message,
        "created_at": _time(job.created_at),
        "queued_at": _time(job.queued_at),
        "started_at": _time(job.started_at),
        "finished_at": _time(job.finished_at),
        "estimate": job.progress.estimate,
    }


@direct.get(router, "/tuneyard/v1/jobs/{job_id}", tags=["native"])
async def get_job(job_id: str, service: ServiceDep, workspace: WorkspaceDep) -> Response:
    """A job of the caller's workspace, as tuneyard sees it (any dialect's job)."""
    return respond.json(
        rendered.fragment(native_job, await offload.job(service, workspace, job_id))
    )


@router.post("/tuneyard/v1/jobs/{job_id}/priority", tags=["native"])
async def set_priority(
    job_id: str, request: Request, service: ServiceDep, workspace: WorkspaceDep
) -> dict[str, Any]:
    """Change an unfinished job's priority (-100..100, default 0). It orders the jobs of
    one workspace; the fair share between workspaces comes first (see the README)."""
    body = values.validated(PriorityRequest, await bodies.json_object(request))
    job = await run_in_threadpool(service.control.prioritize, workspace, job_id, body.priority)
    return native_job(job)
