"""`GET /console/compare?job=<id>&job=<id>…`: two or more jobs side by side — their
hyperparameters and metrics in one table each, the rows that differ highlighted, and
their curves overlaid (static/js/compare.js reads each job's stream with `follow=0`).
With fewer than two jobs named, the page offers the workspace's recent jobs to pick."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from tuneyard import errors
from tuneyard.api.console import jobs as listing
from tuneyard.api.console import render, views
from tuneyard.api.console.job import METRIC_NAMES
from tuneyard.api.console.session import UserDep
from tuneyard.api.deps import ServiceDep
from tuneyard.core.jobs import Job
from tuneyard.core.service import Service

__all__ = ["MAX_JOBS", "rows", "router"]

router = APIRouter(tags=["console"])

MAX_JOBS = 8
"""The most jobs one comparison shows."""


def _value(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def rows(found: list[Job]) -> dict[str, list[dict[str, Any]]]:
    """The comparison's tables: for each name, every job's value and whether they differ."""

    def table(pairs: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        shown = [(name, [_value(v) for v in values]) for name, values in pairs]
        return [{"name": n, "cells": v, "differs": len(set(v)) > 1} for n, v in shown]

    hp_names = [n for n in found[0].hyperparameters.to_dict() if n != "auto"]
    hyper = [
        (
            n,
            [
                (j.progress.hyperparameters or {}).get(n, j.hyperparameters.to_dict()[n])
                for j in found
            ],
        )
        for n in hp_names
    ]
    setup = [
        ("base model", [j.base_model for j in found]),
        ("method", [views.method_label(j) for j in found]),
        ("status", [j.status.value for j in found]),
        ("dialect", [j.dialect for j in found]),
    ]
    metric_keys = sorted({k for j in found for k in (j.progress.metrics or {})})
    metrics = [("final train loss", [j.progress.train_loss for j in found])]
    metrics.append(
        (
            "best validation loss",
            [
                min(
                    (c.valid_loss for c in j.progress.checkpoints if c.valid_loss is not None),
                    default=None,
                )
                for j in found
            ],
        )
    )
    metrics += [
        (METRIC_NAMES.get(k, k), [(j.progress.metrics or {}).get(k) for j in found])
        for k in metric_keys
    ]
    return {"setup": table(setup), "hyperparameters": table(hyper), "metrics": table(metrics)}


def _jobs(service: Service, workspace: str, ids: list[str]) -> list[Job]:
    unique = list(dict.fromkeys(i for i in ids if i))
    if len(unique) > MAX_JOBS:
        raise errors.InvalidRequest(f"compare at most {MAX_JOBS} jobs at once", param="job")
    return [service.jobs.get(workspace, i) for i in unique]


@router.get("/console/compare", response_class=HTMLResponse, include_in_schema=False)
async def compare(
    request: Request,
    service: ServiceDep,
    user: UserDep,
    job: list[str] = Query(default=[]),  # noqa: B008 - FastAPI's way to read a repeated key
) -> HTMLResponse:
    """The comparison, or the picker when fewer than two jobs are named."""
    found = await run_in_threadpool(_jobs, service, user.workspace_id, job)
    if len(found) < 2:
        recent = await run_in_threadpool(
            listing.list_jobs, service, user.workspace_id, listing.Filters(), marker=None, limit=50
        )
        return render.render(
            request,
            "compare.html",
            jobs=[],
            tables=None,
            picked=[j.id for j in found],
            recent=recent.jobs,
        )
    streams = [
        {"id": j.id, "name": j.display_name, "stream": f"/console/jobs/{j.id}/stream?follow=0"}
        for j in found
    ]
    return render.render(
        request,
        "compare.html",
        jobs=found,
        tables=rows(found),
        picked=[],
        recent=[],
        streams=streams,
    )
