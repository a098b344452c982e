"""Jobs as the console shows them: plain JSON-able summaries for the list, the job page's
header and its live updates (one shape for the server's first render and the script's
later ones)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tuneyard.core import states
from tuneyard.core.jobs import Job
from tuneyard.core.states import JobStatus

__all__ = ["ACTIONS", "actions", "eta_seconds", "method_label", "summary", "when"]

ACTIONS = ("cancel", "pause", "resume", "delete")
"""The job actions the console offers (each a POST to /console/jobs/{id}/{action})."""


def when(value: datetime | None) -> str | None:
    """A time as ISO 8601 (UTC), or None."""
    return value.isoformat(timespec="seconds") if value is not None else None


def method_label(job: Job) -> str:
    """How the job trains: "LoRA · SFT", "full · DPO"…"""
    method = "LoRA" if job.method.value == "lora" else job.method.value
    return f"{method} · {job.objective.value.upper()}"


def eta_seconds(job: Job, now: datetime) -> int | None:
    """Seconds until the run is expected to end: its worker's estimate of the whole run
    (elapsed + remaining) from when it started, less the time since; None when not
    running or not estimated yet."""
    estimate = job.progress.estimated_time_s
    if job.status is not JobStatus.RUNNING or estimate is None or job.started_at is None:
        return None
    return max(0, round(estimate - (now - job.started_at).total_seconds()))


def actions(job: Job) -> list[str]:
    """The actions that make sense for the job now."""
    status = job.status
    found: list[str] = []
    if not states.is_terminal(status) and status is not JobStatus.CANCELLING:
        found.append("cancel")
    if status is JobStatus.RUNNING:
        found.append("pause")
    if status is JobStatus.PAUSED:
        found.append("resume")
    found.append("delete")
    return found


def summary(job: Job, now: datetime) -> dict[str, Any]:
    """What the list and the job page show of a job, and update live."""
    progress = job.progress
    return {
        "id": job.id,
        "name": job.display_name,
        "status": job.status.value,
        "terminal": states.is_terminal(job.status),
        "model": job.base_model,
        "method": method_label(job),
        "step": progress.step,
        "total_steps": progress.total_steps,
        "epoch": progress.epoch,
        "total_epochs": progress.total_epochs,
        "train_loss": progress.train_loss,
        "trained_tokens": progress.trained_tokens,
        "eta_s": eta_seconds(job, now),
        "created_at": when(job.created_at),
        "started_at": when(job.started_at),
        "finished_at": when(job.finished_at),
        "dialect": job.dialect,
        "created_via": job.created_via,
        "error": job.error_message,
        "error_code": job.error_code,
        "actions": actions(job),
        "checkpoints": [  # without their folder on the server's disk
            {k: v for k, v in c.to_dict().items() if k != "path"} for c in progress.checkpoints
        ],
        "metrics": progress.metrics or {},
    }
