"""OpenAI's `POST /v1/chat/completions` — thin: parse, find the model, ask the engine,
render (`chat` maps both ways).

The reply's first event is awaited before anything is sent, so a refused request (prompt
past the context, queue full, model gone) is an HTTP error in OpenAI's envelope. A stream
is server-sent events, `data: {chunk}` then `data: [DONE]`; an error after the stream
began is sent as `data: {"error": …}` and ends it. A client that goes away mid-stream
cancels its request.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncGenerator
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
from tuneyard.kinds import TaskType
from tuneyard.serving import protocol

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(prefix=routes.PREFIX, tags=["openai"])


async def _body(request: Request) -> dict[str, Any]:
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


async def _frames(
    reply: chat.Reply,
    first: protocol.Event,
    events: AsyncGenerator[protocol.Event, None],
) -> AsyncGenerator[str, None]:
    """The stream's frames; closing it (the client left) closes `events`, which cancels
    the request."""
    async with contextlib.aclosing(events):
        try:
            for chunk in reply.chunks(first):
                yield _sse(chunk)
            async for event in events:
                for chunk in reply.chunks(event):
                    yield _sse(chunk)
        except errors.TuneyardError as exc:
            status, code = api_errors.classify(exc)
            if status >= 500:
                log.error("chat stream failed: %s", exc)
            yield _sse(translate.error_body(code, exc.message, exc.param)[1])
            return
    yield "data: [DONE]\n\n"


@router.post("/chat/completions")
async def chat_completions(
    request: Request,
    service: ServiceDep,
    caller: routes.CallerDep,
    engine: engine_api.InferenceDep,
) -> Response:
    """A chat completion from a base model, a fine-tuned model or a checkpoint; with
    `stream: true`, as server-sent ChatCompletionChunk events."""
    parsed = chat_wire.parse(await _body(request))
    chat.check(parsed)
    model = await run_in_threadpool(models_routes.served, service, caller, parsed.model)
    if model.task_type is not TaskType.GENERATION:
        raise errors.InvalidRequest(
            f"The model `{parsed.model}` is a classification model; label texts with it at "
            f"POST /tuneyard/v1/models/{{model}}/classify.",
            param="model",
        )
    request_id = ids.new_request_id()
    generate = chat.to_generate(parsed, request_id=request_id, target=engine_api.target(model))
    reply = chat.Reply(
        parsed,
        id=chat.completion_id(request_id),
        created=translate.unix(service.ports.clock.now()) or 0,
    )
    events = engine.generate(generate)
    first = await engine_api.first(events)
    headers = {routes.REQUEST_ID: "req_" + request_id}
    if not parsed.stream:
        async with contextlib.aclosing(events):
            reply.add(first)
            async for event in events:
                reply.add(event)
        return respond.json(reply.completion(), headers=headers)
    stream = engine_api.EventStream(_frames(reply, first, events))
    stream.headers.update(headers)
    return stream
