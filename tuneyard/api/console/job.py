"""The job page, `GET /console/jobs/{job_id}`, and its read-only twin behind a Qianfan
`vdlLink`, `GET /console/curves?displayToken=…` (no actions, no links to other jobs).

What the server renders: the header (status, progress, ETA), the resolved
hyperparameters, the dataset's validation report (every issue with its line, from the
timeline's first events), the checkpoints with their metrics and buttons, the final
metrics and the actions. The charts, the status timeline and the events log are drawn by
static/js/job.js from the job's event stream (`stream.py`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from tuneyard.api.console import render, routes, views
from tuneyard.api.console.stream import viewer_job
from tuneyard.api.deps import ServiceDep
from tuneyard.core import sharing
from tuneyard.core.events import JobEvent
from tuneyard.core.jobs import Job
from tuneyard.core.service import Service

__all__ = ["METRIC_NAMES", "dataset_reports", "page_context", "router"]

router = APIRouter(tags=["console"])

METRIC_NAMES = {
    "valid_loss": "Validation loss",
    "perplexity": "Perplexity",
    "token_accuracy": "Token accuracy",
    "bleu4": "BLEU-4",
    "rouge1": "ROUGE-1",
    "rouge2": "ROUGE-2",
    "rougeL": "ROUGE-L",
    "accuracy": "Accuracy",
    "f1_macro": "F1 (macro)",
    "reward_accuracy": "Reward accuracy",
    "reward_margin": "Reward margin",
}
"""How the final metrics are labelled (others are shown by their own name)."""
_HEAD_EVENTS = 500
"""The first events read for the dataset report (the check runs before training)."""


def dataset_reports(events: list[JobEvent]) -> list[dict[str, Any]]:
    """The dataset checks the timeline records (training, validation file): each the
    report's summary and its issues (line, reason, message)."""
    found: list[dict[str, Any]] = []
    for event in events:
        data = event.data or {}
        if event.type == "message" and "total_issues" in data and "issues" in data:
            role = "validation" if "(validation)" in event.message else "training"
            found.append({"role": role, "message": event.message, **data})
    return found


def _hyperparameters(job: Job) -> list[dict[str, Any]]:
    """Each hyperparameter: the value used (resolved once the run starts), and whether
    the client asked for "auto"."""
    requested = job.hyperparameters.to_dict()
    used = job.progress.hyperparameters or {}
    auto = set(job.hyperparameters.auto)
    return [
        {
            "name": name,
            "value": used.get(name, value),
            "auto": name in auto,
            "resolved": name in used,
        }
        for name, value in requested.items()
        if name != "auto"
    ]


def page_context(service: Service, job: Job) -> dict[str, Any]:
    """What the job page's template is given for a job."""
    head = service.events.read(job.workspace_id, job.id, limit=_HEAD_EVENTS).items
    metrics = job.progress.metrics or {}
    return {
        "job": job,
        "summary": views.summary(job, service.ports.clock.now()),
        "hyperparameters": _hyperparameters(job),
        "reports": dataset_reports(head),
        "checkpoints": job.progress.checkpoints,
        "metrics": [(METRIC_NAMES.get(k, k), k, v) for k, v in metrics.items()],
        "has_final_model": job.status.value == "succeeded" and job.model_deleted_at is None,
    }


@router.get("/console/jobs/{job_id}", response_class=HTMLResponse, include_in_schema=False)
async def job_page(job_id: str, request: Request, service: ServiceDep) -> HTMLResponse:
    """The job page (signed in)."""
    _, job = await viewer_job(request, service, job_id, None)
    context = await run_in_threadpool(page_context, service, job)
    return render.render(
        request,
        "job.html",
        stream_url=f"/console/jobs/{job.id}/stream",
        **context,
    )


@router.get(routes.CURVES, response_class=HTMLResponse, include_in_schema=False)
async def shared_page(request: Request, service: ServiceDep, displayToken: str) -> HTMLResponse:
    """The same page read-only, opened by a display token alone (a Qianfan `vdlLink`)."""
    job = await run_in_threadpool(
        sharing.shared_job, service.ports.sealer, service.jobs, displayToken
    )
    context = await run_in_threadpool(page_context, service, job)
    query = urlencode({"displayToken": displayToken})
    return render.render(
        request,
        "job.html",
        user=None,
        csrf="",
        read_only=True,
        stream_url=f"/console/jobs/{job.id}/stream?{query}",
        **context,
    )
