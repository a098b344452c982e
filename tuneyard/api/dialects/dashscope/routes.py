"""DashScope routes under `/api/v1`: files and fine-tunes — thin: parse, call, render.

Fine-tune responses are `{"request_id", "output"}`, file responses `{"request_id", "data"}`
(spec §2.2); errors are `{"request_id", "code", "message"}` and never a top-level `code` on
success (the v2 SDK raises on any).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from tuneyard import errors
from tuneyard.api import (
    bodies,
    direct,
    multipart,
    offload,
    params,
    rendered,
    respond,
    streams,
    tail,
)
from tuneyard.api.deps import ServiceDep, bearer_caller
from tuneyard.api.dialects import values
from tuneyard.api.dialects.dashscope import create, translate, wire
from tuneyard.api.dialects.openai import routes as openai_routes
from tuneyard.api.errors import Code
from tuneyard.core import files, ids
from tuneyard.core.credentials import Caller
from tuneyard.core.service import Service

__all__ = ["PREFIX", "CallerDep", "output", "page", "render_error", "router"]

PREFIX = "/api/v1"
COMPATIBLE_PREFIX = "/compatible-mode/"
"""DashScope's OpenAI-compatible API (its routes: `generation_routes`)."""
WORKSPACE_HEADER = "X-DashScope-WorkSpace"
REQUEST_ID = "x-request-id"
"""The body's `request_id`, also as a header (for logs and proxies; the SDK reads the body)."""
MAX_FILES = 100
"""Live files per workspace (the vendor's limit, spec §2.7)."""

router = APIRouter(prefix=PREFIX, tags=["dashscope"])


CallerDep = Annotated[Caller, Depends(bearer_caller(WORKSPACE_HEADER))]
"""Who the key acts as, in the workspace `X-DashScope-WorkSpace` names (one of the key's)
or else the key's own."""


def output(body: Any) -> Response:
    """`{"request_id", "output"}` (fine-tunes, deployments), the request id also as a header."""
    request_id = ids.new_request_id()
    return respond.json(
        {"request_id": request_id, "output": body}, headers={REQUEST_ID: request_id}
    )


def _data(body: Any) -> Response:
    request_id = ids.new_request_id()
    return respond.json({"request_id": request_id, "data": body}, headers={REQUEST_ID: request_id})


def render_error(
    request: Request, status: int, code: Code, message: str, param: str | None
) -> Response:
    """DashScope's error envelope; a 409 tells the v2 SDK not to retry it. Under
    `/compatible-mode/` it is OpenAI's, as the OpenAI SDK pointed there reads it."""
    if request.url.path.startswith(COMPATIBLE_PREFIX):
        return openai_routes.render_error(request, status, code, message, param)
    request_id = ids.new_request_id()
    http_status, body = translate.error_body(code, message, request_id)
    return respond.error(body, http_status, headers={REQUEST_ID: request_id})


def page(page_no: str, page_size: str) -> params.NumberedPage:
    """The page `page_no`/`page_size` name (1-based, 10 a page unless asked)."""
    return params.numbered_page(
        page_no, page_size, names=("page_no", "page_size"), first=1, default_size=10
    )


# -- files ------------------------------------------------------------------------------
@router.post("/files")
async def upload_files(request: Request, service: ServiceDep, caller: CallerDep) -> Response:
    """Upload `files` parts (with optional `descriptions`); each is checked as a dataset."""
    form = await multipart.read_form(request)
    try:
        parts = [p for p in form.getlist("files") if isinstance(p, UploadFile)]
        if not parts:
            raise errors.InvalidRequest("no file: send multipart parts named files", param="files")
        sent_notes = form.getlist("descriptions")
        descriptions = [params.note(d, "descriptions") for d in sent_notes if isinstance(d, str)]
        sent = form.get("purpose")
        purpose = params.text(sent if isinstance(sent, str) else None, "purpose", most=32)
        purpose = purpose or "fine-tune"
        uploaded, failed = [], []
        for index, part in enumerate(parts):
            name = files.safe_name(part.filename)
            try:
                stored, problem = await run_in_threadpool(
                    service.uploads.upload_dataset,
                    caller.workspace_id,
                    name,
                    bodies.chunks(part.file),
                    formats=wire.DATASET_FORMATS,
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
    service: ServiceDep, caller: CallerDep, page_no: str = "1", page_size: str = "10"
) -> Response:
    """A page of the workspace's files, newest first."""
    wanted = page(page_no, page_size)
    listing = await run_in_threadpool(
        service.uploads.list_files, caller.workspace_id, offset=wanted.offset, limit=wanted.size
    )
    return _data(translate.files_page(listing, page_no=wanted.number, page_size=wanted.size))


@router.get("/files/{file_id}")
async def get_file(file_id: str, service: ServiceDep, caller: CallerDep) -> Response:
    """One file's metadata."""
    stored = await run_in_threadpool(service.uploads.get_file, caller.workspace_id, file_id)
    return _data(translate.file(stored))


@router.delete("/files/{file_id}")
async def delete_file(file_id: str, service: ServiceDep, caller: CallerDep) -> Response:
    """Delete a file (jobs already using it keep running)."""
    await run_in_threadpool(service.uploads.delete_file, caller.workspace_id, file_id)
    return _data({"deleted": True})


