"""DashScope text generation, `POST /api/v1/services/aigc/text-generation/generation`,
and the OpenAI-compatible `POST /compatible-mode/v1/chat/completions` over the same
models — thin: parse, find the model, hold a slot, ask the engine, render.

`model` is a RUNNING deployment of the caller's workspace (`deployed_model`) or a base
model; anything else (a tuned model not deployed, another workspace's deployment) is
DashScope's ModelNotFound. A deployment's requests past its `capacity` are Throttling
(429) (`tuneyard.api.slots`). The reply's first event is awaited before anything is sent,
so a refused request is an HTTP error. Streaming (the `X-DashScope-SSE: enable` header,
or `parameters.stream`) sends `id:/event:result/:HTTP_STATUS/200/data:` frames, as the
SDK parses them; an error after the stream began is an `event:error` frame with
`status:` and ends it. A client that goes away cancels its request.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncGenerator, Coroutine
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from tuneyard import errors
from tuneyard.api import inference as engine_api
from tuneyard.api import respond, slots
from tuneyard.api.deps import ServiceDep
from tuneyard.api.dialects.dashscope import generation, generation_wire, routes, translate
from tuneyard.api.dialects.openai import chat, chat_routes, chat_wire
from tuneyard.api.errors import classify
from tuneyard.core import ids
from tuneyard.core.credentials import Caller
from tuneyard.core.deployments import Deployment
from tuneyard.core.served import ServedModel
from tuneyard.core.service import Service
from tuneyard.serving import protocol
from tuneyard.serving.client import Inference

__all__ = ["COMPATIBLE_PREFIX", "SSE_HEADER", "compatible", "router", "served"]

COMPATIBLE_PREFIX = "/compatible-mode/v1"
"""Where DashScope's OpenAI-compatible API lives (errors there are OpenAI's envelope)."""
SSE_HEADER = "x-dashscope-sse"
"""`enable` asks for server-sent events (the SDK sends it when streaming)."""

router = APIRouter(prefix=routes.PREFIX, tags=["dashscope"])
compatible = APIRouter(prefix=COMPATIBLE_PREFIX, tags=["dashscope"])


def served(service: Service, caller: Caller, name: str) -> tuple[Deployment | None, ServedModel]:
    """What runs for `model`: the workspace's deployment of that name, or a base model."""
    return service.deployments.generator(
        caller.workspace_id,
        name,
        missing=f"Model not found ({name})! Call a base model or a deployed model of this "
        "workspace (POST /api/v1/deployments).",
    )


async def _held(
    request: Request, deployment: Deployment | None, answer: Coroutine[Any, Any, Response]
) -> Response:
    """`slots.hold` on this app's deployment slots."""
    return await slots.hold(request.app.state.deployment_slots, deployment, answer)


# -- DashScope's own --------------------------------------------------------------------
def _frame(seq: int, body: object, *, status: int = 200) -> str:
    event = "result" if status == 200 else "error"
    extra = "" if status == 200 else f"status:{status}\n"
    data = orjson.dumps(body).decode()
    return f"id:{seq}\nevent:{event}\n:HTTP_STATUS/{status}\n{extra}data:{data}\n\n"


def _frames(
    reply: generation.Reply,
    first: protocol.Event,
    events: AsyncGenerator[protocol.Event, None],
) -> AsyncGenerator[str, None]:
    """The stream's frames, numbered from 1; an error after the stream began is an
    `event:error` frame, then the end (see `inference.relay`)."""
    seq = itertools.count(1)

    def render(event: protocol.Event) -> list[str]:
        return [_frame(next(seq), body) for body in reply.events(event)]

    def failed(exc: errors.TuneyardError) -> str:
        _, code = classify(exc)
        http_status, body = translate.error_body(code, exc.message, reply.request_id)
        return _frame(next(seq), body, status=http_status)

    return engine_api.relay(first, events, render, failed, name="generation")


async def _generate(
    parsed: generation_wire.GenerationRequest,
    model: ServedModel,
    engine: Inference,
    *,
    stream: bool,
) -> Response:
    request_id = ids.new_request_id()
    work = generation.to_generate(parsed, request_id=request_id, target=engine_api.target(model))
    reply = generation.Reply(parsed, request_id=request_id)
    events = engine.generate(work)
    first = await engine_api.first(events)
    headers = {routes.REQUEST_ID: request_id}
    if not stream:
        await engine_api.collect(first, events, reply.add)
        return respond.json(reply.body(), headers=headers)
    response = engine_api.EventStream(_frames(reply, first, events))
    response.headers.update(headers)
    return response


@router.post("/services/aigc/text-generation/generation")
async def text_generation(
    request: Request,
    service: ServiceDep,
    caller: routes.CallerDep,
    engine: engine_api.InferenceDep,
) -> Response:
    """Generate from a deployed model or a base model: `input.messages` (or
    `input.prompt`) and `parameters`; server-sent events with `X-DashScope-SSE: enable`
    or `parameters.stream`."""
    parsed = generation_wire.parse(await chat_routes.json_body(request))
    deployment, model = await run_in_threadpool(served, service, caller, parsed.model)
    stream = request.headers.get(SSE_HEADER, "").lower() == "enable" or bool(
        parsed.parameters.stream
    )
    return await _held(request, deployment, _generate(parsed, model, engine, stream=stream))


# -- OpenAI-compatible ------------------------------------------------------------------
async def _chat(
    parsed: chat_wire.ChatRequest, model: ServedModel, engine: Inference, created: int
) -> Response:
    request_id = ids.new_request_id()
    return await chat_routes.answer(
        parsed,
        model,
        engine,
        request_id=request_id,
        created=created,
        headers={routes.REQUEST_ID: request_id},
    )


@compatible.post("/chat/completions")
async def compatible_chat(
    request: Request,
    service: ServiceDep,
    caller: routes.CallerDep,
    engine: engine_api.InferenceDep,
) -> Response:
    """OpenAI's chat completions (OpenAI's request, response, chunks and errors) over
    the same deployments and base models."""
    parsed = chat_wire.parse(await chat_routes.json_body(request))
    chat.check(parsed)
    deployment, model = await run_in_threadpool(served, service, caller, parsed.model)
    created = int(service.ports.clock.now().timestamp())
    return await _held(request, deployment, _chat(parsed, model, engine, created))
