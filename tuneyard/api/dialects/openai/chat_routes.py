"""OpenAI's `POST /v1/chat/completions` — thin: parse, find the model, ask the engine,
render (`chat` maps both ways).

The reply's first event is awaited before anything is sent, so a refused request (prompt
past the context, queue full, model gone) is an HTTP error in OpenAI's envelope. A stream
is server-sent events, `data: {chunk}` then `data: [DONE]`; an error after the stream
began is sent as `data: {"error": …}` and ends it. A client that goes away mid-stream
cancels its request.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from tuneyard import errors
from tuneyard.api import bodies, params, respond
from tuneyard.api import errors as api_errors
from tuneyard.api import inference as engine_api
from tuneyard.api.deps import ServiceDep
from tuneyard.api.dialects.openai import chat, chat_wire, models_routes, routes, translate
from tuneyard.core import ids
from tuneyard.core.served import ServedModel
from tuneyard.kinds import TaskType
from tuneyard.serving import protocol
from tuneyard.serving.client import Inference

__all__ = ["answer", "frames", "json_body", "router"]

router = APIRouter(prefix=routes.PREFIX, tags=["openai"])


async def json_body(request: Request) -> dict[str, Any]:
    """The JSON object; a `NaN` or `Infinity` (what Python's json writes for such floats)
    is refused naming its field, not as unreadable JSON."""
    try:
        return await bodies.json_object(request)
    except errors.MalformedBody:
        try:
            loose = json.loads(await request.body(), parse_constant=float)
        except ValueError:
            loose = None
        if isinstance(loose, dict):
            params.check_tree(loose)
        raise


def _sse(data: Any) -> str:
    return f"data: {orjson.dumps(data).decode()}\n\n"


def frames(
    reply: chat.Reply,
    first: protocol.Event,
    events: AsyncGenerator[protocol.Event, None],
) -> AsyncGenerator[str, None]:
    """The stream's frames: `data: {chunk}` each, then `data: [DONE]`; an error after the
    stream began is `data: {"error": …}` and ends it (see `inference.relay`)."""

    def render(event: protocol.Event) -> list[str]:
        return [_sse(chunk) for chunk in reply.chunks(event)]

    def failed(exc: errors.TuneyardError) -> str:
        _, code = api_errors.classify(exc)
        return _sse(translate.error_body(code, exc.message, exc.param)[1])

    return engine_api.relay(
        first, events, render, failed, ending=lambda: ["data: [DONE]\n\n"], name="chat"
    )


@router.post("/chat/completions")
async def chat_completions(
    request: Request,
    service: ServiceDep,
    caller: routes.CallerDep,
    engine: engine_api.InferenceDep,
) -> Response:
    """A chat completion from a base model, a fine-tuned model or a checkpoint; with
    `stream: true`, as server-sent ChatCompletionChunk events."""
    parsed = chat_wire.parse(await json_body(request))
    chat.check(parsed)
    model = await run_in_threadpool(models_routes.served, service, caller, parsed.model)
    if model.task_type is not TaskType.GENERATION:
        raise errors.InvalidRequest(
            f"The model `{parsed.model}` is a classification model; label texts with it at "
            f"POST /tuneyard/v1/models/{{model}}/classify.",
            param="model",
        )
    request_id = ids.new_request_id()
    return await answer(
        parsed,
        model,
        engine,
        request_id=request_id,
        created=translate.unix(service.ports.clock.now()) or 0,
        headers={routes.REQUEST_ID: "req_" + request_id},
    )


async def answer(
    parsed: chat_wire.ChatRequest,
    model: ServedModel,
    engine: Inference,
    *,
    request_id: str,
    created: int,
    headers: Mapping[str, str | None],
) -> Response:
    """A checked chat request answered by `model` as OpenAI does: a ChatCompletion, or
    with `stream: true` server-sent chunks (shared by the vendors' OpenAI-compatible
    routes, which only find the model their own way)."""
    generate = chat.to_generate(parsed, request_id=request_id, target=engine_api.target(model))
    reply = chat.Reply(parsed, id=chat.completion_id(request_id), created=created)
    events = engine.generate(generate)
    first = await engine_api.first(events)
    if not parsed.stream:
        await engine_api.collect(first, events, reply.add)
        return respond.json(reply.completion(), headers=headers)
    stream = engine_api.EventStream(frames(reply, first, events))
    stream.headers.update({k: v for k, v in headers.items() if v})
    return stream
