"""FastAPI dependencies: the runtime's service and who the caller is (a bearer key, and
the workspace a dialect's header names)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from tuneyard.core.credentials import Caller
from tuneyard.core.service import Service

__all__ = ["ServiceDep", "WorkspaceDep", "bearer_caller", "bearer_key"]


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def bearer_key(request: Request) -> str | None:
    """The key of an `Authorization: Bearer <key>` header, or None."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    return key.strip()


def _workspace(request: Request, service: Annotated[Service, Depends(_service)]) -> str:
    return service.credentials.authenticate(bearer_key(request))


def bearer_caller(*workspace_headers: str) -> Callable[[Request, Service], Caller]:
    """A dependency: who the bearer key acts as, in the workspace named by the first of
    `workspace_headers` the request sends (one of the key's), else in the key's own.
    Use it as `Annotated[Caller, Depends(bearer_caller("X-Vendor-Workspace"))]`."""

    def caller(request: Request, service: Annotated[Service, Depends(_service)]) -> Caller:
        named = next(
            (request.headers[h] for h in workspace_headers if request.headers.get(h)), None
        )
        return service.credentials.caller(bearer_key(request), named)

    return caller


ServiceDep = Annotated[Service, Depends(_service)]
WorkspaceDep = Annotated[str, Depends(_workspace)]
