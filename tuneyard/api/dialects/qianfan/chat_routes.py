"""Qianfan chat on a service: the endpoint the SDK calls for a custom service
(`ChatCompletion(endpoint=…)`: `POST /rpc/2.0/ai_custom/v1/wenxinworkshop/chat/{urlSuffix}`,
signed with bce-auth-v1) and the OpenAI-compatible `POST /v2/chat/completions` with
`model` = the service's URL suffix (a bearer key, or bce-auth-v1). Thin: parse, find the
service, ask the engine, render.

The reply's first event is awaited before anything is sent, so a refused request is an
error in the vendor's envelope. v1 streams `data: {chunk}` lines, the last with
`is_end: true` (no `[DONE]`), as the SDK reads them; v2 streams OpenAI's chunks and
`data: [DONE]`. A service holds one of its decoding slots per request until its reply has
been sent; another workspace's service, or one that does not exist, is not-found.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from tuneyard import errors
from tuneyard.api import bodies, offload, params, respond, slots
from tuneyard.api import errors as api_errors
from tuneyard.api import inference as engine_api
from tuneyard.api.deps import ServiceDep, bearer_caller
from tuneyard.api.dialects.openai import chat as openai_chat
from tuneyard.api.dialects.openai import chat_routes as openai_routes
from tuneyard.api.dialects.qianfan import chat, chat_errors, chat_wire, console, iam, signature
from tuneyard.api.dialects.qianfan.serving_translate import CHAT_PATH
from tuneyard.core import ids
from tuneyard.core.credentials import Caller
from tuneyard.core.deployments import Deployment
from tuneyard.core.served import ServedModel
from tuneyard.core.service import Service
from tuneyard.serving import protocol
from tuneyard.serving.client import Inference

__all__ = ["REQUEST_ID", "V1_PREFIX", "V2_PATH", "bearer_token", "router"]

V1_PREFIX = CHAT_PATH.rstrip("/")
V2_PATH = "/v2/chat/completions"
REQUEST_ID = "x-baidu-request-id"

router = APIRouter(tags=["qianfan"])
_bearer = bearer_caller()


async def _v2_caller(request: Request) -> Caller:
    """An IAM bearer token this server minted (`Bearer bce-v3/…`, what the SDK's v2 sends
    with an AK/SK pair), a tuneyard bearer key (the OpenAI SDK), or a bce-auth-v1
    signature."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        return await console.signed_caller(request)
    token = header[len("bearer ") :].strip()
    if token.startswith(iam.PREFIX):
        service: Service = request.app.state.service
        return await offload.read(service, _token_caller, service, token)
    return await _bearer(request)


def _token_caller(service: Service, token: str) -> Caller:
    access_key = iam.verify(
        token, secret_of=service.credentials.access_secret, now=service.ports.clock.now()
    )
    return service.credentials.caller_by_access_key(access_key)


@router.get(iam.PATH)
async def bearer_token(
    request: Request, service: ServiceDep, caller: console.CallerDep, expireInSeconds: str = ""
) -> Response:
    """A v2 bearer token for the AK/SK pair that signed the request, good for
    `expireInSeconds` (default 1,000, the SDK's)."""
    seconds = params.whole(
        expireInSeconds or None, "expireInSeconds", default=1000, low=1, high=iam.MAX_EXPIRE_S
    )
    access_key = signature.parse(request.headers.get("authorization")).access_key
    secret = await offload.read(service, service.credentials.access_secret, access_key)
    if secret is None:  # revoked between the signature check and now
        raise errors.InvalidCredentials("The access key ID does not exist.")
    now = service.ports.clock.now()
    expires = now + dt.timedelta(seconds=seconds)
    return respond.json(
        {
            "userId": caller.workspace_id,
            "token": iam.mint(access_key, secret, expires),
            "status": "enable",
            "createTime": _millis(now),
            "expireTime": _millis(expires),
        }
    )


def _millis(moment: dt.datetime) -> str:
    """`2024-06-04T10:38:59.123Z`, as the vendor's IAM writes times."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _service(service: Service, caller: Caller, name: str) -> tuple[Deployment | None, ServedModel]:
    """The caller's service (deployment) called `name` and what it runs; a base model of
    the catalogue, with no deployment, for v2's `model`."""
    return service.deployments.generator(
        caller.workspace_id,
        name,
        missing=f"the service {name} does not exist or you have no permission to use it",
    )


