"""The console's Deployments page: the workspace's deployments (status, what each serves,
its reserved decoding slots), deploying a succeeded job's model or one of its checkpoints,
and taking a deployment down; all through `service.deployments`, as the dialects do.

Routes:
  GET    /console/deployments                  the list and the deploy form (`job`, `step`
                                               prefill the form: the job page's Deploy)
  POST   /console/deployments                  deploy: `job_id`, optional `step`, `name`,
                                               `capacity` (a form: CSRF field, then back to
                                               the list; JSON: X-CSRF-Token, JSON answer)
  POST   /console/deployments/{name}/delete    take it down (a form), back to the list
  DELETE /console/deployments/{name}           take it down (a script), JSON answer

Another workspace's job or deployment is not-found.

Element ids (browser tests use them): deployments-table (rows `tr.deployment-row` with
data-name and data-status), deployments-empty, deployment-notice, deployment-error,
deploy-form, deploy-source (options `job_id` or `job_id:step`), deploy-name,
deploy-capacity, deploy-button, slots-summary; each row's `button.deployment-delete`
(a confirmation first) and `a.deployment-try` (the playground).
"""

from __future__ import annotations

from typing import Any
from urllib import parse

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from tuneyard import errors
from tuneyard.api import bodies, params
from tuneyard.api import errors as api_errors
from tuneyard.api.console import newjob, render
from tuneyard.api.console.session import ChangeDep, UserDep
from tuneyard.api.deps import ServiceDep
from tuneyard.core.deployment_admin import Source
from tuneyard.core.deployments import Deployment
from tuneyard.core.service import Service

__all__ = ["DEPLOYMENTS", "deploy", "router", "source_name"]

DEPLOYMENTS = "/console/deployments"
_LISTED = 200
"""Deployments shown (a workspace has few: each reserves decoding slots)."""

router = APIRouter(tags=["console"])


def source_name(job_id: str, output_name: str | None, step: int | None) -> str:
    """How the console names a job's model: its published name (else its id), and the
    checkpoint's step."""
    base = output_name or job_id
    return base if step is None else f"{base}:ckpt-step-{step}"


def _default_name(job_id: str, step: int | None) -> str:
    return job_id if step is None else f"{job_id}-step-{step}"


def _row(found: Deployment) -> dict[str, Any]:
    return {
        "id": found.id,
        "name": found.name,
        "model": found.model,
        "base_model": found.base_model,
        "job_id": found.job_id,
        "step": found.step,
        "adapter": found.adapter,
        "capacity": found.capacity,
        "slots": found.slots,
        "status": found.status.value,
        "error": found.error,
        "dialect": found.dialect,
        "created_at": found.created_at.strftime("%Y-%m-%d %H:%M UTC"),
        "created_iso": found.created_at.isoformat(),
    }


def _sources(service: Service, workspace_id: str) -> list[dict[str, Any]]:
    """What can be deployed: each succeeded job's final model, then its checkpoints."""
    found: list[dict[str, Any]] = []
    for job in service.served.tuned_jobs(workspace_id):
        label = f"{job.display_name} ({job.id}, {job.base_model}, {job.method.value})"
        found.append({"value": job.id, "label": f"{label}: final model"})
        for kept in job.progress.checkpoints:
            found.append(
                {"value": f"{job.id}:{kept.step}", "label": f"{label}: checkpoint {kept.step}"}
            )
    return found


def _listing(service: Service, workspace_id: str) -> dict[str, Any]:
    page = service.deployments.page(workspace_id, offset=0, limit=_LISTED)
    total = service.deployments.total_slots
    return {
        "deployments": [_row(d) for d in page.items],
        "sources": _sources(service, workspace_id),
        "total_slots": total,
        "reserved": service.ports.deployments.reserved(),
    }


def _page(
    request: Request,
    listing: dict[str, Any],
    *,
    status_code: int = 200,
    error: str | None = None,
    **context: Any,
) -> HTMLResponse:
    return render.render(
        request, "deployments.html", status_code=status_code, error=error, **listing, **context
    )


