"""A job's weights: where a job starts from (a checkpoint or a final model), its
checkpoints, and exporting them as standalone Hugging Face directories."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tuneyard import errors
from tuneyard.core.checkpoints import Checkpoint
from tuneyard.core.jobs import Job, Parent
from tuneyard.core.ports import Ports
from tuneyard.core.queries import Jobs
from tuneyard.core.states import JobStatus
from tuneyard.core.workdirs import WorkDirs
from tuneyard.kinds import Method

__all__ = ["Exported", "StartPoint", "Weights"]


@dataclasses.dataclass(frozen=True, slots=True)
class StartPoint:
    """Weights on disk a job starts from (or exports): where, and how they were trained."""

    path: Path
    method: Method
    job: Job
    step: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class Exported:
    """An exported model: its directory, and "peft" (an adapter) or "full" (whole model)."""

    path: Path
    format: str


class Weights:
    """The weights use-cases over the jobs' progress and folders."""

    def __init__(self, ports: Ports, jobs: Jobs, dirs: WorkDirs) -> None:
        self.ports = ports
        self.jobs = jobs
        self.dirs = dirs

    def start_point(
        self, workspace_id: str, parent: Parent, *, param: str | None = None
    ) -> StartPoint:
        """The weights of a job of the workspace: its checkpoint at `parent.step`, or with
        step None its final model. Raises JobNotFound, CheckpointNotFound (no such step, or
        pruned), or InvalidTransition (no final model: the job did not succeed)."""
        job = self.jobs.get(workspace_id, parent.job_id, param=param)
        if parent.step is None:
            path = self.dirs.output(job) if job.status is JobStatus.SUCCEEDED else None
            if path is None:
                raise errors.InvalidTransition(
                    f"job {job.id} is {job.status.value} and has no final model; "
                    "name one of its checkpoints instead",
                    param=param,
                )
        else:
            found = next((c for c in job.progress.checkpoints if c.step == parent.step), None)
            if found is None or not found.path:
                steps = ", ".join(str(c.step) for c in job.progress.checkpoints)
                raise errors.CheckpointNotFound(
                    f"job {job.id} has no checkpoint at step {parent.step} "
                    f"(it has: {steps or 'none'})",
                    param=param,
                )
            path = self.dirs.checkpoint(job.id, found)
        if path is None or not path.is_dir():
            raise errors.CheckpointNotFound(f"the weights of job {job.id} are gone", param=param)
        return StartPoint(path=path, method=job.method, job=job, step=parent.step)

    def checkpoints(self, workspace_id: str, job_id: str) -> list[Checkpoint]:
        """The job's checkpoints on disk, oldest first: step, epoch, path and metrics."""
        return list(self.jobs.get(workspace_id, job_id).progress.checkpoints)

    def export(self, workspace_id: str, job_id: str, *, step: int | None, merged: bool) -> Exported:
        """Write a job's checkpoint (or, step None, final model) as a standalone Hugging Face
        directory under `<job dir>/exports/`. A LoRA result is exported as its PEFT adapter,
        or with `merged` merged into the base (full-model layout). An export already on disk
        is returned as it is (exporters write the directory whole, then rename it)."""
        source = self.start_point(workspace_id, Parent(job_id, step))
        whole = merged or source.method is Method.FULL
        merged = merged and source.method is Method.LORA  # a full model is merged already
        name = ("final" if step is None else f"step-{step}") + ("-merged" if merged else "")
        target = self.dirs.export(job_id, name)
        if not target.is_dir():
            try:
                self.ports.exporter.export(source.path, target, merged=merged)
            except ValueError as exc:
                raise errors.ExportFailed(f"export of job {job_id} failed: {exc}") from exc
            self.dirs.keep_export(job_id, name)
        return Exported(path=target, format="full" if whole else "peft")

    def name_export(self, workspace_id: str, job_id: str, step: int, model_name: str) -> None:
        """Record that the checkpoint at `step` was exported as `model_name`, a name no
        base model or live tuned model of the workspace has (else Conflict)."""
        job = self.jobs.get(workspace_id, job_id)
        self.jobs.check_output_name(workspace_id, model_name)
        checkpoints = [
            dataclasses.replace(c, model_name=model_name) if c.step == step else c
            for c in job.progress.checkpoints
        ]
        progress = dataclasses.replace(job.progress, checkpoints=checkpoints)
        self.ports.jobs.save_progress(job.id, progress, self.ports.clock.now())