# -- fine-tunes -------------------------------------------------------------------------
def _create(service: Service, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    wanted = wire.parse_create(body)
    parent = service.jobs.by_output(caller.workspace_id, wanted.model)
    spec = create.to_spec(
        wanted,
        workspace_id=caller.workspace_id,
        account=caller.account,
        actor=caller.actor,
        parent=parent,
    )
    return translate.job(service.submission.create(spec))


@router.post("/fine-tunes")
async def create_fine_tune(request: Request, service: ServiceDep, caller: CallerDep) -> Response:
    """Create a job on a base model, or on an earlier job's `finetuned_output`."""
    body = await bodies.json_object(request)
    return output(await run_in_threadpool(_create, service, caller, body))


@router.get("/fine-tunes")
async def list_fine_tunes(
    service: ServiceDep,
    caller: CallerDep,
    page_no: str = "1",
    page_size: str = "10",
    model: str | None = None,
) -> Response:
    """A page of the workspace's jobs, newest first; `model` keeps one base model's."""
    wanted = page(page_no, page_size)
    listing = await run_in_threadpool(
        service.jobs.list,
        caller.workspace_id,
        offset=wanted.offset,
        limit=wanted.size,
        base_model=params.text(model, "model"),
    )
    return output(translate.jobs_page(listing, page_no=wanted.number, page_size=wanted.size))


@direct.get(router, "/fine-tunes/{job_id}")
async def get_fine_tune(job_id: str, service: ServiceDep, caller: CallerDep) -> Response:
    """One job."""
    job = await offload.job(service, caller.workspace_id, job_id)
    return output(rendered.fragment(translate.job, job))


@router.post("/fine-tunes/{job_id}/cancel")
async def cancel_fine_tune(job_id: str, service: ServiceDep, caller: CallerDep) -> Response:
    """Cancel a job that has not finished (a finished one is UnsupportedOperation)."""
    await run_in_threadpool(service.control.cancel, caller.workspace_id, job_id, by=caller.actor)
    return output({"status": "success"})


@router.delete("/fine-tunes/{job_id}")
async def delete_fine_tune(job_id: str, service: ServiceDep, caller: CallerDep) -> Response:
    """Delete a job (one still running is cancelled first)."""
    await run_in_threadpool(service.control.delete, caller.workspace_id, job_id, by=caller.actor)
    return output({"status": "success"})


@router.get("/fine-tunes/{job_id}/logs")
async def fine_tune_logs(
    job_id: str,
    service: ServiceDep,
    caller: CallerDep,
    offset: str = "1",
    line: str = "100",
) -> Response:
    """Log lines from `offset` (1-based; 0 reads as 1), at most `line` (≤ 1000) of them."""
    first = params.whole(offset, "offset", default=1)
    count = params.whole(line, "line", default=100, low=1, high=1000)
    found = await run_in_threadpool(
        service.events.read, caller.workspace_id, job_id, after=max(1, first) - 1, limit=count
    )
    total = await run_in_threadpool(service.events.count, caller.workspace_id, job_id)
    return output(translate.logs(found.items, total=total))


@router.get("/fine-tunes/{job_id}/checkpoints")
async def fine_tune_checkpoints(job_id: str, service: ServiceDep, caller: CallerDep) -> Response:
    """The job's checkpoints kept on disk (an array), oldest first."""
    job = await run_in_threadpool(service.jobs.get, caller.workspace_id, job_id)
    return output(translate.checkpoints(job))


@router.get("/fine-tunes/{job_id}/export/{checkpoint}")
async def export_checkpoint(
    job_id: str,
    checkpoint: str,
    service: ServiceDep,
    caller: CallerDep,
    model_name: str | None = None,
) -> Response:
    """Export a checkpoint as a model (its PEFT adapter, or whole weights for full
    fine-tuning) under `model_name` (default `{job_id}-checkpoint-{step}`); `output: true`
    once it is written."""
    step = translate.checkpoint_step(checkpoint)
    model_name = params.text(model_name, "model_name", most=values.NAME_MAX)
    await run_in_threadpool(
        service.weights.export, caller.workspace_id, job_id, step=step, merged=False
    )
    name = model_name or f"{job_id}-{translate.checkpoint_name(step)}"
    await run_in_threadpool(service.weights.name_export, caller.workspace_id, job_id, step, name)
    return output(True)


@router.get("/fine-tunes/{job_id}/stream")
async def stream_fine_tune(
    job_id: str, request: Request, service: ServiceDep, caller: CallerDep
) -> Response:
    """Server-sent events: every log line so far, then each new one as it happens, until
    the job has finished or is paused (its last line says so), or no line has come for
    --stream-idle-seconds (a comment every 15 s keeps idle connections open). A workspace
    may hold --max-streams-per-workspace open at once; more is 429 Throttling."""
    await run_in_threadpool(
        service.jobs.get, caller.workspace_id, job_id
    )  # a 404 before the stream
    open_streams: streams.OpenStreams = request.app.state.streams
    idle_s: float = request.app.state.settings.stream_idle_seconds
    frames = _frames(request, service, caller.workspace_id, job_id, idle_s=idle_s)
    return open_streams.response(caller.workspace_id, frames)


async def _frames(
    request: Request, service: Service, workspace: str, job_id: str, *, idle_s: float
) -> AsyncIterator[str]:
    """Each log line as the job's timeline gains it (`tail.follow_job`), and the comments
    between; an error frame if the job is deleted meanwhile."""
    try:
        async for item in tail.follow_job(
            request, service, workspace, job_id, after=0, idle_s=idle_s
        ):
            if isinstance(item, str):  # a keep-alive, or the idle stream's last word
                yield item
                continue
            for event in item.events:
                yield translate.stream_line(event)
    except errors.NotFound as exc:  # deleted while streaming
        _, body = translate.error_body(Code.NOT_FOUND, exc.message, ids.new_request_id())
        yield f"event:error\nstatus:404\ndata:{json.dumps(body)}\n\n"
