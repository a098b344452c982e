"""Qianfan's console API shape, shared by every `POST /v2/<resource>?Action=…` route:
who signed the request (bce-auth-v1), one Action call, its `{requestId, result}` reply,
and the dispatch on `?Action=`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from tuneyard import errors
from tuneyard.api import bodies, offload, respond
from tuneyard.api.dialects.qianfan import signature
from tuneyard.core import ids
from tuneyard.core.credentials import Caller
from tuneyard.core.service import Service

__all__ = ["REQUEST_ID", "Call", "CallerDep", "dispatch", "max_keys", "reply", "signed_caller"]

REQUEST_ID = "x-bce-request-id"
_MAX_KEYS = 100


async def signed_caller(request: Request) -> Caller:
    """The AK/SK pair that signed the request (bce-auth-v1), checked against its secret
    (a coroutine: a plain-function dependency would cost a worker-thread hop)."""
    service: Service = request.app.state.service
    return await offload.read(service, _signed_by, request, service)


def _signed_by(request: Request, service: Service) -> Caller:
    access_key = signature.verify(
        request.headers.get("authorization"),
        method=request.method,
        path=request.url.path,
        query=request.query_params.multi_items(),
        headers=request.headers,
        secret_of=service.credentials.access_secret,
        now=service.ports.clock.now(),
    )
    return service.credentials.caller_by_access_key(access_key)


CallerDep = Annotated[Caller, Depends(signed_caller)]
"""Who signed the request."""


@dataclasses.dataclass(frozen=True, slots=True)
class Call:
    """One Action call: the service, who signed it, its body, and the server's base URL."""

    service: Service
    caller: Caller
    body: dict[str, Any]
    base_url: str

    @property
    def workspace(self) -> str:
        """The caller's workspace."""
        return self.caller.workspace_id


def reply(body: dict[str, Any]) -> Response:
    """`{"requestId", **body}` with the request id also in `x-bce-request-id`."""
    request_id = ids.new_request_id()
    return respond.json({"requestId": request_id, **body}, headers={REQUEST_ID: request_id})


def max_keys(value: int) -> int:
    """A page size the console accepts (1-100)."""
    if not 1 <= value <= _MAX_KEYS:
        raise errors.InvalidRequest(f"maxKeys must be 1-{_MAX_KEYS}", param="maxKeys")
    return value


async def dispatch(
    request: Request,
    service: Service,
    caller: Caller,
    actions: Mapping[str, Callable[[Call], Any]],
    point_reads: Collection[str] = (),
) -> Response:
    """Run the Action `?Action=` names on the JSON body: `{"requestId", "result"}`. The
    Actions in `point_reads` read a row or two by key (`offload.read`); the others list
    or write and always run on a worker thread."""
    action = request.query_params.get("Action", "")
    handler = actions.get(action)
    if handler is None:
        raise errors.UnknownOperation(
            f"Unknown Action {action[:64]!r}; this server answers {', '.join(sorted(actions))}",
            param="Action",
        )
    body = await bodies.json_object(request) if (await request.body()).strip() else {}
    call = Call(service, caller, body, str(request.base_url).rstrip("/"))
    if action in point_reads:
        result = await offload.read(service, handler, call)
    else:
        result = await run_in_threadpool(handler, call)
    return reply({"result": result})
