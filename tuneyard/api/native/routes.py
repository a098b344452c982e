"""Native routes under /tuneyard/v1 (plus /healthz); errors as {"error": {...}}."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from tuneyard.api.deps import ServiceDep, WorkspaceDep

__all__ = ["render_error", "router"]

router = APIRouter()


def render_error(
    request: Request, status: int, code: str, message: str, param: str | None
) -> Response:
    """tuneyard's own error envelope."""
    return JSONResponse(
        {"error": {"code": code, "message": message, "param": param}}, status_code=status
    )


@router.get("/healthz", tags=["native"])
async def health() -> dict[str, str]:
    """Liveness: the process serves HTTP (no key needed)."""
    return {"status": "ok"}


@router.get("/tuneyard/v1/models", tags=["native"])
async def models(service: ServiceDep, workspace: WorkspaceDep) -> dict[str, Any]:
    """The base models jobs can name."""
    return {
        "data": [
            {
                "name": m.name,
                "task_types": [t.value for t in m.task_types],
                "source": m.source,
                "description": m.description,
            }
            for m in service.ports.catalog.all()
        ]
    }


@router.get("/tuneyard/v1/jobs/{job_id}/events", tags=["native"])
async def job_events(
    job_id: str, service: ServiceDep, workspace: WorkspaceDep, after: int = 0
) -> dict[str, Any]:
    """A job's timeline: status changes, every dataset issue, progress, the outcome."""
    events = await run_in_threadpool(service.job_events, workspace, job_id, after_seq=after)
    return {
        "data": [
            {
                "seq": e.seq,
                "created_at": e.created_at.isoformat(),
                "level": e.level,
                "type": e.type,
                "message": e.message,
                "data": e.data,
            }
            for e in events
        ]
    }
