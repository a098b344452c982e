"""FastAPI dependencies: the runtime's service and who the caller is (a bearer key, and
the workspace a dialect's header names).

They are coroutines: FastAPI runs a plain function dependency on a worker thread, and
that hop cost more than the whole lookup. The caller's dependencies take the service from
the app rather than as a sub-dependency: each dependency solved costs every request. A
key whose record is remembered is resolved on the event loop; a lookup that must ask the
store is gathered with the others waiting (see `_resolve`)."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from tuneyard import errors
from tuneyard.api import offload
from tuneyard.api.gather import Gather
from tuneyard.core.credentials import Caller
from tuneyard.core.ports import ApiKey
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


log = logging.getLogger(__name__)
_key_reads: weakref.WeakKeyDictionary[Service, Gather[ApiKey]] = weakref.WeakKeyDictionary()
_refreshing: weakref.WeakKeyDictionary[Service, dict[str, asyncio.Task[None]]] = (
    weakref.WeakKeyDictionary()
)


def _refresh(service: Service, key: str) -> None:
    """Read a remembered key's record again in the background (one read per key at a
    time), so that it does not lapse while it is in use (`keycache.REFRESH_AHEAD_SECONDS`)."""
    running = _refreshing.setdefault(service, {})
    if key in running:
        return

    async def refresh() -> None:
        try:
            await offload.read(service, service.credentials.refresh_bearer, key)
        except Exception:  # the record then lapses, and the next request asks the store
            log.warning("refreshing a remembered key failed", exc_info=True)
        finally:
            running.pop(key, None)

    running[key] = asyncio.get_running_loop().create_task(refresh())


async def _resolve(service: Service, key: str | None, workspace: str | None) -> Caller:
    """Who the key acts as: from memory when its record is remembered, else asked of the
    store, once for all the requests that wait on the same key.

    A remembered record lapses after `keycache.TTL_SECONDS`, for every request in flight
    at that moment at once: each asking the store for itself (a hundred worker-thread hops
    and lookups of one key) stalled the event loop ~10 ms every 2 s, which was the p99 of
    GETs under load. Gathered (`tuneyard.api.gather`), they share one lookup; and a key
    in use is read again before it lapses (`_refresh`), so under load it never does."""
    credentials = service.credentials
    if not key:
        raise errors.Unauthenticated()
    found = credentials.remembered_caller(key, workspace)
    if found is not None:
        if credentials.bearer_due(key):
            _refresh(service, key)
        return found
    reads = _key_reads.get(service)
    if reads is None:
        inline = service.ports.inline_reads
        reads = _key_reads[service] = Gather(credentials.bearer_records, inline=inline)
    record = await reads.get(key)
    if record is None:
        raise errors.InvalidCredentials()
    return credentials.acting(record, workspace)


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
