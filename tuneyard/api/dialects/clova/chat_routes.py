"""CLOVA chat completions on a tuned task — thin: parse, find the task's model, ask the
engine, render (`chat` maps both ways).

v1 shape: `POST /testapp/v1/tasks/{taskId}/chat-completions`, its `/serviceapp/v1/…`
twin, and `/v1/…`, `/v2/…` (the current guide's paths, where the key says which app);
v3 shape: `POST /v3/tasks/{taskId}/chat-completions` and its `/testapp/v3/…`,
`/serviceapp/v3/…` twins. The task is one of the key's workspace's succeeded tasks;
another workspace's task, an unknown one and a deleted model answer 404 `40400`, a task
that has not succeeded 404 `40400` saying so.

The reply's first event is awaited before anything is sent, so a refused request is an
HTTP error in CLOVA's envelope. With `Accept: text/event-stream` the reply is
server-sent events: `token` events, then `result` (and, in v1, `signal` `[DONE]`); an
error after the stream began is an `error` event with CLOVA's `status` and ends it. A
client that goes away mid-stream cancels its request. A CLASSIFICATION task answers
with its label (of the last user message) as the message content.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from tuneyard import errors
from tuneyard.api import bodies, respond
from tuneyard.api import errors as api_errors
from tuneyard.api import inference as engine_api
from tuneyard.api.deps import ServiceDep
from tuneyard.api.dialects.clova import chat, chat_wire, routes, translate
from tuneyard.core import ids
from tuneyard.core.served import ServedModel
from tuneyard.core.service import Service
from tuneyard.kinds import TaskType
from tuneyard.serving import protocol
from tuneyard.serving.client import Inference

__all__ = ["PREFIXES", "V1_PATHS", "V3_PATHS", "router"]

V1_PATHS = (
    "/testapp/v1/tasks/{task_id}/chat-completions",
    "/serviceapp/v1/tasks/{task_id}/chat-completions",
    "/v1/tasks/{task_id}/chat-completions",
    "/v2/tasks/{task_id}/chat-completions",
)
"""Where CLOVA's clients call a tuned task in the v1 shape."""
V3_PATHS = (
    "/v3/tasks/{task_id}/chat-completions",
    "/testapp/v3/tasks/{task_id}/chat-completions",
    "/serviceapp/v3/tasks/{task_id}/chat-completions",
)
"""Where they call it in the v3 shape."""
PREFIXES = ("/testapp/", "/serviceapp/", "/v1/tasks/", "/v2/tasks/", "/v3/tasks/")
"""The path prefixes these routes hold (errors under them are CLOVA's)."""

router = APIRouter(tags=["clova"])


def _model(service: Service, workspace: str, task_id: str) -> ServedModel:
    """The succeeded task's model (the errors of `Served.tuned`)."""
    return service.served.tuned(workspace, task_id, name=task_id)


def _stream(
    reply: chat.Reply,
    sse_id: str,
    first: protocol.Event,
    events: AsyncGenerator[protocol.Event, None],
) -> AsyncGenerator[str, None]:
    """The stream's frames: a `token` event per piece of text, then `result` (and v1's
    `signal`); an error after the stream began is an `error` event, then the end (see
    `inference.relay`)."""

    def render(event: protocol.Event) -> list[str]:
        data = reply.token(event)
        return [] if data is None else [chat.frame(sse_id, "token", data)]

    def failed(exc: errors.TuneyardError) -> str:
        _, code = api_errors.classify(exc)
        return chat.frame(sse_id, "error", {"status": translate.error_status(code, exc.message)})

    return engine_api.relay(
        first, events, render, failed, ending=lambda: _ending(reply, sse_id), name="CLOVA chat"
    )


def _ending(reply: chat.Reply, sse_id: str) -> list[str]:
    """The `result` event (and v1's closing `signal`)."""
    frames = [chat.frame(sse_id, "result", reply.result())]
    if reply.version == "v1":
        frames.append(chat.frame(sse_id, "signal", chat.DONE))
    return frames


async def _labelled(reply: chat.Reply, sse_id: str, label: str) -> AsyncIterator[str]:
    """A classification task's stream: its label as the one token, then the result."""
    yield chat.frame(sse_id, "token", reply.label(label))
    for text in _ending(reply, sse_id):
        yield text


async def _answer(
    version: chat.Version,
    task_id: str,
    request: Request,
    service: ServiceDep,
    caller: routes.CallerDep,
    engine: Inference,
) -> Response:
    parsed = chat_wire.parse(await bodies.json_object(request))
    chat.check(parsed)
    model = await run_in_threadpool(_model, service, caller.workspace_id, task_id)
    created_ms = int(service.ports.clock.now().timestamp() * 1000)
    reply = chat.Reply(parsed, version, seed=chat.seed_of(parsed), created_ms=created_ms)
    request_id = ids.new_request_id()
    sent_id = request.headers.get(routes.REQUEST_ID)
    sse_id = sent_id or request_id
    headers = {routes.REQUEST_ID: sent_id}
    streaming = "text/event-stream" in request.headers.get("accept", "").lower()
    target = engine_api.target(model)
    if model.task_type is TaskType.CLASSIFICATION:
        label = await _label(engine, request_id, target, chat.last_user_text(parsed))
        if streaming:
            return _event_stream(_labelled(reply, sse_id, label), headers)
        reply.label(label)
        return _ok(reply.result(), headers)
    generate = chat.to_generate(
        parsed, version, request_id=request_id, target=target, seed=reply.seed
    )
    events = engine.generate(generate)
    first = await engine_api.first(events)
    if streaming:
        return _event_stream(_stream(reply, sse_id, first, events), headers)
    await engine_api.collect(first, events, reply.add)
    return _ok(reply.result(), headers)


async def _label(engine: Inference, request_id: str, target: protocol.Target, text: str) -> str:
    """The classification task's label for `text`."""
    answer = await engine.classify(protocol.Classify(id=request_id, target=target, inputs=(text,)))
    return answer.results[0][0] if answer.results else ""


def _ok(result: dict[str, Any], headers: dict[str, str | None]) -> Response:
    return respond.json({"status": routes.OK, "result": result}, headers=headers)


def _event_stream(
    frames: AsyncGenerator[str, None] | AsyncIterator[str], headers: dict[str, str | None]
) -> Response:
    stream = engine_api.EventStream(frames)
    stream.headers.update({k: v for k, v in headers.items() if v})
    return stream


async def chat_v1(
    task_id: str,
    request: Request,
    service: ServiceDep,
    caller: routes.CallerDep,
    engine: engine_api.InferenceDep,
) -> Response:
    """A chat completion from a tuned task, in the v1 shape (`inputLength`,
    `outputLength`, `stopReason`, `seed`)."""
    return await _answer("v1", task_id, request, service, caller, engine)


async def chat_v3(
    task_id: str,
    request: Request,
    service: ServiceDep,
    caller: routes.CallerDep,
    engine: engine_api.InferenceDep,
) -> Response:
    """A chat completion from a tuned task, in the v3 shape (`usage`, `finishReason`,
    `created`, `seed`)."""
    return await _answer("v3", task_id, request, service, caller, engine)


for _path in V1_PATHS:
    router.add_api_route(_path, chat_v1, methods=["POST"])
for _path in V3_PATHS:
    router.add_api_route(_path, chat_v3, methods=["POST"])
