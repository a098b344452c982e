"""CLOVA's OpenAI-compatible API under `/v1/openai`: `POST /chat/completions` and
`GET /models` — OpenAI's request and response shapes (`openai.chat`), CLOVA's way of
naming a model: a base model by its catalogue name, a tuned task by its task id.

CLOVA's guide says only that the model is "the model name provided by CLOVA Studio"; a
tuned task answers to its id here (docs/serving-dialects.md). Errors are OpenAI's
envelope, which the SDK this API is for reads (`routes.render_error`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from tuneyard import errors
from tuneyard.api import inference as engine_api
from tuneyard.api import respond
from tuneyard.api.deps import ServiceDep
from tuneyard.api.dialects.clova import routes
from tuneyard.api.dialects.openai import chat as openai_chat
from tuneyard.api.dialects.openai import chat_routes as openai_chat_routes
from tuneyard.api.dialects.openai import chat_wire as openai_wire
from tuneyard.api.dialects.openai import translate as openai_translate
from tuneyard.core import ids
from tuneyard.core.credentials import Caller
from tuneyard.core.served import ServedModel
from tuneyard.core.service import Service
from tuneyard.kinds import TaskType

__all__ = ["PREFIX", "router", "served"]

PREFIX = routes.OPENAI_COMPAT

router = APIRouter(prefix=PREFIX, tags=["clova"])


def served(service: Service, caller: Caller, name: str) -> ServedModel:
    """What to run for a `model` field: a base model, or the caller's succeeded task of
    that id (ServedModelNotFound for another workspace's task)."""
    if service.served.base_model(name) is not None:
        return service.served.base(name)
    return service.served.tuned(caller.workspace_id, name, name=name)


def _listing(service: Service, caller: Caller) -> dict[str, Any]:
    owner = caller.workspace_id
    bases = [
        openai_translate.model_object(m.name, created=None, owned_by=openai_translate.BASE_OWNER)
        for m in service.served.bases()
    ]
    tuned = [
        openai_translate.model_object(job.id, created=job.finished_at, owned_by=owner)
        for job in service.served.tuned_jobs(owner)
    ]
    return {"object": "list", "data": bases + tuned}


@router.post("/chat/completions")
async def chat_completions(
    request: Request,
    service: ServiceDep,
    caller: routes.CallerDep,
    engine: engine_api.InferenceDep,
) -> Response:
    """OpenAI's chat completion (or its chunks, with `stream: true`) from a base model or
    a tuned task named by its id."""
    parsed = openai_wire.parse(await openai_chat_routes.json_body(request))
    openai_chat.check(parsed)
    model = await run_in_threadpool(served, service, caller, parsed.model)
    if model.task_type is not TaskType.GENERATION:
        raise errors.InvalidRequest(
            f"The model `{parsed.model}` is a classification task; ask it at "
            f"POST /v3/tasks/{parsed.model}/chat-completions, which answers with its label.",
            param="model",
        )
    request_id = ids.new_request_id()
    return await openai_chat_routes.answer(
        parsed,
        model,
        engine,
        request_id=request_id,
        created=openai_translate.unix(service.ports.clock.now()) or 0,
        headers={
            "x-request-id": "req_" + request_id,
            routes.REQUEST_ID: request.headers.get(routes.REQUEST_ID),
        },
    )


@router.get("/models")
async def list_models(request: Request, service: ServiceDep, caller: routes.CallerDep) -> Response:
    """The base models and the workspace's tuned tasks (by id, newest first)."""
    listing = await run_in_threadpool(_listing, service, caller)
    return respond.json(
        listing, headers={routes.REQUEST_ID: request.headers.get(routes.REQUEST_ID)}
    )
