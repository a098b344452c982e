"""Qianfan routes: `POST /v2/finetuning?Action=…`, every request signed with bce-auth-v1.

Responses are `{"requestId", "result"}`; errors `{"requestId", "code", "message"}` with the
HTTP status set (spec §3.4). Thin: verify the signature, parse, call, render.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tuneyard import errors
from tuneyard.api import respond
from tuneyard.api.console.routes import CURVES
from tuneyard.api.deps import ServiceDep
from tuneyard.api.dialects.qianfan import (
    catalogue,
    chat_errors,
    chat_routes,
    console,
    create,
    translate,
    wire,
)
from tuneyard.api.errors import Code
from tuneyard.core import ids, sharing, states
from tuneyard.core.groups import JobGroup
from tuneyard.core.jobs import Job
from tuneyard.core.paging import Slice
from tuneyard.kinds import Objective

__all__ = ["ACTIONS", "PREFIX", "render_error", "router"]

PREFIX = "/v2/finetuning"
REQUEST_ID = console.REQUEST_ID

router = APIRouter(tags=["qianfan"])


def render_error(
    request: Request, status: int, code: Code, message: str, param: str | None
) -> Response:
    """The BCE error envelope, `{requestId, code, message}`, with the vendor's status; on
    the chat paths, the inference API's own (`chat_errors`)."""
    request_id = ids.new_request_id()
    path = request.url.path
    if path.startswith(chat_routes.V1_PREFIX + "/"):
        body = chat_errors.v1_body(code, message, request_id)
        return respond.json(body, 200, headers={chat_routes.REQUEST_ID: request_id})
    if path == chat_routes.V2_PATH:
        http_status, body = chat_errors.v2_body(code, message, request_id)
        return respond.json(body, http_status, headers={chat_routes.REQUEST_ID: request_id})
    http_status, body = translate.error_body(code, message, request_id)
    return respond.json(body, http_status, headers={REQUEST_ID: request_id})


def _task(call: console.Call, task_id: str) -> tuple[Job, JobGroup]:
    """A task of the caller's workspace and the job (group) it belongs to."""
    try:
        job = call.service.jobs.get(call.workspace, task_id)
    except errors.JobNotFound:
        job = None
    if job is None or job.group_id is None:
        raise errors.JobNotFound(f"task {task_id} does not exist", param="taskId")
    return job, call.service.groups.get(call.workspace, job.group_id)


def _create_job(call: console.Call) -> Any:
    fields = create.group_fields(wire.parse(wire.CreateJob, call.body))
    group = call.service.groups.create(
        call.workspace,
        name=fields.name,
        description=fields.description,
        base_model=fields.base_model,
        objective=fields.objective,
        created_by=call.caller.actor,
        echo=fields.echo,
    )
    return {"jobId": group.id}


def _create_task(call: console.Call) -> Any:
    request = wire.parse(wire.CreateTask, call.body)
    group = call.service.groups.get(call.workspace, request.jobId, param="jobId")
    source = create.training_source(request.datasetConfig)
    file_id = source if isinstance(source, str) else None
    model = call.service.models.get(group.base_model)
    spec = create.task_spec(request, group, call.caller, training_file_id=file_id, model=model)
    if isinstance(source, str):
        job = call.service.submission.create(spec)
    else:
        job = call.service.submission.submit(spec, source)
    return {"jobId": group.id, "taskId": job.id}


def _list_jobs(call: console.Call) -> Any:
    request = wire.parse(wire.ListJobs, call.body)
    limit = console.max_keys(request.maxKeys)
    mode = request.trainMode or request.trainModel
    objective: Objective | None = None
    if mode:
        try:
            objective = catalogue.objective(mode)
        except errors.UnsupportedFeature:  # a mode tuneyard does not train has no jobs
            nothing: Slice[JobGroup] = Slice([], more=False)
            return {
                "jobList": [],
                "pageInfo": translate.page_info(request.marker, request.maxKeys, nothing),
            }
    found = call.service.groups.list(
        call.workspace,
        marker=request.marker,
        limit=limit,
        oldest_first=request.pageReverse,
        base_model=request.model,
        objective=objective,
    )
    return {
        "jobList": [translate.group(g) for g in found.items],
        "pageInfo": translate.page_info(request.marker, request.maxKeys, found),
    }


def _list_tasks(call: console.Call) -> Any:
    request = wire.parse(wire.ListTasks, call.body)
    group = call.service.groups.get(call.workspace, request.jobId, param="jobId")
    found = call.service.groups.jobs(
        group,
        marker=request.marker,
        limit=console.max_keys(request.maxKeys),
        oldest_first=request.pageReverse,
    )
    return {
        "taskList": [translate.task_summary(job, group) for job in found.items],
        "pageInfo": translate.page_info(request.marker, request.maxKeys, found),
    }


def _task_detail(call: console.Call) -> Any:
    job, group = _task(call, wire.parse(wire.TaskRef, call.body).taskId)
    query = urlencode({"displayToken": sharing.token(call.service.ports.sealer, job)})
    return translate.task(job, group, vdl_link=f"{call.base_url}{CURVES}?{query}")


def _stop_task(call: console.Call) -> Any:
    job, _ = _task(call, wire.parse(wire.TaskRef, call.body).taskId)
    if states.is_terminal(job.status):
        return False  # it had already finished: nothing was stopped
    try:
        call.service.control.cancel(call.workspace, job.id, by=call.caller.actor)
    except errors.InvalidTransition:
        return False  # it finished while we were stopping it
    return True


def _delete_task(call: console.Call) -> Any:
    job, _ = _task(call, wire.parse(wire.TaskRef, call.body).taskId)
    call.service.control.delete(call.workspace, job.id, by=call.caller.actor)
    return True


def _delete_job(call: console.Call) -> Any:
    request = wire.parse(wire.JobRef, call.body)
    call.service.groups.delete(call.workspace, request.jobId, by=call.caller.actor, param="jobId")
    return True


def _support_models(call: console.Call) -> Any:
    return catalogue.support_models(call.service.ports.catalog.all())


ACTIONS: dict[str, Callable[[console.Call], Any]] = {
    "CreateFineTuningJob": _create_job,
    "CreateFineTuningTask": _create_task,
    "DescribeFineTuningJobs": _list_jobs,
    "DescribeFineTuningTasks": _list_tasks,
    "DescribeFineTuningTask": _task_detail,
    "StopFineTuningTask": _stop_task,
    "DeleteFineTuningTask": _delete_task,
    "DeleteFineTuningJob": _delete_job,
    "DescribeFineTuningSupportModels": _support_models,
}
"""Each Action the endpoint answers, and what does it (each has a golden file)."""
POINT_READS = frozenset({"DescribeFineTuningTask"})
"""The Actions that read a row or two by key (`offload.read`); the others list or write
and always run on a worker thread."""


@router.post(PREFIX)
async def finetuning(request: Request, service: ServiceDep, caller: console.CallerDep) -> Response:
    """Dispatch on `?Action=`; the body is the Action's JSON parameters."""
    return await console.dispatch(request, service, caller, ACTIONS, POINT_READS)
