"""The client-facing use-cases: files, keys and jobs, over the ports. Dialects call these."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from tuneyard import errors
from tuneyard.core import ids, paging, states
from tuneyard.core.buckets import Buckets
from tuneyard.core.credentials import Credentials
from tuneyard.core.events import JobEvent
from tuneyard.core.groups import Groups
from tuneyard.core.jobs import Job, JobSpec, Method, Objective, Parent, Progress, TaskType
from tuneyard.core.models import BaseModel
from tuneyard.core.ports import (
    BlobStore,
    BucketRepository,
    Clock,
    EventRepository,
    Exporter,
    FileRepository,
    GroupRepository,
    JobRepository,
    KeyRepository,
    ModelCatalog,
    ObjectStorage,
    Page,
    Sealer,
    Slice,
    TokenCounters,
)
from tuneyard.core.states import JobStatus
from tuneyard.core.uploads import Uploads
from tuneyard.datasets.report import Limits

__all__ = [
    "Exported",
    "ObjectSource",
    "Ports",
    "Service",
    "StartPoint",
    "UploadSource",
]

_S = JobStatus
_TIMELINE_BATCH = 1000


@dataclasses.dataclass(frozen=True, slots=True)
class Ports:
    """Everything the core talks to, wired once in the entry point."""

    jobs: JobRepository
    files: FileRepository
    keys: KeyRepository
    events: EventRepository
    blobs: BlobStore
    objects: ObjectStorage
    catalog: ModelCatalog
    clock: Clock
    counters: TokenCounters
    exporter: Exporter
    sealer: Sealer
    groups: GroupRepository
    buckets: BucketRepository


@dataclasses.dataclass(frozen=True, slots=True)
class UploadSource:
    """A dataset sent with the request itself."""

    filename: str
    chunks: Iterable[bytes]


@dataclasses.dataclass(frozen=True, slots=True)
class ObjectSource:
    """A dataset to read from the S3-compatible object storage: with the client's keys
    (CLOVA), or without (Qianfan BOS: the caller's workspace must own the bucket)."""

    bucket: str
    path: str
    access_key: str | None
    secret_key: str | None


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


class Service:
    """Use-cases a client drives: keys, files, and create/get/list/cancel/delete of jobs."""

    def __init__(
        self, ports: Ports, *, data_dir: Path, limits: Limits, max_active_jobs: int = 0
    ) -> None:
        self.ports = ports
        self.data_dir = data_dir
        self.limits = limits
        """What every dataset is checked against (size, rows, issues listed)."""
        self.max_active_jobs = max_active_jobs
        """Unfinished jobs a workspace may have at once (0: no limit)."""
        self.buckets = Buckets(ports)
        """Object-storage buckets: create one for a workspace, list them, read with their keys."""
        self.uploads = Uploads(ports, limits, model=self.model, buckets=self.buckets)
        """The dataset files: upload, check, list, get, delete."""
        self.credentials = Credentials(ports)
        """Keys and AK/SK pairs: mint them, and resolve who a request acts as."""
        self.groups = Groups(self)
        """Job groups (Qianfan's jobs): create, get, list, delete, list their jobs."""

    # -- models -------------------------------------------------------------------------
    def model(self, name: str) -> BaseModel:
        """The catalogue entry for `name`; raises ModelNotFound."""
        found = self.ports.catalog.get(name)
        if found is None:
            raise errors.ModelNotFound(param="model")
        return found

    # -- jobs ---------------------------------------------------------------------------
    def create_job(self, spec: JobSpec, *, dataset_error: tuple[str, str] | None = None) -> Job:
        """Store a new job (CREATED; the scheduler validates and queues it).

        With `dataset_error` (failureReason, message) the job is created already FAILED:
        the dataset could not be obtained at all, so no compute is ever spent on it.
        """
        self.check(spec)
        now = self.ports.clock.now()
        job_id = ids.new_job_id(spec.dialect, now)
        output_name = spec.output_name.replace("{job_id}", job_id) if spec.output_name else None
        if output_name is not None:
            self._check_model_name(spec.workspace_id, output_name)
        job = Job(
            id=job_id,
            workspace_id=spec.workspace_id,
            display_name=spec.display_name or job_id,
            base_model=spec.base_model,
            task_type=spec.task_type,
            method=spec.method,
            training_file_id=spec.training_file_id,
            hyperparameters=spec.hyperparameters,
            dialect=spec.dialect,
            created_via=spec.created_via,
            objective=spec.objective,
            parent=spec.parent,
            validation_file_id=spec.validation_file_id,
            output_name=output_name,
            echo=dict(spec.echo),
            account=spec.account,
            created_by=spec.created_by,
            modified_by=spec.created_by,
            group_id=spec.group_id,
            metadata=dict(spec.metadata) if spec.metadata is not None else None,
            status=_S.CREATED,
            progress=Progress(),
            created_at=now,
            updated_at=now,
        )
        try:  # the repository is the authority on the quota and on names, atomically
            self.ports.jobs.add(job, max_active=self.max_active_jobs)
        except errors.Throttled:
            raise self._throttled(spec.workspace_id) from None
        except errors.Conflict:
            raise _name_taken(output_name or "") from None
        self.ports.events.append(
            job.id, created_at=now, level="info", type="status", message="Job created"
        )
        if dataset_error is not None:
            code, message = dataset_error
            self._fail_now(job, code, message)
        return self.get_job(spec.workspace_id, job.id)

    def submit_job(self, spec: JobSpec, dataset: UploadSource | ObjectSource) -> Job:
        """Check the request, store its dataset, create the job.

        A dataset missing from object storage still creates the job, already FAILED with
        "File not found" (CLOVA's model: the failure reason lives on the task).
        """
        self.check(spec)
        try:
            if isinstance(dataset, UploadSource):
                stored = self.uploads.upload(
                    spec.workspace_id, dataset.filename, dataset.chunks, purpose="fine-tune"
                )
            else:
                stored = self.uploads.import_object(
                    spec.workspace_id,
                    bucket=dataset.bucket,
                    path=dataset.path,
                    access_key=dataset.access_key,
                    secret_key=dataset.secret_key,
                )
        except errors.FileNotFound as exc:
            return self.create_job(spec, dataset_error=("File not found", exc.message))
        try:
            return self.create_job(dataclasses.replace(spec, training_file_id=stored.id))
        except errors.TuneyardError:  # e.g. the quota filled meanwhile: drop the dataset
            self.ports.files.mark_deleted(stored.id, self.ports.clock.now())
            self.ports.blobs.delete(stored.blob_key)
            raise

    def check(self, spec: JobSpec) -> None:
        """Every reason a job spec cannot run: unknown model, wrong task type, bad values,
        missing files or parent, and a workspace at its quota of unfinished jobs."""
        # Early, before a dataset is stored; the repository's `add` is the authority.
        if self.max_active_jobs and (
            self.ports.jobs.active_count(spec.workspace_id) >= self.max_active_jobs
        ):
            raise self._throttled(spec.workspace_id)
        model = self.model(spec.base_model)
        if spec.task_type not in model.task_types:
            kinds = ", ".join(k.value.upper() for k in model.task_types)
            raise errors.UnsupportedFeature(
                f"model {model.name} supports {kinds}, not {spec.task_type.value.upper()}",
                param="taskType",
            )
        problems = spec.hyperparameters.problems()
        if problems:
            raise errors.InvalidRequest("; ".join(problems), param="hyperparameters")
        if spec.group_id is not None:
            group = self.groups.get(spec.workspace_id, spec.group_id, param="group")
            if (group.base_model, group.objective) != (spec.base_model, spec.objective):
                raise errors.InvalidRequest(
                    f"job {group.id} trains {group.base_model} ({group.objective.value}); "
                    f"its runs cannot train {spec.base_model} ({spec.objective.value})",
                    param="group",
                )
        if spec.objective is not Objective.SFT and spec.task_type is not TaskType.GENERATION:
            raise errors.UnsupportedFeature(
                f"{spec.objective.value.upper()} trains generation models only, not CLASSIFICATION",
                param="objective",
            )
        for file_id, param in (
            (spec.training_file_id, "training_file"),
            (spec.validation_file_id, "validation_file"),
        ):
            if file_id is not None:
                self.uploads.get_file(spec.workspace_id, file_id, param=param)
        if spec.parent is not None:
            parent = self.start_point(spec.workspace_id, spec.parent, param="parent")
            if parent.job.base_model != spec.base_model:
                raise errors.InvalidRequest(
                    f"job {parent.job.id} was trained from {parent.job.base_model}, "
                    f"not {spec.base_model}; a job continues from the same base model",
                    param="parent",
                )
            if parent.job.task_type is not spec.task_type:
                raise errors.InvalidRequest(
                    f"job {parent.job.id} is a {parent.job.task_type.value.upper()} job; "
                    f"it cannot be continued as {spec.task_type.value.upper()}",
                    param="parent",
                )

    def start_point(
        self, workspace_id: str, parent: Parent, *, param: str | None = None
    ) -> StartPoint:
        """The weights of a job of the workspace: its checkpoint at `parent.step`, or with
        step None its final model. Raises JobNotFound, CheckpointNotFound (no such step, or
        pruned), or InvalidTransition (no final model: the job did not succeed)."""
        job = self.get_job(workspace_id, parent.job_id, param=param)
        if parent.step is None:
            if job.status is not _S.SUCCEEDED or not job.output_path:
                raise errors.InvalidTransition(
                    f"job {job.id} is {job.status.value} and has no final model; "
                    "name one of its checkpoints instead",
                    param=param,
                )
            path = Path(job.output_path)
        else:
            found = next(
                (c for c in job.progress.checkpoints if c.get("step") == parent.step), None
            )
            if found is None or not found.get("path"):
                steps = ", ".join(str(c.get("step")) for c in job.progress.checkpoints)
                raise errors.CheckpointNotFound(
                    f"job {job.id} has no checkpoint at step {parent.step} "
                    f"(it has: {steps or 'none'})",
                    param=param,
                )
            path = Path(str(found["path"]))
        if not path.is_dir():
            raise errors.CheckpointNotFound(f"the weights of job {job.id} are gone", param=param)
        return StartPoint(path=path, method=job.method, job=job, step=parent.step)

    def checkpoints(self, workspace_id: str, job_id: str) -> list[dict[str, object]]:
        """The job's checkpoints on disk, oldest first: step, epoch, path and metrics."""
        return list(self.get_job(workspace_id, job_id).progress.checkpoints)

    def export_model(
        self, workspace_id: str, job_id: str, *, step: int | None, merged: bool
    ) -> Exported:
        """Write a job's checkpoint (or, step None, final model) as a standalone Hugging Face
        directory under `<job dir>/exports/`. A LoRA result is exported as its PEFT adapter,
        or with `merged` merged into the base (full-model layout). An export already on disk
        is returned as it is (exporters write the directory whole, then rename it)."""
        source = self.start_point(workspace_id, Parent(job_id, step))
        whole = merged or source.method is Method.FULL
        merged = merged and source.method is Method.LORA  # a full model is merged already
        name = ("final" if step is None else f"step-{step}") + ("-merged" if merged else "")
        target = self.job_dir(job_id) / "exports" / name
        if not target.is_dir():
            try:
                self.ports.exporter.export(source.path, target, merged=merged)
            except ValueError as exc:
                raise errors.ExportFailed(f"export of job {job_id} failed: {exc}") from exc
        return Exported(path=target, format="full" if whole else "peft")

    def name_export(self, workspace_id: str, job_id: str, step: int, model_name: str) -> None:
        """Record that the checkpoint at `step` was exported as `model_name`, a name no
        base model or live tuned model of the workspace has (else Conflict)."""
        job = self.get_job(workspace_id, job_id)
        self._check_model_name(workspace_id, model_name)
        checkpoints = [
            {**c, "model_name": model_name} if c.get("step") == step else c
            for c in job.progress.checkpoints
        ]
        progress = dataclasses.replace(job.progress, checkpoints=checkpoints)
        self.ports.jobs.save_progress(job.id, progress, self.ports.clock.now())

    def get_job(self, workspace_id: str, job_id: str, *, param: str | None = None) -> Job:
        """A job of the caller's workspace; another workspace's job is simply not found.

        `param` names the request field that referred to the job (the message then names
        the job too); None when the job is the request's own subject."""
        job = self.ports.jobs.get(job_id)
        if job is None or job.deleted or job.workspace_id != workspace_id:
            if param is None:
                raise errors.JobNotFound()
            raise errors.JobNotFound(f"job {job_id} not found", param=param)
        return job

    def job_by_output(self, workspace_id: str, output_name: str) -> Job | None:
        """The workspace's job whose tuned model is published as `output_name`, if any;
        never for a base model's name, which always means the base model."""
        if self.ports.catalog.get(output_name) is not None:
            return None
        return self.ports.jobs.find_by_output_name(workspace_id, output_name)

    def _check_model_name(self, workspace_id: str, name: str) -> None:
        """Refuse (Conflict) a name for a tuned model that a base model or a live tuned
        model of the workspace already has; the repository enforces the latter again,
        atomically, when the job is stored."""
        if self.ports.catalog.get(name) is not None:
            raise errors.Conflict(
                f"Model instance {name} already exists as a base model, please specify "
                "another name",
                param="model_name",
            )
        if self.ports.jobs.find_by_output_name(workspace_id, name) is not None:
            raise _name_taken(name)

    def _throttled(self, workspace_id: str) -> errors.Throttled:
        """The refusal of a job past the workspace's quota of unfinished jobs."""
        active = max(self.ports.jobs.active_count(workspace_id), self.max_active_jobs)
        return errors.Throttled(
            f"Too many fine-tune job in running, please retry later. ({active} of "
            f"{self.max_active_jobs} jobs of this workspace are waiting or running)"
        )

    def job_log(
        self, workspace_id: str, job_id: str, *, first: int, count: int
    ) -> tuple[list[JobEvent], int]:
        """`count` events of the job's timeline from the `first` (1-based), and how many
        there are in all."""
        self.get_job(workspace_id, job_id)
        events = self.ports.events.list(job_id, after_seq=max(0, first - 1), limit=count)
        return events, self.ports.events.count(job_id)

    def list_jobs(
        self, workspace_id: str, *, offset: int, limit: int, base_model: str | None = None
    ) -> Page:
        """A page of the workspace's jobs (of one base model, if given), newest first."""
        return self.ports.jobs.page(workspace_id, offset=offset, limit=limit, base_model=base_model)

    def list_jobs_after(
        self,
        workspace_id: str,
        *,
        marker: str | None,
        limit: int,
        oldest_first: bool = False,
        group_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Slice[Job]:
        """Up to `limit` of the workspace's jobs (of one group, with these metadata pairs,
        if given) after the job named `marker` (exclusive; it may have been deleted since),
        newest first or oldest first."""
        after = (
            paging.cursor_at(marker, self.ports.jobs.get(marker), workspace_id) if marker else None
        )
        return self.ports.jobs.slice(
            workspace_id,
            after=after,
            limit=limit,
            oldest_first=oldest_first,
            group_id=group_id,
            metadata=metadata,
        )

    def latest_events(
        self, workspace_id: str, job_id: str, *, before_seq: int | None, limit: int
    ) -> Slice[JobEvent]:
        """Up to `limit` of the job's events before `before_seq` (from the newest, if None),
        newest first, and whether older ones follow."""
        self.get_job(workspace_id, job_id)
        found = self.ports.events.latest(job_id, before_seq=before_seq, limit=limit + 1)
        return Slice(found[:limit], len(found) > limit)

    def timeline(self, job_id: str) -> Iterator[JobEvent]:
        """Every event of a job, oldest first, read from the repository in batches."""
        after = 0
        while True:
            batch = self.ports.events.list(job_id, after_seq=after, limit=_TIMELINE_BATCH)
            yield from batch
            if len(batch) < _TIMELINE_BATCH:
                return
            after = batch[-1].seq

    def job_events(self, workspace_id: str, job_id: str, *, after_seq: int = 0) -> list[JobEvent]:
        """The job's timeline (validation issues, progress, outcome)."""
        self.get_job(workspace_id, job_id)
        return self.ports.events.list(job_id, after_seq=after_seq, limit=1000)

    def cancel_job(self, workspace_id: str, job_id: str, *, by: str | None = None) -> Job:
        """Stop a job: RUNNING goes CANCELLING (the scheduler stops the worker), others CANCELLED;
        a job already CANCELLING is left as it is. `by` (who cancels) becomes the job's
        `modified_by`.

        Raises InvalidTransition for a finished job.
        """
        job = self.get_job(workspace_id, job_id)
        for _ in range(5):  # the status may move under us (e.g. QUEUED -> RUNNING)
            if states.is_terminal(job.status):
                raise errors.InvalidTransition(f"the job has already {job.status.value}")
            if job.status is _S.CANCELLING:
                return job  # already stopping: the worker ends at its next step boundary
            alive = job.status in (_S.RUNNING, _S.PAUSING)  # a worker must be stopped
            target = _S.CANCELLING if alive else _S.CANCELLED
            fields: dict[str, object] = {"modified_by": by} if by else {}
            if target is _S.CANCELLED:
                fields["finished_at"] = self.ports.clock.now()
            if self.move(job, target, **fields):
                return self.get_job(workspace_id, job_id)
            job = self.get_job(workspace_id, job_id)
        raise errors.Conflict("the job changed state repeatedly; try again")

    def pause_job(self, workspace_id: str, job_id: str, *, by: str | None = None) -> Job:
        """Pause a RUNNING job: it goes PAUSING, its worker saves a checkpoint at the next
        step boundary and exits, and the job is PAUSED (its worker slot freed). A job
        already pausing or paused is returned as it is; others raise InvalidTransition."""
        job = self.get_job(workspace_id, job_id)
        if job.status in (_S.PAUSING, _S.PAUSED):
            return job
        if job.status is not _S.RUNNING:
            raise errors.InvalidTransition(
                f"only a running job can be paused; it is {job.status.value}"
            )
        fields: dict[str, object] = {"modified_by": by} if by else {}
        if not self.move(job, _S.PAUSING, **fields):
            raise errors.Conflict("the job changed state meanwhile; try again")
        return self.get_job(workspace_id, job_id)

    def resume_job(self, workspace_id: str, job_id: str, *, by: str | None = None) -> Job:
        """Queue a PAUSED job again; its worker resumes from the newest checkpoint. A job
        still PAUSING raises Conflict (retry once it is paused); a RUNNING or QUEUED job
        is returned as it is; a finished one raises InvalidTransition."""
        job = self.get_job(workspace_id, job_id)
        if job.status in (_S.RUNNING, _S.QUEUED):
            return job
        if job.status is _S.PAUSING:
            raise errors.Conflict("the job is still pausing; resume it once it is paused")
        if job.status is not _S.PAUSED:
            raise errors.InvalidTransition(
                f"only a paused job can be resumed; it is {job.status.value}"
            )
        fields: dict[str, object] = {"modified_by": by} if by else {}
        if not self.move(job, _S.QUEUED, queued_at=self.ports.clock.now(), **fields):
            raise errors.Conflict("the job changed state meanwhile; try again")
        return self.get_job(workspace_id, job_id)

    def delete_job(self, workspace_id: str, job_id: str, *, by: str | None = None) -> None:
        """Delete a job; a job still in progress is cancelled first (CLOVA's DELETE)."""
        job = self.get_job(workspace_id, job_id)
        if not states.is_terminal(job.status):
            job = self.cancel_job(workspace_id, job_id, by=by)
        self.ports.jobs.mark_deleted(job.id, self.ports.clock.now())
        if states.is_terminal(job.status):
            self.purge_outputs(job.id)

    def purge_outputs(self, job_id: str) -> None:
        """Remove a job's working directory and outputs from disk."""
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)

    def job_dir(self, job_id: str) -> Path:
        """Where a job's spec, worker log and outputs live."""
        return self.data_dir / "jobs" / job_id

    # -- helpers shared with the lifecycle --------------------------------------------
    def move(self, job: Job, new: JobStatus, **fields: object) -> bool:
        """Compare-and-set `job.status -> new` through the transition table; log it."""
        states.check_transition(job.status, new)
        now = self.ports.clock.now()
        if not self.ports.jobs.transition(job.id, job.status, new, updated_at=now, **fields):
            return False
        self.ports.events.append(
            job.id,
            created_at=now,
            level="error" if new is _S.FAILED else "info",
            type="status",
            message=f"Status {job.status.value} -> {new.value}",
            data={"from": job.status.value, "to": new.value},
        )
        return True

    def _fail_now(self, job: Job, code: str, message: str) -> None:
        """CREATED -> FAILED with a failure reason (nothing was ever run)."""
        progress = dataclasses.replace(job.progress, weights_saved=False)
        self.ports.jobs.save_progress(job.id, progress, self.ports.clock.now())
        self.move(
            job,
            _S.FAILED,
            error_code=code,
            error_message=message,
            finished_at=self.ports.clock.now(),
        )


def _name_taken(name: str) -> errors.Conflict:
    """The refusal of a tuned model's name another live job of the workspace has."""
    return errors.Conflict(
        f"Model instance {name} already exists, please specify a suffix", param="model_name"
    )
