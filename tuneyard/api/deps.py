"""FastAPI dependencies: the runtime's service and the caller's workspace (bearer key)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tuneyard.core.service import Service

__all__ = ["ServiceDep", "WorkspaceDep", "bearer_key"]


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


ServiceDep = Annotated[Service, Depends(_service)]
WorkspaceDep = Annotated[str, Depends(_workspace)]
