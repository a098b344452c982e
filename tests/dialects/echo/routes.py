"""Echo routes under `/echo/v1`: create a job, get a job — thin: parse, call, render."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from tests.dialects.echo import create, translate, wire
from tuneyard.api import bodies, respond
from tuneyard.api.deps import ServiceDep, bearer_caller
from tuneyard.api.errors import Code
from tuneyard.core.credentials import Caller

__all__ = ["PREFIX", "render_error", "router"]

PREFIX = "/echo/v1"

router = APIRouter(prefix=PREFIX, tags=["echo"])

CallerDep = Annotated[Caller, Depends(bearer_caller("X-Echo-Workspace"))]


def render_error(
    request: Request, status: int, code: Code, message: str, param: str | None
) -> Response:
    """Echo's error envelope."""
    http_status, body = translate.error_body(code, message)
    return respond.error(body, http_status)


@router.post("/jobs")
async def create_job(request: Request, service: ServiceDep, caller: CallerDep) -> Response:
    """Create a job on an uploaded file."""
    sent = wire.parse_create(await bodies.json_object(request))
    spec = create.to_spec(sent, workspace_id=caller.workspace_id)
    job = await run_in_threadpool(service.submission.create, spec)
    return respond.json(translate.job(job))


@router.get("/jobs/{job_id}")
async def get_job(job_id: str, service: ServiceDep, caller: CallerDep) -> Response:
    """One job."""
    job = await run_in_threadpool(service.jobs.get, caller.workspace_id, job_id)
    return respond.json(translate.job(job))
