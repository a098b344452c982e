"""What the job page's buttons do, each a form POST with the CSRF field, through the
same core use-cases as the dialects (`service.control`, `service.weights`,
`service.submission`):

- `POST /console/jobs/{id}/cancel | pause | resume`: back to the job page;
- `POST /console/jobs/{id}/delete`: back to the jobs list;
- `POST /console/jobs/{id}/export` (`step`: a checkpoint's, empty: the final model;
  `merged`: "1" merges a LoRA adapter into its base): the job page with where it went;
- `POST /console/jobs/{id}/continue` (`step`): a new job that trains on from that
  checkpoint (or, no step, from the final model) with the same data, model and
  hyperparameters, recorded `created_via` WEB; on to the new job's page.

Another workspace's job is not found for every one of them. A script may send
`X-CSRF-Token` instead of the field, and `Accept: application/json` for a JSON answer.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response

from tuneyard import errors
from tuneyard.api import params
from tuneyard.api.console import job as job_page
from tuneyard.api.console import render, views
from tuneyard.api.console.session import ChangeDep, User
from tuneyard.api.deps import ServiceDep
from tuneyard.core.jobs import Job, JobSpec, Parent
from tuneyard.core.service import Service

__all__ = ["CREATED_VIA", "DIALECT", "continue_from", "router"]

router = APIRouter(tags=["console"])

DIALECT = "console"
"""The dialect a job the console creates is recorded under."""
CREATED_VIA = "WEB"
"""How such a job was created (CLOVA shows it as `createdClientType`)."""


async def _fields(request: Request) -> dict[str, str]:
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return {}
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _step(fields: dict[str, str]) -> int | None:
    raw = fields.get("step", "").strip()
    return params.whole(raw, "step", default=0, low=1) if raw else None


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _answer(request: Request, service: Service, job: Job | None, target: str) -> Response:
    if _wants_json(request):
        now = service.ports.clock.now()
        return JSONResponse(views.summary(job, now) if job is not None else {"deleted": True})
    return RedirectResponse(target, status_code=303)


def continue_from(service: Service, user: User, job_id: str, step: int | None) -> Job:
    """A new job of the workspace that trains on from `job_id`'s checkpoint at `step`
    (None: its final model), with the same files, model, method and hyperparameters."""
    parent = service.jobs.get(user.workspace_id, job_id)
    hyperparameters = parent.hyperparameters
    spec = JobSpec(
        workspace_id=user.workspace_id,
        display_name=f"{parent.display_name} (continued)"[:128],
        base_model=parent.base_model,
        task_type=parent.task_type,
        method=parent.method,
        hyperparameters=hyperparameters,
        dialect=DIALECT,
        training_file_id=parent.training_file_id,
        created_via=CREATED_VIA,
        objective=parent.objective,
        parent=Parent(parent.id, step),
        validation_file_id=parent.validation_file_id,
        account=user.account,
        created_by=user.actor,
    )
    return service.submission.create(spec)


@router.post("/console/jobs/{job_id}/{action}", include_in_schema=False)
async def job_action(
    job_id: str, action: str, request: Request, service: ServiceDep, user: ChangeDep
) -> Response:
    """Run one of the job page's actions (see the module's docstring)."""
    fields = await _fields(request)
    workspace, by = user.workspace_id, user.actor
    page = f"/console/jobs/{job_id}"
    if action in ("cancel", "pause", "resume"):
        method = getattr(service.control, action)
        done: Job = await run_in_threadpool(method, workspace, job_id, by=by)
        return _answer(request, service, done, page)
    if action == "delete":
        await run_in_threadpool(service.control.delete, workspace, job_id, by=by)
        return _answer(request, service, None, "/console/jobs")
    if action == "continue":
        made = await run_in_threadpool(continue_from, service, user, job_id, _step(fields))
        return _answer(request, service, made, f"/console/jobs/{made.id}")
    if action == "export":
        step, merged = _step(fields), fields.get("merged") == "1"
        exported = await run_in_threadpool(
            service.weights.export, workspace, job_id, step=step, merged=merged
        )
        what = "the final model" if step is None else f"the checkpoint at step {step}"
        notice = f"Exported {what} ({exported.format}) to {exported.path} on the server."
        if _wants_json(request):
            return JSONResponse({"path": str(exported.path), "format": exported.format})
        found = await run_in_threadpool(service.jobs.get, workspace, job_id)
        context: dict[str, Any] = await run_in_threadpool(job_page.page_context, service, found)
        return render.render(
            request,
            "job.html",
            notice=notice,
            stream_url=f"/console/jobs/{job_id}/stream",
            **context,
        )
    raise errors.NotFound(f"no action {action}")
