"""The console's Playground: chat with a tuned model (a deployment, or a succeeded job's
final model or checkpoint) and its base model side by side, both replies streamed.

The browser sends one request per side; each is answered by the same engine, through the
same pieces, as the dialects' chat routes (`tuneyard.api.inference`: the first event
awaited before the response starts, so a refusal is an HTTP error; then server-sent
events; a client that leaves cancels its request; a deployment holds one of its slots
while it decodes, `tuneyard.api.slots`).

Routes:
  GET  /console/playground        the page (`deployment`, `job` + `step` preselect a model)
  POST /console/playground/chat   JSON {model, messages, temperature, max_tokens}: an SSE
                                  stream of `event: token` {"text"}, `event: finished`
                                  {"reason"}, `event: done` {"prompt_tokens",
                                  "completion_tokens"}, or `event: error` {"message"}

`model` is `deployment:<name>`, `job:<id>` (its final model), `job:<id>:<step>` (a
checkpoint) or `base:<name>`. Another workspace's deployment or job is not-found.

Element ids (browser tests use them): playground-form, tuned-model (options carry
data-base, the base model they were tuned from), base-model-side, system-prompt, prompt,
temperature, max-tokens, send-button, clear-button, tuned-output, base-output (each turn a
`div.turn`; the streaming reply is `.reply`), tuned-status, base-status, playground-error.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from tuneyard import errors
from tuneyard.api import bodies, slots
from tuneyard.api import errors as api_errors
from tuneyard.api import inference as engine_api
from tuneyard.api.console import deployments, render
from tuneyard.api.console.session import ChangeDep, UserDep
from tuneyard.api.deps import ServiceDep
from tuneyard.core import ids
from tuneyard.core.deployments import Deployment, DeploymentStatus
from tuneyard.core.served import ServedModel
from tuneyard.core.service import Service
from tuneyard.kinds import TaskType
from tuneyard.serving import protocol
from tuneyard.serving.client import Inference

__all__ = ["CHAT", "MAX_MESSAGES", "PLAYGROUND", "frames", "resolve", "router", "sampling"]

PLAYGROUND = "/console/playground"
CHAT = f"{PLAYGROUND}/chat"
MAX_MESSAGES = 64
"""Most messages one request may carry (the conversation so far)."""
_ROLES = frozenset({"system", "user", "assistant"})
_MAX_TOKENS = 4096

router = APIRouter(tags=["console"])


def _choices(service: Service, workspace_id: str) -> dict[str, list[dict[str, str]]]:
    """The models each side can pick: tuned (running deployments, then succeeded jobs'
    models and checkpoints) and base (the catalogue's generation models with weights)."""
    tuned: list[dict[str, str]] = []
    listed = service.deployments.page(workspace_id, offset=0, limit=200).items
    for found in listed:
        if found.status is DeploymentStatus.RUNNING:
            tuned.append(
                {
                    "value": f"deployment:{found.name}",
                    "label": f"deployment {found.name} ({found.model})",
                    "base": found.base_model,
                }
            )
    for job in service.served.tuned_jobs(workspace_id):
        if job.task_type is not TaskType.GENERATION:
            continue
        label = f"{job.display_name} ({job.id})"
        tuned.append(
            {"value": f"job:{job.id}", "label": f"{label}: final model", "base": job.base_model}
        )
        for kept in job.progress.checkpoints:
            tuned.append(
                {
                    "value": f"job:{job.id}:{kept.step}",
                    "label": f"{label}: checkpoint {kept.step}",
                    "base": job.base_model,
                }
            )
    bases = [
        {"value": f"base:{m.name}", "label": m.name, "base": m.name}
        for m in service.served.bases()
        if m.path and TaskType.GENERATION in m.task_types
    ]
    return {"tuned": tuned, "bases": bases}


@router.get(PLAYGROUND, response_class=HTMLResponse, include_in_schema=False)
async def playground_page(
    request: Request,
    service: ServiceDep,
    user: UserDep,
    deployment: str = "",
    job: str = "",
    step: str = "",
) -> HTMLResponse:
    """The page; `deployment`, or `job` (and `step`), preselects the tuned model."""
    choices = await run_in_threadpool(_choices, service, user.workspace_id)
    chosen = f"deployment:{deployment}" if deployment else ""
    if job:
        chosen = f"job:{job}" + (f":{step}" if step else "")
    return render.render(
        request,
        "playground.html",
        chosen=chosen,
        chat_url=CHAT,
        tuned=choices["tuned"],
        bases=choices["bases"],
    )


def resolve(
    service: Service, workspace_id: str, model: str
) -> tuple[Deployment | None, ServedModel]:
    """What runs for a playground model name (see the module docstring): the deployment
    (None unless it is one) and its weights; not-found for another workspace's."""
    kind, _, rest = model.partition(":")
    if kind == "deployment" and rest:
        found = service.deployments.serve(workspace_id, rest)
        if found is None:
            raise errors.DeploymentNotFound(
                f"No deployment {rest} in this workspace.", param="model"
            )
        deployment, served = found
    elif kind == "job" and rest:
        job_id, _, raw_step = rest.partition(":")
        step = int(raw_step) if raw_step.isdigit() else None
        if raw_step and step is None:
            raise errors.InvalidRequest(f"{raw_step!r} is not a checkpoint's step", param="model")
        name = deployments.source_name(job_id, None, step)
        deployment, served = None, service.served.tuned(workspace_id, job_id, step=step, name=name)
    elif kind == "base" and rest:
        deployment, served = None, service.served.base(rest)
    else:
        raise errors.InvalidRequest(
            "model is deployment:<name>, job:<id>[:<step>] or base:<name>", param="model"
        )
    if served.task_type is not TaskType.GENERATION:
        raise errors.InvalidRequest(
            f"{model} is a classification model; it has no replies", param="model"
        )
    return deployment, served


def sampling(body: dict[str, Any]) -> tuple[tuple[dict[str, str], ...], protocol.Sampling]:
    """The messages and decoding settings of a chat request, checked."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES:
        raise errors.InvalidRequest(
            f"messages is a list of 1 to {MAX_MESSAGES} messages", param="messages"
        )
    kept: list[dict[str, str]] = []
    for message in messages:
        if (
            not isinstance(message, dict)
            or message.get("role") not in _ROLES
            or not isinstance(message.get("content"), str)
        ):
            raise errors.InvalidRequest(
                "each message has a role (system, user or assistant) and a text content",
                param="messages",
            )
        kept.append({"role": message["role"], "content": message["content"]})
    if kept[-1]["role"] != "user":
        raise errors.InvalidRequest("the last message is the user's", param="messages")
    temperature = body.get("temperature", 0.7)
    max_tokens = body.get("max_tokens", 256)
    if not isinstance(temperature, int | float) or not 0 <= temperature <= 2:
        raise errors.InvalidRequest("temperature is between 0 and 2", param="temperature")
    if not isinstance(max_tokens, int) or not 1 <= max_tokens <= _MAX_TOKENS:
        raise errors.InvalidRequest(f"max_tokens is 1 to {_MAX_TOKENS}", param="max_tokens")
    return tuple(kept), protocol.Sampling(max_tokens=max_tokens, temperature=float(temperature))


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {orjson.dumps(data).decode()}\n\n"


def frames(
    first: protocol.Event, events: AsyncGenerator[protocol.Event, None]
) -> AsyncGenerator[str, None]:
    """A reply's stream frames (see the module docstring); `inference.relay` closes the
    request when the client leaves."""

    def render_event(event: protocol.Event) -> list[str]:
        if isinstance(event, protocol.Token):
            return [_sse("token", {"text": event.text})]
        if isinstance(event, protocol.Finished):
            return [_sse("finished", {"reason": event.reason})]
        if isinstance(event, protocol.Done):
            usage = {"prompt_tokens": event.prompt_tokens}
            return [_sse("done", {**usage, "completion_tokens": event.completion_tokens})]
        return []

    def failed(exc: errors.TuneyardError) -> str:
        _, code = api_errors.classify(exc)
        return _sse("error", {"code": code.value, "message": exc.message})

    return engine_api.relay(first, events, render_event, failed, name="playground")


async def _answer(engine: Inference, generate: protocol.Generate) -> Response:
    events = engine.generate(generate)
    first = await engine_api.first(events)
    return engine_api.EventStream(frames(first, events))


@router.post(CHAT, include_in_schema=False)
async def chat(
    request: Request, service: ServiceDep, user: ChangeDep, engine: engine_api.InferenceDep
) -> Response:
    """One side's reply, streamed; a refusal before the stream is a JSON error."""
    body = await bodies.json_object(request)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise errors.InvalidRequest("pick a model", param="model")
    messages, decoding = sampling(body)
    deployment, served = await run_in_threadpool(resolve, service, user.workspace_id, model)
    generate = protocol.Generate(
        id=ids.new_request_id(),
        target=engine_api.target(served),
        messages=messages,
        sampling=decoding,
    )
    pool: slots.Slots = request.app.state.deployment_slots
    return await slots.hold(pool, deployment, _answer(engine, generate))
