"""OpenAI's models API under `/v1/models`: list, retrieve, delete — and `served`, the one
reading of a `model` field that the chat route shares.

A model is a base model of the catalogue (owned by "tuneyard"), a job's
`fine_tuned_model` (`ft:…`, owned by its workspace) or one of its checkpoints'
`fine_tuned_model_checkpoint` (`ft:…:ckpt-step-N`). A key sees only its workspace's tuned
models; deleting one keeps its job.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from tuneyard import errors
from tuneyard.api import respond
from tuneyard.api.deps import ServiceDep
from tuneyard.api.dialects.openai import names, routes, translate
from tuneyard.core import ids
from tuneyard.core.credentials import Caller
from tuneyard.core.served import ServedModel
from tuneyard.core.service import Service

__all__ = ["router", "served"]

router = APIRouter(prefix=routes.PREFIX, tags=["openai"])


def _json(body: Any) -> Response:
    return respond.json(body, headers={routes.REQUEST_ID: "req_" + ids.new_request_id()})


def _not_found(name: str) -> errors.ServedModelNotFound:
    return errors.ServedModelNotFound(
        f"The model `{name}` does not exist or you do not have access to it.", param="model"
    )


def _tuned(service: Service, caller: Caller, name: str) -> tuple[str, int | None]:
    """(job id, checkpoint step) of an `ft:` name the caller's workspace published;
    ServedModelNotFound for any other name."""
    if not name.startswith("ft:"):
        raise _not_found(name)
    job_name, step = names.split_checkpoint_model(name)
    try:
        job = service.jobs.get(caller.workspace_id, job_name.rsplit(":", 1)[-1])
    except errors.JobNotFound:
        raise _not_found(name) from None
    if translate.model_name(job, caller.workspace_id) != job_name:
        raise _not_found(name)
    return job.id, step


def served(service: Service, caller: Caller, name: str) -> ServedModel:
    """What to run for a `model` field: a base model, a tuned model or a checkpoint."""
    if service.served.base_model(name) is not None:
        return service.served.base(name)
    job_id, step = _tuned(service, caller, name)
    return service.served.tuned(caller.workspace_id, job_id, step=step, name=name)


def _model(service: Service, caller: Caller, name: str) -> dict[str, Any]:
    if service.served.base_model(name) is not None:
        return translate.model_object(name, created=None, owned_by=translate.BASE_OWNER)
    job_id, step = _tuned(service, caller, name)
    job = service.served.job(caller.workspace_id, job_id, name=name)
    created = job.finished_at
    if step is not None:
        kept = next((c for c in job.progress.checkpoints if c.step == step), None)
        if kept is None:
            raise _not_found(name)
        created = kept.created_at or created
    return translate.model_object(name, created=created, owned_by=caller.workspace_id)


def _listing(service: Service, caller: Caller) -> dict[str, Any]:
    owner = caller.workspace_id
    bases = [
        translate.model_object(m.name, created=None, owned_by=translate.BASE_OWNER)
        for m in service.served.bases()
    ]
    tuned = [
        translate.model_object(
            translate.model_name(job, owner), created=job.finished_at, owned_by=owner
        )
        for job in service.served.tuned_jobs(owner)
    ]
    return {"object": "list", "data": bases + tuned}


def _delete(service: Service, caller: Caller, name: str) -> dict[str, Any]:
    if service.served.base_model(name) is not None:
        raise errors.Forbidden(
            f"The model `{name}` is a base model; only fine-tuned models can be deleted.",
            param="model",
        )
    job_id, step = _tuned(service, caller, name)
    if step is not None:
        raise errors.InvalidRequest(
            f"The model `{name}` is a checkpoint; delete its fine-tuned model instead.",
            param="model",
        )
    service.served.delete(caller.workspace_id, job_id, name=name)
    return {"id": name, "object": "model", "deleted": True}


@router.get("/models")
async def list_models(service: ServiceDep, caller: routes.CallerDep) -> Response:
    """The base models and the workspace's fine-tuned models (newest first)."""
    return _json(await run_in_threadpool(_listing, service, caller))


@router.get("/models/{model:path}")
async def retrieve_model(model: str, service: ServiceDep, caller: routes.CallerDep) -> Response:
    """One Model: a base model, a fine-tuned model or a checkpoint of one."""
    return _json(await run_in_threadpool(_model, service, caller, model))


@router.delete("/models/{model:path}")
async def delete_model(model: str, service: ServiceDep, caller: routes.CallerDep) -> Response:
    """Delete a fine-tuned model: it can no longer be used or listed; its job stays."""
    return _json(await run_in_threadpool(_delete, service, caller, model))
