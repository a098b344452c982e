"""The models a workspace can run: the catalogue's base models and the tuned models of its
succeeded jobs (the final model, or one of its checkpoints), each resolved to the weights
an inference worker loads; and deleting a tuned model: the job stays, its model is
gone.

`name` arguments are the model names the client sent, for the messages only: how a
dialect spells a tuned model's name is the dialect's business.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

from tuneyard import errors
from tuneyard.core import deployments
from tuneyard.core.jobs import Job
from tuneyard.core.models import BaseModel
from tuneyard.core.paging import Cursor
from tuneyard.core.ports import Ports
from tuneyard.core.queries import Jobs
from tuneyard.core.states import JobStatus
from tuneyard.core.workdirs import WorkDirs
from tuneyard.kinds import Method, TaskType

__all__ = ["MANIFEST", "Served", "ServedModel"]

MANIFEST = "tuneyard.json"
"""The file the trainer writes beside every saved model and checkpoint; its
`weights_base` names the whole-model weights an adapter was trained on."""

_PAGE = 500


@dataclasses.dataclass(frozen=True, slots=True)
class ServedModel:
    """What to run for a model name: whole-model weights, and an adapter on them for a
    LoRA result (a full fine-tuned result is its own base)."""

    base: str
    """The folder of the whole-model weights. A built-in base model's folder may not exist
    yet (tiny-chat is written out on first use, by whoever loads it)."""
    adapter: str | None
    """The folder of the PEFT adapter (with its tokenizer and chat template), or None."""
    task_type: TaskType
    """GENERATION (chat) or CLASSIFICATION (labels)."""
    base_model: str
    """The catalogue name of the base model it was trained from (or is)."""
    job: Job | None = None
    """The tuned model's job; None for a base model."""
    step: int | None = None
    """The checkpoint's step; None for a final model or a base model."""
    builtin: str | None = None
    """The built-in base model (`source` "tiny-chat") whose folder `base` is, which the
    worker writes out on first use; None for any other weights."""