def _unix(service: Service) -> int:
    return int(service.ports.clock.now().timestamp())


def _data(body: Any) -> str:
    return f"data: {orjson.dumps(body).decode()}\n\n"


# -- v1: a custom service's endpoint ------------------------------------------------------
def _v1_frames(
    reply: chat.Reply,
    first: protocol.Event,
    events: AsyncGenerator[protocol.Event, None],
    request_id: str,
) -> AsyncGenerator[str, None]:
    """The stream's lines, one `data:` each; an error after the stream began is the
    vendor's error object, then the end (see `inference.relay`)."""

    def render(event: protocol.Event) -> list[str]:
        return [_data(chunk) for chunk in reply.chunks(event)]

    def failed(exc: errors.TuneyardError) -> str:
        _, code = api_errors.classify(exc)
        return _data(chat_errors.v1_body(code, exc.message, request_id))

    return engine_api.relay(first, events, render, failed, name="qianfan chat")


async def _v1_answer(
    parsed: chat_wire.ChatRequest,
    model: ServedModel,
    engine: Inference,
    *,
    created: int,
) -> Response:
    request_id = ids.new_request_id()
    reply = chat.Reply(id="as-" + request_id[:10], created=created)
    generate = chat.to_generate(parsed, request_id=request_id, target=engine_api.target(model))
    events = engine.generate(generate)
    first = await engine_api.first(events)
    headers = {REQUEST_ID: request_id}
    if not parsed.stream:
        await engine_api.collect(first, events, reply.add)
        return respond.json(reply.completion(), headers=headers)
    stream = engine_api.EventStream(_v1_frames(reply, first, events, reply.id))
    stream.headers.update(headers)
    return stream


@router.post(V1_PREFIX + "/{endpoint}")
async def chat_v1(
    endpoint: str,
    request: Request,
    service: ServiceDep,
    caller: console.CallerDep,
    engine: engine_api.InferenceDep,
) -> Response:
    """A chat turn from the caller's service whose URL suffix is `endpoint`; with
    `stream: true`, one `data:` line per piece of text."""
    parsed = chat_wire.parse(await bodies.json_object(request))
    chat.check(parsed)
    deployment, model = await run_in_threadpool(_service, service, caller, endpoint)
    if deployment is None:  # the endpoint is a service's, never a bare base model
        raise errors.ServedModelNotFound(f"the service {endpoint} does not exist", param="model")
    pool: slots.Slots = request.app.state.deployment_slots
    answer = _v1_answer(parsed, model, engine, created=_unix(service))
    return await slots.hold(pool, deployment, answer)


# -- v2: OpenAI-compatible ------------------------------------------------------------------
async def _v2_answer(
    parsed: chat.V2Request, model: ServedModel, engine: Inference, *, created: int
) -> Response:
    request_id = ids.new_request_id()
    target = engine_api.target(model)
    generate = chat.v2_generate(parsed, request_id=request_id, target=target)
    reply = openai_chat.Reply(parsed.openai, id="as-" + request_id[:10], created=created)
    events = engine.generate(generate)
    first = await engine_api.first(events)
    headers = {REQUEST_ID: request_id}
    if not parsed.openai.stream:
        await engine_api.collect(first, events, reply.add)
        return respond.json(reply.completion(), headers=headers)
    stream = engine_api.EventStream(openai_routes.frames(reply, first, events))
    stream.headers.update(headers)
    return stream


@router.post(V2_PATH)
async def chat_v2(
    request: Request,
    service: ServiceDep,
    engine: engine_api.InferenceDep,
) -> Response:
    """A chat completion from the caller's service named in `model` (or a base model),
    OpenAI's objects in and out; `stream: true` sends chunks, then `[DONE]`."""
    caller = await _v2_caller(request)
    parsed = chat.v2_request(await openai_routes.json_body(request))
    deployment, model = await run_in_threadpool(_service, service, caller, parsed.openai.model)
    pool: slots.Slots = request.app.state.deployment_slots
    answer = _v2_answer(parsed, model, engine, created=_unix(service))
    return await slots.hold(pool, deployment, answer)
