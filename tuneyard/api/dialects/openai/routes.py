"""OpenAI routes under `/v1`: files and fine-tuning jobs — thin: parse, call, render.

Every response carries `x-request-id`; errors are `{"error": {message, type, param, code}}`
(spec §4.5), and a conflict that retrying cannot fix says `x-should-retry: false` (the SDK
retries 409s otherwise).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response
from starlette.datastructures import UploadFile

from tuneyard import errors
from tuneyard.api import bodies, direct, multipart, offload, params, rendered, respond
from tuneyard.api.deps import ServiceDep, bearer_caller
from tuneyard.api.dialects.openai import create, names, translate, wire
from tuneyard.api.errors import Code
from tuneyard.core import files, ids
from tuneyard.core.credentials import Caller
from tuneyard.core.jobs import Job, Parent
from tuneyard.core.service import Service

__all__ = ["PREFIX", "render_error", "router"]

PREFIX = "/v1"
REQUEST_ID = "x-request-id"
PROJECT_HEADERS = ("openai-project", "openai-organization")
"""Headers that name the workspace to act in (one of the key's); else the key's own."""

router = APIRouter(prefix=PREFIX, tags=["openai"])


CallerDep = Annotated[Caller, Depends(bearer_caller(*PROJECT_HEADERS))]
"""Who the key acts as, in the workspace a project header names (one of the key's)."""


def _json(body: Any, status_code: int = 200) -> Response:
    return respond.json(body, status_code, headers={REQUEST_ID: "req_" + ids.new_request_id()})


def render_error(
    request: Request, status: int, code: Code, message: str, param: str | None
) -> Response:
    """OpenAI's error envelope; a 409 is marked not worth retrying."""
    http_status, body = translate.error_body(code, message, param)
    return respond.error(body, http_status, headers={REQUEST_ID: "req_" + ids.new_request_id()})


# -- files ------------------------------------------------------------------------------
@router.post("/files")
async def upload_file(request: Request, service: ServiceDep, caller: CallerDep) -> Response:
    """Upload a dataset (`file`, `purpose=fine-tune`); it is checked at once: `processed`,
    or `error` with the first problem in `status_details`."""
    form = await multipart.read_form(request, max_files=1)
    try:
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise errors.InvalidRequest(
                "send the dataset as a multipart part named file", param="file"
            )
        purpose = str(form.get("purpose") or "")
        if purpose != "fine-tune":
            raise errors.InvalidRequest(
                f"purpose must be fine-tune (tuneyard keeps fine-tuning data), not {purpose!r}",
                param="purpose",
            )
        stored = await run_in_threadpool(
            service.uploads.upload_checked,
            caller.workspace_id,
            files.safe_name(part.filename),
            bodies.chunks(part.file),
            formats=wire.DATASET_FORMATS,
            purpose=purpose,
        )
    finally:
        await form.close()
    return _json(translate.file(stored))


@router.get("/files")
async def list_files(
    service: ServiceDep,
    caller: CallerDep,
    after: str = "",
    limit: str = "",
    order: str = "desc",
    purpose: str = "",
) -> Response:
    """The workspace's files, newest first (`order=asc`: oldest first), after `after`."""
    if order not in ("asc", "desc"):
        raise errors.InvalidRequest("order must be asc or desc", param="order")
    found = await run_in_threadpool(
        service.uploads.list_after,
        caller.workspace_id,
        marker=params.ident(after, "after") or None,
        limit=params.limit(limit, default=10000, most=10000),
        oldest_first=order == "asc",
        purpose=params.text(purpose, "purpose"),
    )
    return _json(translate.listing([translate.file(f) for f in found.items], more=found.more))


@router.get("/files/{file_id}")
async def get_file(file_id: str, service: ServiceDep, caller: CallerDep) -> Response:
    """One FileObject."""
    stored = await run_in_threadpool(service.uploads.get_file, caller.workspace_id, file_id)
    return _json(translate.file(stored))


@router.delete("/files/{file_id}")
async def delete_file(file_id: str, service: ServiceDep, caller: CallerDep) -> Response:
    """Delete a file (jobs already using it keep running)."""
    await run_in_threadpool(service.uploads.delete_file, caller.workspace_id, file_id)
    return _json({"id": file_id, "object": "file", "deleted": True})


@router.get("/files/{file_id}/content")
async def file_content(file_id: str, service: ServiceDep, caller: CallerDep) -> Response:
    """The file's bytes as uploaded (or, for a results file, the metrics CSV)."""
    stored, path = await run_in_threadpool(service.uploads.content, caller.workspace_id, file_id)
    name = files.safe_name(stored.filename)  # files stored before names were cleaned, too
    response = FileResponse(path, media_type="application/octet-stream", filename=name)
    response.headers[REQUEST_ID] = "req_" + ids.new_request_id()
    return response


# -- fine-tuning jobs -------------------------------------------------------------------
def _job(service: Service, caller: Caller, job_id: str) -> Job:
    try:
        return service.jobs.get(caller.workspace_id, names.parse_job(job_id))
    except errors.JobNotFound:
        raise errors.JobNotFound(f"No fine-tuning job found with id {job_id}") from None


def _render(record: Job, caller: Caller) -> Response:
    return _json(rendered.fragment(translate.job_of, record, caller.workspace_id))


def _dataset(service: Service, caller: Caller, file_id: str | None, param: str) -> None:
    """A job's file must exist, be for fine-tuning and have passed its check."""
    if file_id is None:
        return
    stored = service.uploads.get_file(caller.workspace_id, file_id, param=param)
    if stored.status == "error":
        raise errors.InvalidRequest(
            f"File {file_id} is not a valid dataset: {stored.status_details}", param=param
        )
    if stored.purpose != "fine-tune":
        raise errors.InvalidRequest(
            f"File {file_id} has purpose {stored.purpose}, not fine-tune", param=param
        )


def _create(service: Service, caller: Caller, body: dict[str, Any]) -> Job:
    request = wire.parse_create(body)
    _dataset(service, caller, request.training_file, "training_file")
    _dataset(service, caller, request.validation_file, "validation_file")
    parent = None
    base_model = request.model
    if request.model.startswith("ft:"):
        name, step = names.split_checkpoint_model(request.model)
        earlier = service.jobs.get(caller.workspace_id, name.rsplit(":", 1)[-1], param="model")
        parent, base_model = Parent(earlier.id, step), earlier.base_model
    spec = create.to_spec(
        request,
        workspace_id=caller.workspace_id,
        organization=caller.workspace_id,
        parent=parent,
        base_model=base_model,
        account=caller.account,
        actor=caller.actor,
    )
    try:
        return service.submission.create(spec)
    except errors.ModelNotFound:
        raise errors.ModelNotFound(
            f"The model {request.model} does not exist or you do not have access to it.",
            param="model",
        ) from None


@router.post("/fine_tuning/jobs")
async def create_job(request: Request, service: ServiceDep, caller: CallerDep) -> Response:
    """Create a job; it validates its files, queues and trains."""
    body = await bodies.json_object(request)
    return _render(await run_in_threadpool(_create, service, caller, body), caller)


@router.get("/fine_tuning/jobs")
async def list_jobs(
    request: Request, service: ServiceDep, caller: CallerDep, after: str = "", limit: str = ""
) -> Response:
    """The workspace's jobs, newest first, after `after`; `metadata[k]=v` filters."""
    metadata = {
        params.ident(key[len("metadata[") : -1], "metadata"): params.ident(value, "metadata")
        for key, value in request.query_params.multi_items()
        if key.startswith("metadata[") and key.endswith("]")
    }
    found = await run_in_threadpool(
        lambda: service.jobs.list_after(
            caller.workspace_id,
            marker=names.parse_job(params.ident(after, "after")) if after else None,
            limit=params.limit(limit, default=20, most=100),
            metadata=metadata or None,
        )
    )
    items = [translate.job(j, organization=caller.workspace_id) for j in found.items]
    return _json(translate.listing(items, more=found.more))


@direct.get(router, "/fine_tuning/jobs/{job_id}")
async def get_job(job_id: str, service: ServiceDep, caller: CallerDep) -> Response:
    """One FineTuningJob."""
    try:
        job = await offload.job(service, caller.workspace_id, names.parse_job(job_id))
    except errors.JobNotFound:
        raise errors.JobNotFound(f"No fine-tuning job found with id {job_id}") from None
    return _render(job, caller)


def _act(service: Service, caller: Caller, job_id: str, action: str) -> Job:
    neutral = _job(service, caller, job_id).id
    verb = {
        "cancel": service.control.cancel,
        "pause": service.control.pause,
        "resume": service.control.resume,
    }
    return verb[action](caller.workspace_id, neutral, by=caller.actor)


@router.post("/fine_tuning/jobs/{job_id}/cancel")
async def cancel_job(job_id: str, service: ServiceDep, caller: CallerDep) -> Response:
    """Cancel a job that has not finished."""
    return _render(await run_in_threadpool(_act, service, caller, job_id, "cancel"), caller)


@router.post("/fine_tuning/jobs/{job_id}/pause")
async def pause_job(job_id: str, service: ServiceDep, caller: CallerDep) -> Response:
    """Pause a running job (a checkpoint is saved; status `paused`)."""
    return _render(await run_in_threadpool(_act, service, caller, job_id, "pause"), caller)


@router.post("/fine_tuning/jobs/{job_id}/resume")
async def resume_job(job_id: str, service: ServiceDep, caller: CallerDep) -> Response:
    """Resume a paused job from its checkpoint."""
    return _render(await run_in_threadpool(_act, service, caller, job_id, "resume"), caller)


@router.get("/fine_tuning/jobs/{job_id}/events")
async def list_events(
    job_id: str, service: ServiceDep, caller: CallerDep, after: str = "", limit: str = ""
) -> Response:
    """The job's events, newest first; `after` an event id: the older ones."""
    record = await run_in_threadpool(_job, service, caller, job_id)
    found = await run_in_threadpool(
        lambda: service.events.read(
            caller.workspace_id,
            record.id,
            before=names.parse_event(after, record.id) if after else None,
            limit=params.limit(limit, default=20, most=1000),
            newest_first=True,
        )
    )
    items = [translate.event(e, record) for e in found.items]
    return _json(translate.listing(items, more=found.more))


@router.get("/fine_tuning/jobs/{job_id}/checkpoints")
async def list_checkpoints(
    job_id: str, service: ServiceDep, caller: CallerDep, after: str = "", limit: str = ""
) -> Response:
    """The job's kept checkpoints, newest first; `after` a checkpoint id: the older ones."""
    record = await run_in_threadpool(_job, service, caller, job_id)
    below = names.parse_checkpoint(after, record.id) if after else None
    kept = sorted(
        (c for c in record.progress.checkpoints if below is None or c.step < below),
        key=lambda c: c.step,
        reverse=True,
    )
    size = params.limit(limit, default=10, most=100)
    items = [translate.checkpoint(c, record, organization=caller.workspace_id) for c in kept]
    return _json(translate.listing(items[:size], more=len(items) > size))
