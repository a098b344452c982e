"""Qianfan routes: `POST /v2/finetuning?Action=…`, every request signed with bce-auth-v1.

Responses are `{"requestId", "result"}`; errors `{"requestId", "code", "message"}` with the
HTTP status set (spec §3.4). Thin: verify the signature, parse, call, render.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from tuneyard import errors
from tuneyard.api import bodies
from tuneyard.api.deps import ServiceDep
from tuneyard.api.dialects.qianfan import signature, translate
from tuneyard.core import ids
from tuneyard.core.service import Caller, Service

__all__ = ["PREFIX", "render_error", "router"]

PREFIX = "/v2/finetuning"
REQUEST_ID = "x-bce-request-id"

router = APIRouter(tags=["qianfan"])


def _caller(request: Request, service: ServiceDep) -> Caller:
    """The AK/SK pair that signed the request (bce-auth-v1), checked against its secret."""
    access_key = signature.verify(
        request.headers.get("authorization"),
        method=request.method,
        path=request.url.path,
        query=request.query_params.multi_items(),
        headers=request.headers,
        secret_of=service.access_secret,
        now=service.ports.clock.now(),
    )
    return service.caller_by_access_key(access_key)


CallerDep = Annotated[Caller, Depends(_caller)]


def _respond(body: dict[str, Any], status_code: int = 200) -> JSONResponse:
    request_id = ids.new_request_id()
    response = JSONResponse({"requestId": request_id, **body}, status_code=status_code)
    response.headers[REQUEST_ID] = request_id
    return response


def render_error(
    request: Request, status: int, code: str, message: str, param: str | None
) -> Response:
    """The BCE error envelope, `{requestId, code, message}`, with the vendor's status."""
    request_id = ids.new_request_id()
    http_status, body = translate.error_body(code, message, request_id)
    response = JSONResponse(body, status_code=http_status)
    response.headers[REQUEST_ID] = request_id
    return response


def _support_models(service: Service, caller: Caller, body: dict[str, Any]) -> Any:
    return translate.support_models(service.ports.catalog.all())


_ACTIONS: dict[str, Callable[[Service, Caller, dict[str, Any]], Any]] = {
    "DescribeFineTuningSupportModels": _support_models,
}


@router.post(PREFIX)
async def finetuning(request: Request, service: ServiceDep, caller: CallerDep) -> Response:
    """Dispatch on `?Action=`; the body is the Action's JSON parameters."""
    action = request.query_params.get("Action", "")
    handler = _ACTIONS.get(action)
    if handler is None:
        raise errors.InvalidRequest(
            f"Unknown Action {action!r}; this server answers {', '.join(sorted(_ACTIONS))}",
            param="Action",
        )
    body = await bodies.json_object(request) if (await request.body()).strip() else {}
    result = await run_in_threadpool(handler, service, caller, body)
    return _respond({"result": result})
