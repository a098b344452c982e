"""A finished job's results file: its per-step metrics as CSV (a dialect's result files)."""

from __future__ import annotations

import csv
import io
from typing import Any

from tuneyard.core.events import saved_checkpoint
from tuneyard.core.files import StoredFile
from tuneyard.core.jobs import Job
from tuneyard.core.timeline import Timeline
from tuneyard.core.uploads import Uploads

__all__ = ["COLUMNS", "metrics_rows", "store"]

COLUMNS = ("step", "train_loss", "train_accuracy", "valid_loss", "valid_mean_token_accuracy")
PURPOSE = "fine-tune-results"


def metrics_rows(events: Timeline, job: Job) -> list[dict[str, Any]]:
    """One row per reported step (smoothed training loss and accuracy), with the validation
    loss and token accuracy on the steps a checkpoint was validated at."""
    rows: dict[int, dict[str, Any]] = {}
    for event in events.each(job):
        data = event.data or {}
        step = data.get("step")
        if not isinstance(step, int):
            continue
        saved = saved_checkpoint(event)
        if event.type == "metrics":
            row = rows.setdefault(step, {"step": step})
            row["train_loss"] = data.get("loss")
            row["train_accuracy"] = data.get("accuracy")
        elif saved is not None and saved.valid_loss is not None:
            row = rows.setdefault(step, {"step": step})
            row["valid_loss"] = saved.valid_loss
            row["valid_mean_token_accuracy"] = saved.token_accuracy
    return [rows[step] for step in sorted(rows)]


def store(job: Job, *, events: Timeline, uploads: Uploads) -> StoredFile:
    """Write the metrics CSV as a file of the job's workspace (purpose fine-tune-results)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in metrics_rows(events, job):
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in COLUMNS})
    return uploads.upload(
        job.workspace_id, "step_metrics.csv", [buffer.getvalue().encode()], purpose=PURPOSE
    )
