"""CLOVA routes: `/tuning/v2/tasks` create, get, list, delete — thin: parse, call, render."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import FormData, UploadFile

from tuneyard import errors
from tuneyard.api import bodies, multipart, params
from tuneyard.api.deps import ServiceDep, WorkspaceDep
from tuneyard.api.dialects.clova import translate, wire
from tuneyard.core import files
from tuneyard.core.service import ObjectSource, UploadSource

__all__ = ["PREFIX", "render_error", "router"]

PREFIX = "/tuning/v2"
REQUEST_ID = "X-NCP-CLOVASTUDIO-REQUEST-ID"
_OK = {"code": "20000", "message": "OK"}

router = APIRouter(prefix=PREFIX, tags=["clova"])


def _respond(request: Request, body: dict[str, Any], status_code: int = 200) -> JSONResponse:
    response = JSONResponse(body, status_code=status_code)
    if request_id := request.headers.get(REQUEST_ID):
        response.headers[REQUEST_ID] = request_id
    return response


def render_error(
    request: Request, status: int, code: str, message: str, param: str | None
) -> Response:
    """CLOVA's error envelope: `{"status": {"code": "40001", "message": …}}`, no result."""
    return _respond(request, {"status": translate.error_status(code, message)}, status)


async def _read_form(request: Request) -> FormData | None:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return await multipart.read_form(request, max_files=1)
    if kind not in ("application/json", ""):
        raise errors.InvalidRequest("Content-Type must be application/json or multipart/form-data")
    return None


@router.post("/tasks")
async def create_task(request: Request, service: ServiceDep, workspace: WorkspaceDep) -> Response:
    """Create a training task from an uploaded file part or an Object Storage path."""
    form = await _read_form(request)
    try:
        fields = (
            await bodies.json_object(request)
            if form is None
            else {k: v for k, v in form.items() if isinstance(v, str)}
        )
        create = wire.parse_create(fields)
        spec = translate.to_spec(create, workspace_id=workspace, now=service.ports.clock.now())
        service.check(spec)
        source: UploadSource | ObjectSource | None = translate.object_source(create)
        upload = form.get("file") if form is not None else None
        if isinstance(upload, UploadFile):
            name = files.safe_name(upload.filename, default="dataset")
            source = UploadSource(name, bodies.chunks(upload.file))
        if source is None:
            raise errors.InvalidRequest(
                "a dataset is required: a multipart part named file, or "
                "trainingDatasetBucket/trainingDatasetFilePath with Object Storage keys",
                param="trainingDatasetFilePath",
            )
        job = await run_in_threadpool(service.submit_job, spec, source)
    finally:
        if form is not None:
            await form.close()
    return _respond(request, {"status": _OK, "result": translate.task(job)})


@router.get("/tasks")
async def list_tasks(
    request: Request,
    service: ServiceDep,
    workspace: WorkspaceDep,
    page: str = "0",
    size: str = "20",
) -> Response:
    """A Spring-style page of the workspace's tasks, newest first."""
    count = params.whole(size, "size", default=20, low=1, high=100)
    number = params.whole(page, "page", default=0, high=params.MAX_INT // 100)
    listing = await run_in_threadpool(
        service.list_jobs, workspace, offset=number * count, limit=count
    )
    return _respond(
        request, {"status": _OK, "result": translate.page(listing, number=number, size=count)}
    )


@router.get("/tasks/{task_id}")
async def get_task(
    task_id: str, request: Request, service: ServiceDep, workspace: WorkspaceDep
) -> Response:
    """One task with its live statusInfo."""
    job = await run_in_threadpool(service.get_job, workspace, task_id)
    return _respond(request, {"status": _OK, "result": translate.task(job)})


@router.delete("/tasks/{task_id}")
async def delete_task(
    task_id: str, request: Request, service: ServiceDep, workspace: WorkspaceDep
) -> Response:
    """Delete a task; a task still training is cancelled first."""
    await run_in_threadpool(service.delete_job, workspace, task_id)
    return _respond(request, {"status": _OK})