class Served:
    """Resolve, list and delete the models a workspace can run."""

    def __init__(self, ports: Ports, jobs: Jobs, dirs: WorkDirs) -> None:
        self.ports = ports
        self.jobs = jobs
        self.dirs = dirs
        """Where tuned weights are read from (fetched from the bucket into the job folder)."""

    def bases(self) -> Sequence[BaseModel]:
        """Every base model of the catalogue, by name."""
        return self.ports.catalog.all()

    def base_model(self, name: str) -> BaseModel | None:
        """The catalogue's base model called `name`, or None."""
        return self.ports.catalog.get(name)

    def base(self, name: str) -> ServedModel:
        """The base model called `name`, to run as it is; ServedModelNotFound when the
        catalogue has none, InvalidRequest for one that has no weights folder to serve
        (a bare encoder: only classifiers tuned from it have labels)."""
        found = self.ports.catalog.get(name)
        if found is None:
            raise _not_found(name)
        if not found.path:
            raise errors.InvalidRequest(
                f"The model `{name}` is a base encoder without labels; fine-tune it for "
                "classification and use the tuned model.",
                param="model",
            )
        return ServedModel(
            base=found.path,
            adapter=None,
            task_type=found.default_task_type(),
            base_model=found.name,
            builtin=self._builtin_at(found.path),
        )

    def job(self, workspace_id: str, job_id: str, *, name: str) -> Job:
        """The workspace's job whose tuned model `name` is, while that model exists:
        ServedModelNotFound for another workspace's job, an unknown or deleted job and a
        deleted model; ModelNotReady for a job that has not succeeded."""
        try:
            job = self.jobs.get(workspace_id, job_id)
        except errors.JobNotFound:
            raise _not_found(name) from None
        if job.model_deleted_at is not None:
            raise errors.ServedModelNotFound(f"The model `{name}` has been deleted.", param="model")
        if job.status is not JobStatus.SUCCEEDED:
            raise errors.ModelNotReady(
                f"The model `{name}` is not ready: its fine-tuning job is {job.status.value}.",
                param="model",
            )
        return job

    def tuned(
        self, workspace_id: str, job_id: str, *, step: int | None = None, name: str
    ) -> ServedModel:
        """A succeeded job's final model (step None) or its checkpoint at `step`, as the
        weights to run; the errors of `job`, and ServedModelNotFound for a checkpoint that
        is not kept or weights that are gone from disk."""
        job = self.job(workspace_id, job_id, name=name)
        if step is None:
            folder = self.dirs.output(job)
        else:
            kept = next((c for c in job.progress.checkpoints if c.step == step), None)
            if kept is None:
                steps = ", ".join(str(c.step) for c in job.progress.checkpoints) or "none"
                raise errors.ServedModelNotFound(
                    f"The model `{name}` does not exist: its job keeps checkpoints at "
                    f"steps {steps}.",
                    param="model",
                )
            folder = self.dirs.checkpoint(job.id, kept)
        if folder is None or not folder.is_dir():
            raise errors.ServedModelNotFound(
                f"The weights of the model `{name}` are gone.", param="model"
            )
        lora = job.method is Method.LORA
        base = self._weights_base(folder, job) if lora else str(folder)
        return ServedModel(
            base=base,
            adapter=str(folder) if lora else None,
            task_type=job.task_type,
            base_model=job.base_model,
            job=job,
            step=step,
            builtin=self._builtin_at(base),
        )

    def tuned_jobs(self, workspace_id: str) -> list[Job]:
        """The workspace's jobs whose tuned model exists (succeeded, neither the job nor
        its model deleted), newest first."""
        found: list[Job] = []
        after: Cursor | None = None
        while True:
            page = self.ports.jobs.slice(workspace_id, after=after, limit=_PAGE)
            found += [
                j
                for j in page.items
                if j.status is JobStatus.SUCCEEDED and j.model_deleted_at is None
            ]
            if not page.more or not page.items:
                return found
            after = Cursor(page.items[-1].created_at, page.items[-1].id)

    def delete(self, workspace_id: str, job_id: str, *, name: str) -> Job:
        """Delete a job's tuned model (its checkpoints go with it; the job, its files and
        its history stay): the errors of `job`, ServedModelNotFound when another request
        deleted it first, ModelDeployed while a deployment serves it."""
        job = self.job(workspace_id, job_id, name=name)
        deployments.refuse_if_serving(job.id, self.ports.deployments.serving(job.id))
        if not self.ports.jobs.delete_model(job.id, self.ports.clock.now()):
            raise errors.ServedModelNotFound(f"The model `{name}` has been deleted.", param="model")
        return self.jobs.get(workspace_id, job.id)

    def _builtin_at(self, folder: str) -> str | None:
        """The source of the built-in base model written out at `folder`, if any."""
        for model in self.ports.catalog.all():
            if model.source != "path" and model.path and model.path == folder:
                return model.source
        return None

    def _weights_base(self, folder: Path, job: Job) -> str:
        """The whole-model weights an adapter sits on: as its manifest records them (the
        base model, or the full model of an earlier job it continued), else the base
        model's folder. With a bucket the manifest names the worker's disk, so they are
        found as the worker found them: the full model of the job it continued, else the
        base model."""
        if self.ports.artifacts.location() is not None:
            return self._base_of(job)
        try:
            recorded = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            recorded = None
        if isinstance(recorded, dict) and isinstance(recorded.get("weights_base"), str):
            return str(recorded["weights_base"])
        base = self.ports.catalog.get(job.base_model)
        return base.path if base is not None and base.path else job.base_model

    def _base_of(self, job: Job) -> str:
        """The base model's folder, or the full model of the job `job` continued (on this
        server's disk, fetched from the bucket)."""
        parent = self.ports.jobs.get(job.parent.job_id) if job.parent else None
        if job.parent is not None and parent is not None and parent.method is Method.FULL:
            if job.parent.step is None:
                folder = self.dirs.output(parent)
            else:
                kept = [c for c in parent.progress.checkpoints if c.step == job.parent.step]
                folder = self.dirs.checkpoint(parent.id, kept[0]) if kept else None
            if folder is not None:
                return str(folder)
        base = self.ports.catalog.get(job.base_model)
        return base.path if base is not None and base.path else job.base_model


def _not_found(name: str) -> errors.ServedModelNotFound:
    return errors.ServedModelNotFound(
        f"The model `{name}` does not exist or you do not have access to it.", param="model"
    )
