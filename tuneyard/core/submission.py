"""Submitting a job: check the request in full, store its dataset, create the job."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from tuneyard import errors
from tuneyard.core.catalog import Models
from tuneyard.core.estimates import Estimates
from tuneyard.core.group_admin import Groups
from tuneyard.core.jobs import PRIORITY_MAX, PRIORITY_MIN, Job, JobSpec, Progress
from tuneyard.core.ports import Ports
from tuneyard.core.queries import Jobs, name_taken
from tuneyard.core.states import JobStatus
from tuneyard.core.transitions import Transitions
from tuneyard.core.uploads import Uploads
from tuneyard.core.weights import Weights
from tuneyard.kinds import Objective, TaskType

__all__ = ["ObjectSource", "Submission", "UploadSource"]


@dataclasses.dataclass(frozen=True, slots=True)
class UploadSource:
    """A dataset sent with the request itself."""

    filename: str
    chunks: Iterable[bytes]


@dataclasses.dataclass(frozen=True, slots=True)
class ObjectSource:
    """A dataset to read from the S3-compatible object storage: with the client's keys, or
    without (the caller's workspace must then own the bucket)."""

    bucket: str
    path: str
    access_key: str | None
    secret_key: str | None


class Submission:
    """Create jobs: `check` a spec, `create` a job from it, or `submit` one with its dataset."""

    def __init__(
        self,
        ports: Ports,
        *,
        jobs: Jobs,
        models: Models,
        uploads: Uploads,
        groups: Groups,
        weights: Weights,
        transitions: Transitions,
        max_active_jobs: int = 0,
        estimates: Estimates | None = None,
    ) -> None:
        self.ports = ports
        self.jobs = jobs
        self.models = models
        self.uploads = uploads
        self.groups = groups
        self.weights = weights
        self.transitions = transitions
        self.max_active_jobs = max_active_jobs
        """Unfinished jobs a workspace may have at once (0: no limit)."""
        self.estimates = estimates
        """Refuses a job whose estimate does not fit or is over the policy (None: off)."""

    def create(self, spec: JobSpec, *, dataset_error: tuple[str, str] | None = None) -> Job:
        """Store a new job (CREATED; the scheduler validates and queues it).

        With `dataset_error` (failureReason, message) the job is created already FAILED:
        the dataset could not be obtained at all, so no compute is ever spent on it.
        """
        self.check(spec)
        now = self.ports.clock.now()
        job_id = spec.id_style.mint(now)
        output_name = spec.output_name.replace("{job_id}", job_id) if spec.output_name else None
        if output_name is not None:
            self.jobs.check_output_name(spec.workspace_id, output_name)
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
            priority=spec.priority,
            status=JobStatus.CREATED,
            progress=Progress(),
            created_at=now,
            updated_at=now,
        )
        try:  # the repository is the authority on the quota and on names, atomically
            self.ports.jobs.add(job, max_active=self.max_active_jobs)
        except errors.Throttled:
            raise self._throttled(spec.workspace_id) from None
        except errors.Conflict:
            raise name_taken(output_name or "") from None
        self.transitions.created(job)
        if dataset_error is not None:
            code, message = dataset_error
            self.transitions.fail(job, code, message)
        return self.jobs.get(spec.workspace_id, job.id)

    def submit(self, spec: JobSpec, dataset: UploadSource | ObjectSource) -> Job:
        """Check the request, store its dataset, create the job.

        A dataset missing from object storage still creates the job, already FAILED with
        "File not found" (the failure reason lives on the job).
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
            return self.create(spec, dataset_error=("File not found", exc.message))
        try:
            return self.create(dataclasses.replace(spec, training_file_id=stored.id))
        except errors.TuneyardError:  # e.g. the quota filled meanwhile: drop the dataset
            self.ports.files.mark_deleted(stored.id, self.ports.clock.now())
            self.ports.blobs.delete(stored.blob_key)
            raise

    def check(self, spec: JobSpec) -> None:
        """Every reason a job spec cannot run: unknown model, wrong task type, bad values,
        missing files or parent, a workspace at its quota of unfinished jobs, and an
        estimate that does not fit the machine or is over the policy (`Estimates.check`)."""
        # Early, before a dataset is stored; the repository's `add` is the authority.
        if self.max_active_jobs and (
            self.ports.jobs.active_count(spec.workspace_id) >= self.max_active_jobs
        ):
            raise self._throttled(spec.workspace_id)
        model = self.models.get(spec.base_model)
        if spec.task_type not in model.task_types:
            kinds = ", ".join(k.value.upper() for k in model.task_types)
            raise errors.UnsupportedFeature(
                f"model {model.name} supports {kinds}, not {spec.task_type.value.upper()}",
                param="taskType",
            )
        problems = spec.hyperparameters.problems()
        if problems:
            raise errors.InvalidRequest("; ".join(problems), param="hyperparameters")
        if not PRIORITY_MIN <= spec.priority <= PRIORITY_MAX:
            raise errors.InvalidRequest(
                f"priority must be between {PRIORITY_MIN} and {PRIORITY_MAX}", param="priority"
            )
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
            parent = self.weights.start_point(spec.workspace_id, spec.parent, param="parent")
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
        if self.estimates is not None:
            self.estimates.check(spec)

    def _throttled(self, workspace_id: str) -> errors.Throttled:
        """The refusal of a job past the workspace's quota of unfinished jobs."""
        active = max(self.ports.jobs.active_count(workspace_id), self.max_active_jobs)
        return errors.Throttled(
            f"Too many fine-tune job in running, please retry later. ({active} of "
            f"{self.max_active_jobs} jobs of this workspace are waiting or running)"
        )
