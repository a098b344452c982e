"""FastAPI dependencies: the runtime's service and who the caller is (a bearer key, and
the workspace a dialect's header names).

They are coroutines: FastAPI runs a plain function dependency on a worker thread, and
that hop cost more than the whole lookup. The caller's dependencies take the service from
the app rather than as a sub-dependency: each dependency solved costs every request. A
key whose record is remembered is resolved on the event loop; only a lookup that must ask
the store goes to a thread."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from tuneyard.core.credentials import Caller
from tuneyard.core.service import Service

__all__ = ["ServiceDep", "WorkspaceDep", "bearer_caller", "bearer_key"]


async def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def bearer_key(request: Request) -> str | None:
    """The key of an `Authorization: Bearer <key>` header, or None."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    return key.strip()


async def _resolve(service: Service, key: str | None, workspace: str | None) -> Caller:
    """Who the key acts as: from memory when its record is remembered, else asked of the
    store on a worker thread."""
    found = service.credentials.remembered_caller(key, workspace)
    if found is not None:
        return found
    return await run_in_threadpool(service.credentials.caller, key, workspace)


async def _workspace(request: Request) -> str:
    service: Service = request.app.state.service  # not a sub-dependency: one less to solve
    return (await _resolve(service, bearer_key(request), None)).workspace_id


def bearer_caller(*workspace_headers: str) -> Callable[[Request], Awaitable[Caller]]:
    """A dependency: who the bearer key acts as, in the workspace named by the first of
    `workspace_headers` the request sends (one of the key's), else in the key's own.
    Use it as `Annotated[Caller, Depends(bearer_caller("X-Vendor-Workspace"))]`."""

    async def caller(request: Request) -> Caller:
        service: Service = request.app.state.service  # not a sub-dependency: one less to solve
        named = next(
            (request.headers[h] for h in workspace_headers if request.headers.get(h)), None
        )
        return await _resolve(service, bearer_key(request), named)

    return caller


ServiceDep = Annotated[Service, Depends(_service)]
WorkspaceDep = Annotated[str, Depends(_workspace)]