@router.get(DEPLOYMENTS, response_class=HTMLResponse, include_in_schema=False)
async def deployments_page(
    request: Request,
    service: ServiceDep,
    user: UserDep,
    job: str = "",
    step: str = "",
    created: str = "",
    deleted: str = "",
) -> HTMLResponse:
    """The deployments and the deploy form (`job`/`step` choose what it deploys)."""
    listing = await run_in_threadpool(_listing, service, user.workspace_id)
    chosen = params.ident(job, "job") + (f":{params.ident(step, 'step')}" if job and step else "")
    return _page(
        request,
        listing,
        chosen=chosen,
        created=params.ident(created, "created"),
        deleted=params.ident(deleted, "deleted"),
    )


def _step(raw: Any) -> int | None:
    if raw in (None, ""):
        return None
    try:
        step = int(str(raw))
    except ValueError:
        step = 0
    if step < 1:
        raise errors.InvalidRequest(
            "step must be a checkpoint's step (a whole number)", param="step"
        )
    return step


def deploy(service: Service, workspace_id: str, actor: str, fields: dict[str, Any]) -> Deployment:
    """Deploy a job's final model (no `step`) or its checkpoint at `step` as `name` (by
    default the job's id, and the step) with `capacity` slots (default 1); `job_id` may
    also be `job_id:step` (the form's choice)."""
    raw = str(fields.get("job_id") or "").strip()
    if not raw:
        raise errors.InvalidRequest("choose a job's model to deploy", param="job_id")
    job_id, _, packed = raw.partition(":")
    step = _step(fields.get("step") or packed)
    capacity = params.whole(
        str(fields.get("capacity") or ""), "capacity", default=1, low=1, high=params.MAX_INT
    )
    name = str(fields.get("name") or "").strip() or _default_name(job_id, step)
    label = source_name(job_id, None, step)
    job = service.served.job(workspace_id, job_id, name=label)  # not-found across workspaces
    source = Source(source_name(job.id, job.output_name, step), job, step)
    return service.deployments.create(
        workspace_id,
        name=name,
        source=source,
        capacity=capacity,
        dialect=newjob.DIALECT,
        created_by=actor,
    )


def _wants_json(request: Request) -> bool:
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return kind == "application/json"


@router.post(DEPLOYMENTS, include_in_schema=False)
async def create_deployment(request: Request, service: ServiceDep, user: ChangeDep) -> Response:
    """Deploy; a form comes back to the list (with the refusal shown on the page), a
    script gets the deployment or the refusal as JSON."""
    as_json = _wants_json(request)
    fields: dict[str, Any] = {}
    try:
        if as_json:
            fields = await bodies.json_object(request)
        else:
            form = await request.form()
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
        made = await run_in_threadpool(deploy, service, user.workspace_id, user.actor, fields)
    except errors.TuneyardError as exc:
        if as_json:
            return newjob.error_answer(exc)
        status, _ = api_errors.classify(exc)
        listing = await run_in_threadpool(_listing, service, user.workspace_id)
        chosen = str(fields.get("job_id") or "")
        return _page(request, listing, status_code=status, error=exc.message, chosen=chosen)
    if as_json:
        return JSONResponse(_row(made), status_code=201)
    return RedirectResponse(f"{DEPLOYMENTS}?created={parse.quote(made.name)}", status_code=303)


@router.post(DEPLOYMENTS + "/{name}/delete", include_in_schema=False)
async def delete_from_form(name: str, service: ServiceDep, user: ChangeDep) -> Response:
    """Take the deployment down, then show the list again."""
    await run_in_threadpool(service.deployments.delete, user.workspace_id, name)
    return RedirectResponse(f"{DEPLOYMENTS}?deleted={parse.quote(name)}", status_code=303)


@router.delete(DEPLOYMENTS + "/{name}", include_in_schema=False)
async def delete_deployment(name: str, service: ServiceDep, user: ChangeDep) -> JSONResponse:
    """Take the deployment down (a script's request): it answers as DELETING."""
    gone = await run_in_threadpool(service.deployments.delete, user.workspace_id, name)
    return JSONResponse(_row(gone))
