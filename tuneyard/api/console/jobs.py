"""The jobs list: `GET /console/jobs` (the page) and `GET /console/jobs.json` (the same
rows for the page's script, which polls it to update the list live).

Every job of the workspace is listed, whatever dialect created it, newest first, in
pages of the core's keyset listing (`marker`: the last job of the previous page). The
filters (status, base model, a search of name and id) are applied to that listing as it
is read, a batch at a time, so a page is always full when enough jobs match; a request
reads at most `_SCAN_MAX` jobs, and a page cut short by that bound says more may follow.

Why polling and not an event stream: the list is a query over many jobs, not one log
with ids to resume from; one small JSON every few seconds (only while the tab is shown)
costs less than a held connection, and keeps the workspace's capped stream slots for the
job pages.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse

from tuneyard.api import params
from tuneyard.api.console import render, views
from tuneyard.api.console.session import UserDep
from tuneyard.api.deps import ServiceDep
from tuneyard.core.jobs import Job
from tuneyard.core.service import Service
from tuneyard.core.states import JobStatus

__all__ = ["Filters", "Listing", "list_jobs", "router"]

router = APIRouter(tags=["console"])

PAGE_SIZE = 25
_BATCH = 100
_SCAN_MAX = 5000


@dataclasses.dataclass(frozen=True, slots=True)
class Filters:
    """What the list is narrowed to (empty: everything)."""

    status: str = ""
    model: str = ""
    q: str = ""

    def admits(self, job: Job) -> bool:
        """Whether the job passes every filter."""
        if self.status and job.status.value != self.status:
            return False
        if self.model and job.base_model != self.model:
            return False
        needle = self.q.strip().lower()
        return not needle or needle in job.id.lower() or needle in job.display_name.lower()


@dataclasses.dataclass(frozen=True, slots=True)
class Listing:
    """A page of the list: its jobs, and the marker of the next page (None: the last)."""

    jobs: list[Job]
    next_marker: str | None


def list_jobs(
    service: Service, workspace_id: str, filters: Filters, *, marker: str | None, limit: int
) -> Listing:
    """Up to `limit` of the workspace's jobs passing `filters`, after `marker`."""
    found: list[Job] = []
    scanned, cursor = 0, marker
    while scanned < _SCAN_MAX:
        batch = service.jobs.list_after(workspace_id, marker=cursor, limit=_BATCH)
        for job in batch.items:
            scanned += 1
            if filters.admits(job):
                found.append(job)
                if len(found) == limit:
                    return Listing(found, job.id)
        if not batch.more or not batch.items:
            return Listing(found, None)
        cursor = batch.items[-1].id
    return Listing(found, cursor)  # cut short: more may match further on


def _filters(status: str, model: str, q: str) -> Filters:
    statuses = {s.value for s in JobStatus}
    status = status if status in statuses else ""
    return Filters(status=status, model=params.text(model, "model", most=256) or "", q=q[:200])


@dataclasses.dataclass(frozen=True, slots=True)
class _Asked:
    """The page a request asks for: its filters and marker, and the jobs it gets."""

    filters: Filters
    marker: str
    listing: Listing
    rows: list[dict[str, Any]]


async def _asked(
    service: ServiceDep,
    user: UserDep,
    status: str = "",
    model: str = "",
    q: str = "",
    marker: str = "",
    limit: str = "",
) -> _Asked:
    """The page of the list named by the query (a dependency of both routes)."""
    filters = _filters(status, model, q)
    size = params.whole(limit, "limit", default=PAGE_SIZE, low=1, high=100)
    listing = await run_in_threadpool(
        list_jobs, service, user.workspace_id, filters, marker=marker or None, limit=size
    )
    now = service.ports.clock.now()
    return _Asked(filters, marker, listing, [views.summary(j, now) for j in listing.jobs])


AskedDep = Annotated[_Asked, Depends(_asked)]


@router.get("/console/jobs", response_class=HTMLResponse, include_in_schema=False)
async def jobs_page(request: Request, service: ServiceDep, asked: AskedDep) -> HTMLResponse:
    """The list, its filters, and a link to the next page."""
    return render.render(
        request,
        "jobs.html",
        filters=asked.filters,
        statuses=[s.value for s in JobStatus],
        models=sorted(m.name for m in service.ports.catalog.all()),
        rows=asked.rows,
        marker=asked.marker,
        next_marker=asked.listing.next_marker,
    )


@router.get("/console/jobs.json", include_in_schema=False)
async def jobs_json(asked: AskedDep) -> JSONResponse:
    """The same page of rows as JSON (the list's script polls it)."""
    body: dict[str, Any] = {"data": asked.rows, "next_marker": asked.listing.next_marker}
    return JSONResponse(body, headers={"cache-control": "no-store"})
