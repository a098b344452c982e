"""`GET /console/curves?displayToken=…`: a job's training curves for a browser; the token
(from a Qianfan task's `vdlLink`) is the only credential, and it opens that one job."""

from __future__ import annotations

import html

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from tuneyard.api.console import page
from tuneyard.api.deps import ServiceDep
from tuneyard.api.errors import Code
from tuneyard.core import sharing
from tuneyard.core.service import Service

__all__ = ["CURVES", "PREFIX", "render_error", "router"]

PREFIX = "/console"
CURVES = f"{PREFIX}/curves"

router = APIRouter(tags=["console"])


def render_error(
    request: Request, status: int, code: Code, message: str, param: str | None
) -> Response:
    """Errors as a small page: a browser shows it instead of a JSON body."""
    text = html.escape(message)
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{status}</title></head>"
        f"<body><h1>{status}</h1><p>{text}</p></body></html>",
        status_code=status,
    )


def _page(service: Service, token: str) -> str:
    job = sharing.shared_job(service.ports.sealer, service.jobs, token)
    return page.render(job, sharing.curves(service.events, job))


@router.get(CURVES, response_class=HTMLResponse)
async def curves(displayToken: str, service: ServiceDep) -> HTMLResponse:
    """The page; a refresh shows the steps reported since."""
    return HTMLResponse(await run_in_threadpool(_page, service, displayToken))
