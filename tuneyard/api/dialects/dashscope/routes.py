"""DashScope routes under `/api/v1`: files and fine-tunes — thin: parse, call, render.

Fine-tune responses are `{"request_id", "output"}`, file responses `{"request_id", "data"}`
(spec §2.2); errors are `{"request_id", "code", "message"}` and never a top-level `code` on
success (the v2 SDK raises on any).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile

from tuneyard import errors
from tuneyard.api import bodies
from tuneyard.api.deps import ServiceDep, bearer_key
from tuneyard.api.dialects.dashscope import translate, wire
from tuneyard.core import ids
from tuneyard.core.service import Service

__all__ = ["PREFIX", "render_error", "router"]

PREFIX = "/api/v1"
WORKSPACE_HEADER = "X-DashScope-WorkSpace"
MAX_FILES = 100
"""Live files per workspace (the vendor's limit, spec §2.7)."""
DATASET_FORMATS = frozenset({"dashscope-sft", "dashscope-dpo", "dashscope-cpt", "openai-chat"})
"""What an upload may hold: ChatML conversations, DPO pairs, or CPT text (spec §2.10)."""

router = APIRouter(prefix=PREFIX, tags=["dashscope"])


def _workspace(request: Request, service: ServiceDep) -> str:
    """The key's workspace; a `X-DashScope-WorkSpace` header must name that same one."""
    workspace = service.authenticate(bearer_key(request))
    asked = request.headers.get(WORKSPACE_HEADER)
    if asked and asked != workspace:
        raise errors.Forbidden(f"The API key has no access to workspace {asked}.")
    return workspace


WorkspaceDep = Annotated[str, Depends(_workspace)]


def _output(body: Any) -> JSONResponse:
    return JSONResponse({"request_id": ids.new_request_id(), "output": body})


def _data(body: Any) -> JSONResponse:
    return JSONResponse({"request_id": ids.new_request_id(), "data": body})


def render_error(
    request: Request, status: int, code: str, message: str, param: str | None
) -> Response:
    """DashScope's error envelope; a 409 tells the v2 SDK not to retry it."""
    http_status, body = translate.error_body(code, message, ids.new_request_id())
    response = JSONResponse(body, status_code=http_status)
    if http_status == 409:
        response.headers["x-should-retry"] = "false"
    return response


def _page(page_no: str, page_size: str) -> tuple[int, int]:
    if not page_no.isdigit() or int(page_no) < 1:
        raise errors.InvalidRequest("page_no must be a whole number from 1", param="page_no")
    if not page_size.isdigit() or not 1 <= int(page_size) <= 100:
        raise errors.InvalidRequest("page_size must be between 1 and 100", param="page_size")
    return int(page_no), int(page_size)


# -- files ------------------------------------------------------------------------------
@router.post("/files")
async def upload_files(request: Request, service: ServiceDep, workspace: WorkspaceDep) -> Response:
    """Upload `files` parts (with optional `descriptions`); each is checked as a dataset."""
    form = await request.form(max_files=100, max_fields=200)
    try:
        parts = [p for p in form.getlist("files") if isinstance(p, UploadFile)]
        if not parts:
            raise errors.InvalidRequest("no file: send multipart parts named files", param="files")
        descriptions = [d for d in form.getlist("descriptions") if isinstance(d, str)]
        purpose = str(form.get("purpose") or "fine-tune")
        uploaded, failed = [], []
        for index, part in enumerate(parts):
            name = part.filename or "dataset.jsonl"
            try:
                stored, problem = await run_in_threadpool(
                    service.upload_dataset,
                    workspace,
                    name,
                    bodies.chunks(part.file),
                    formats=DATASET_FORMATS,
                    purpose=purpose,
                    description=descriptions[index] if index < len(descriptions) else None,
                    max_files=MAX_FILES,
                )
            except errors.Conflict as exc:
                failed.append({"name": name, "code": "BadRequest.TooMany", "message": exc.message})
                continue
            if stored is None:
                failed.append({"name": name, "code": "InvalidParameter", "message": problem or ""})
            else:
                uploaded.append({"file_id": stored.id, "name": stored.filename})
    finally:
        await form.close()
    return _data({"uploaded_files": uploaded, "failed_uploads": failed})


@router.get("/files")
async def list_files(
    service: ServiceDep, workspace: WorkspaceDep, page_no: str = "1", page_size: str = "10"
) -> Response:
    """A page of the workspace's files, newest first."""
    number, size = _page(page_no, page_size)
    listing = await run_in_threadpool(
        service.list_files, workspace, offset=(number - 1) * size, limit=size
    )
    return _data(translate.files_page(listing, page_no=number, page_size=size))


@router.get("/files/{file_id}")
async def get_file(file_id: str, service: ServiceDep, workspace: WorkspaceDep) -> Response:
    """One file's metadata."""
    stored = await run_in_threadpool(service.get_file, workspace, file_id)
    return _data(translate.file(stored))


@router.delete("/files/{file_id}")
async def delete_file(file_id: str, service: ServiceDep, workspace: WorkspaceDep) -> Response:
    """Delete a file (jobs already using it keep running)."""
    await run_in_threadpool(service.delete_file, workspace, file_id)
    return _data({"deleted": True})


# -- fine-tunes -------------------------------------------------------------------------
def _create(service: Service, workspace: str, body: dict[str, Any]) -> dict[str, Any]:
    create = wire.parse_create(body)
    parent = service.job_by_output(workspace, create.model)
    spec = translate.to_spec(create, workspace_id=workspace, parent=parent)
    return translate.job(service.create_job(spec))


@router.post("/fine-tunes")
async def create_fine_tune(
    request: Request, service: ServiceDep, workspace: WorkspaceDep
) -> Response:
    """Create a job on a base model, or on an earlier job's `finetuned_output`."""
    body = await bodies.json_object(request)
    return _output(await run_in_threadpool(_create, service, workspace, body))


@router.get("/fine-tunes")
async def list_fine_tunes(
    service: ServiceDep,
    workspace: WorkspaceDep,
    page_no: str = "1",
    page_size: str = "10",
    model: str | None = None,
) -> Response:
    """A page of the workspace's jobs, newest first; `model` keeps one base model's."""
    number, size = _page(page_no, page_size)
    listing = await run_in_threadpool(
        service.list_jobs, workspace, offset=(number - 1) * size, limit=size, base_model=model
    )
    return _output(translate.jobs_page(listing, page_no=number, page_size=size))


@router.get("/fine-tunes/{job_id}")
async def get_fine_tune(job_id: str, service: ServiceDep, workspace: WorkspaceDep) -> Response:
    """One job."""
    return _output(translate.job(await run_in_threadpool(service.get_job, workspace, job_id)))


@router.post("/fine-tunes/{job_id}/cancel")
async def cancel_fine_tune(job_id: str, service: ServiceDep, workspace: WorkspaceDep) -> Response:
    """Cancel a job that has not finished (a finished one is UnsupportedOperation)."""
    await run_in_threadpool(service.cancel_job, workspace, job_id)
    return _output({"status": "success"})


@router.delete("/fine-tunes/{job_id}")
async def delete_fine_tune(job_id: str, service: ServiceDep, workspace: WorkspaceDep) -> Response:
    """Delete a job (one still running is cancelled first)."""
    await run_in_threadpool(service.delete_job, workspace, job_id)
    return _output({"status": "success"})


@router.get("/fine-tunes/{job_id}/logs")
async def fine_tune_logs(
    job_id: str,
    service: ServiceDep,
    workspace: WorkspaceDep,
    offset: str = "1",
    line: str = "100",
) -> Response:
    """Log lines from `offset` (1-based; 0 reads as 1), at most `line` (≤ 1000) of them."""
    if not offset.isdigit():
        raise errors.InvalidRequest("offset must be a whole number", param="offset")
    if not line.isdigit() or not 1 <= int(line) <= 1000:
        raise errors.InvalidRequest("line must be between 1 and 1000", param="line")
    events, total = await run_in_threadpool(
        service.job_log, workspace, job_id, first=max(1, int(offset)), count=int(line)
    )
    return _output(translate.logs(events, total=total))
