"""CLOVA routes: `/tuning/v2/tasks` create, get, list, delete — thin: parse, call, render."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from starlette.datastructures import FormData, UploadFile

from tuneyard import errors
from tuneyard.api import bodies, direct, multipart, offload, params, rendered, respond
from tuneyard.api.deps import ServiceDep, bearer_caller
from tuneyard.api.dialects.clova import create, translate, wire
from tuneyard.api.dialects.openai import translate as openai_translate
from tuneyard.api.errors import Code
from tuneyard.core import files
from tuneyard.core.credentials import Caller
from tuneyard.core.submission import ObjectSource, UploadSource

__all__ = [
    "OK",
    "OPENAI_COMPAT",
    "PREFIX",
    "REQUEST_ID",
    "CallerDep",
    "render_error",
    "router",
]

PREFIX = "/tuning/v2"
OPENAI_COMPAT = "/v1/openai"
"""Where CLOVA's OpenAI-compatible API lives (`compat_routes`)."""
REQUEST_ID = "X-NCP-CLOVASTUDIO-REQUEST-ID"
OK = {"code": "20000", "message": "OK"}
"""The `status` of every success."""

router = APIRouter(prefix=PREFIX, tags=["clova"])

CallerDep = Annotated[Caller, Depends(bearer_caller())]
"""The bearer key's caller, in the key's own workspace."""


def _respond(request: Request, body: dict[str, Any], status_code: int = 200) -> Response:
    """`body`, echoing the request id the client sent."""
    return respond.json(body, status_code, headers={REQUEST_ID: request.headers.get(REQUEST_ID)})


def render_error(
    request: Request, status: int, code: Code, message: str, param: str | None
) -> Response:
    """CLOVA's error envelope: `{"status": {"code": "40001", "message": …}}`, no result;
    under the OpenAI-compatible `/v1/openai/` OpenAI's `{"error": …}`, which the SDK
    that calls it reads."""
    if request.url.path.startswith(OPENAI_COMPAT + "/"):
        http_status, body = openai_translate.error_body(code, message, param)
        headers = {REQUEST_ID: request.headers.get(REQUEST_ID)}
        return respond.error(body, http_status, headers=headers)
    return _respond(request, {"status": translate.error_status(code, message)}, status)


async def _read_form(request: Request) -> FormData | None:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return await multipart.read_form(request, max_files=1)
    if kind not in ("application/json", ""):
        raise errors.InvalidRequest("Content-Type must be application/json or multipart/form-data")
    return None


@router.post("/tasks")
async def create_task(request: Request, service: ServiceDep, caller: CallerDep) -> Response:
    """Create a training task from an uploaded file part or an Object Storage path."""
    form = await _read_form(request)
    try:
        fields = (
            await bodies.json_object(request)
            if form is None
            else {k: v for k, v in form.items() if isinstance(v, str)}
        )
        request_fields = wire.parse_create(fields)
        spec = create.to_spec(
            request_fields, workspace_id=caller.workspace_id, now=service.ports.clock.now()
        )
        service.submission.check(spec)
        source: UploadSource | ObjectSource | None = create.object_source(request_fields)
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
        job = await run_in_threadpool(service.submission.submit, spec, source)
    finally:
        if form is not None:
            await form.close()
    return _respond(request, {"status": OK, "result": translate.task(job)})


@router.get("/tasks")
async def list_tasks(
    request: Request,
    service: ServiceDep,
    caller: CallerDep,
    page: str = "0",
    size: str = "20",
) -> Response:
    """A Spring-style page of the workspace's tasks, newest first."""
    wanted = params.numbered_page(page, size, names=("page", "size"), first=0, default_size=20)
    listing = await run_in_threadpool(
        service.jobs.list, caller.workspace_id, offset=wanted.offset, limit=wanted.size
    )
    result = translate.page(listing, number=wanted.number, size=wanted.size)
    return _respond(request, {"status": OK, "result": result})


@direct.get(router, "/tasks/{task_id}")
async def get_task(
    task_id: str, request: Request, service: ServiceDep, caller: CallerDep
) -> Response:
    """One task with its live statusInfo."""
    job = await offload.job(service, caller.workspace_id, task_id)
    return _respond(request, {"status": OK, "result": rendered.fragment(translate.task, job)})


@router.delete("/tasks/{task_id}")
async def delete_task(
    task_id: str, request: Request, service: ServiceDep, caller: CallerDep
) -> Response:
    """Delete a task; a task still training is cancelled first."""
    await run_in_threadpool(service.control.delete, caller.workspace_id, task_id)
    return _respond(request, {"status": OK})
