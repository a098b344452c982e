"""The ports the core needs from the outside world; storage and scheduler implement them.

Every port has an in-memory fake (`tuneyard.storage.memory`, `tuneyard.scheduler.executors.
fake`) that passes the same contract tests as the real backend.
"""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from tuneyard.core.artifacts import LocalArtifacts
from tuneyard.core.buckets import Bucket
from tuneyard.core.deployments import Deployment, DeploymentStatus
from tuneyard.core.events import JobEvent
from tuneyard.core.files import StoredFile
from tuneyard.core.groups import JobGroup
from tuneyard.core.jobs import Job, Progress, StorageRef, TrainingSpec
from tuneyard.core.models import BaseModel
from tuneyard.core.paging import Cursor, Slice
from tuneyard.core.published import PublishedModel, PublishedVersion
from tuneyard.core.states import JobStatus
from tuneyard.datasets.profile import Counter
from tuneyard.kinds import Objective, TaskType

__all__ = [
    "ApiKey",
    "Artifacts",
    "BlobStore",
    "BucketRepository",
    "Clock",
    "Cursor",
    "DeploymentPage",
    "DeploymentRepository",
    "EventRepository",
    "Executor",
    "Exporter",
    "Fence",
    "FilePage",
    "FileRepository",
    "GroupRepository",
    "JobRepository",
    "KeyRepository",
    "ModelCatalog",
    "ObjectStorage",
    "PublishedRepository",
    "Page",
    "Ports",
    "Sealer",
    "Slice",
    "TokenCounters",
    "WorkerHandle",
]


class Clock(Protocol):
    """Where the core reads the time (aware UTC)."""

    def now(self) -> datetime: ...


@dataclasses.dataclass(frozen=True, slots=True)
class Page:
    """A slice of a listing in the one stable order (created_at desc, id desc)."""

    items: list[Job]
    total: int


@dataclasses.dataclass(frozen=True, slots=True)
class FilePage:
    """A slice of a workspace's live files in the one stable order (created_at desc, id desc)."""

    items: list[StoredFile]
    total: int


@dataclasses.dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored bearer credential: only the SHA-256 of the key is kept.

    The key acts for `account` (the main account; by default its workspace's name) or one
    of its sub-accounts (`subaccount`), in `workspace_id` by default and in any of
    `workspaces` when a request names one (a dialect's workspace header).
    """

    id: str
    workspace_id: str
    key_prefix: str
    key_hash: str
    created_at: datetime
    revoked_at: datetime | None = None
    account: str | None = None
    subaccount: str | None = None
    workspaces: tuple[str, ...] = ()
    access_key: str | None = None
    """For an AK/SK pair (signed requests): the access key ID; None for a bearer key."""
    secret_sealed: str | None = None
    """For an AK/SK pair: the secret key, sealed (it must be recoverable to check HMACs)."""

    @property
    def main_account(self) -> str:
        """The account the key's work is billed to (its workspace's name if none is set)."""
        return self.account or self.workspace_id

    @property
    def actor(self) -> str:
        """Who acts with this key: the sub-account, or else the main account."""
        return self.subaccount or self.main_account


@dataclasses.dataclass(frozen=True, slots=True)
class Fence:
    """A condition on a job's lease that a status move also compares, so that a scheduler
    that lost a job, or acts on a stale read, cannot move it under its new owner."""

    held_by: str | None = None
    """Move only while this scheduler holds the job's lease."""
    lapsed_by: datetime | None = None
    """Move only while the job's lease had run out by then (or it has none)."""

    def admits(self, owner: str | None, expires: datetime | None) -> bool:
        """Whether a lease held by `owner` until `expires` passes the fence."""
        if self.held_by is not None and owner != self.held_by:
            return False
        return self.lapsed_by is None or expires is None or expires <= self.lapsed_by


class JobRepository(Protocol):
    """Jobs, with status changes as compare-and-set."""

    def add(self, job: Job, *, max_active: int = 0) -> None:
        """Store a new job, atomically checked against the other jobs of its workspace.

        Raises errors.Throttled (nothing stored) when `max_active` > 0 and the workspace
        already has that many unfinished jobs, and errors.Conflict when another live job of
        the workspace has the same `output_name`; the count or name is never read apart
        from the insert, so concurrent adds cannot both pass."""
        ...

    def get(self, job_id: str) -> Job | None: ...

    def get_many(self, job_ids: Sequence[str]) -> dict[str, Job]:
        """The jobs among `job_ids` that exist (deleted or not), by id: one read for many
        (see `tuneyard.api.offload`)."""
        ...

    def page(
        self, workspace_id: str, *, offset: int, limit: int, base_model: str | None = None
    ) -> Page:
        """The workspace's live jobs (of one base model, if given), newest first."""
        ...

    def slice(
        self,
        workspace_id: str,
        *,
        after: Cursor | None,
        limit: int,
        oldest_first: bool = False,
        group_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Slice[Job]:
        """Up to `limit` of the workspace's live jobs (of one group, with every one of these
        metadata pairs, if given) strictly after `after`, newest first (or oldest first),
        and whether more follow."""
        ...

    def find_by_output_name(self, workspace_id: str, output_name: str) -> Job | None:
        """The workspace's live (not deleted) job whose tuned model has this name."""
        ...

    def with_status(self, status: JobStatus, *, limit: int = 100) -> list[Job]: ...

    def transition(
        self,
        job_id: str,
        expected: JobStatus,
        new: JobStatus,
        fence: Fence | None = None,
        /,
        **fields: Any,
    ) -> bool:
        """Set `new` (and `fields`) only if the job is still `expected` and passes the
        `fence` on its lease, if any; False otherwise."""
        ...

    def save_progress(self, job_id: str, progress: Progress, updated_at: datetime) -> None: ...

    def mark_deleted(self, job_id: str, updated_at: datetime) -> None: ...

    def delete_model(self, job_id: str, deleted_at: datetime) -> bool:
        """Record that the job's tuned model was deleted (the job itself stays), once:
        True if this call deleted it, False if it was already deleted."""
        ...

    def set_priority(self, job_id: str, priority: int, updated_at: datetime) -> bool:
        """Change an unfinished job's priority; False when it is finished (or missing)."""
        ...

    def claim_next(self, owner: str, now: datetime, lease_until: datetime) -> Job | None:
        """Move the next QUEUED job to RUNNING under a lease held by `owner`; `attempts`
        is left as it is (it counts lost workers, not claims).

        The fair queue: the workspace with the fewest running jobs (RUNNING, CANCELLING,
        PAUSING), then the fewest started within `jobs.FAIR_SHARE_WINDOW`, then the fewest
        waiting; within it the highest priority, the oldest `queued_at`, the id."""
        ...

    def renew_lease(self, job_id: str, owner: str, lease_until: datetime) -> bool:
        """Extend the lease of a job `owner` holds while it validates or has a worker."""
        ...

    def expired_leases(self, now: datetime) -> list[Job]:
        """VALIDATING, RUNNING, CANCELLING or PAUSING jobs whose lease ran out, or that
        have none (their owner is gone: nothing else would ever move them)."""
        ...

    def running_count(self) -> int: ...

    def count_by_state(
        self, statuses: frozenset[JobStatus] | None = None
    ) -> dict[tuple[str, JobStatus], int]:
        """How many live (not deleted) jobs each workspace has in each status (of
        `statuses` only, if given), in one query; pairs with no job are absent."""
        ...

    def active_count(self, workspace_id: str) -> int:
        """The workspace's jobs that have not finished (neither terminal nor deleted)."""
        ...


class FileRepository(Protocol):
    """Metadata of uploaded files."""

    def add(self, file: StoredFile) -> None: ...

    def get(self, file_id: str) -> StoredFile | None:
        """The record, deleted or not (jobs still read a deleted file's bytes)."""
        ...

    def page(self, workspace_id: str, *, offset: int, limit: int) -> FilePage:
        """The workspace's files that are not deleted, newest first."""
        ...

    def slice(
        self,
        workspace_id: str,
        *,
        after: Cursor | None,
        limit: int,
        oldest_first: bool = False,
        purpose: str | None = None,
    ) -> Slice[StoredFile]:
        """Up to `limit` live files (of one purpose, if given) strictly after `after`."""
        ...

    def mark_deleted(self, file_id: str, deleted_at: datetime) -> None: ...


class GroupRepository(Protocol):
    """Job groups: named containers of runs."""

    def add(self, group: JobGroup) -> None: ...

    def get(self, group_id: str) -> JobGroup | None:
        """The group, deleted or not, or None."""
        ...

    def slice(
        self,
        workspace_id: str,
        *,
        after: Cursor | None,
        limit: int,
        oldest_first: bool = False,
        base_model: str | None = None,
        objective: Objective | None = None,
    ) -> Slice[JobGroup]:
        """Up to `limit` of the workspace's live groups (filtered) strictly after `after`,
        newest first (or oldest first), and whether more follow."""
        ...

    def mark_deleted(self, group_id: str) -> None: ...


class KeyRepository(Protocol):
    """Hashed API keys."""

    def add(self, key: ApiKey) -> None: ...

    def find_by_hash(self, key_hash: str) -> ApiKey | None: ...

    def find_by_access_key(self, access_key: str) -> ApiKey | None: ...


class EventRepository(Protocol):
    """The append-only timeline of each job."""

    def append(
        self,
        job_id: str,
        *,
        created_at: datetime,
        level: str,
        type: str,
        message: str,
        data: dict[str, Any] | None = None,
    ) -> JobEvent: ...

    def list(self, job_id: str, *, after_seq: int = 0, limit: int = 100) -> list[JobEvent]: ...

    def latest(
        self, job_id: str, *, before_seq: int | None = None, limit: int = 100
    ) -> builtins.list[JobEvent]:
        """Up to `limit` events before `before_seq` (all, if None), newest first."""
        ...

    def count(self, job_id: str) -> int:
        """How many events the job's timeline holds (its last `seq`)."""
        ...


class BlobStore(Protocol):
    """Bytes by key (uploaded datasets): on local disk, or in a bucket with a local cache;
    the server's checks read them by local path (`path`)."""

    def put(self, key: str, chunks: Iterable[bytes], *, limit: int) -> tuple[int, str, bool]:
        """Store up to `limit + 1` bytes; return (bytes kept, sha256 hex, truncated)."""
        ...

    def path(self, key: str) -> Path: ...

    def delete(self, key: str) -> None: ...


class Artifacts(Protocol):
    """The copy of jobs' folders outside the server (a bucket), fetched into
    `<data dir>/jobs/<job id>/<part>` on demand (see `tuneyard.core.artifacts`)."""

    def location(self) -> StorageRef | None:
        """The bucket workers read and write, or None when the server's disk is all."""
        ...

    def fetch(self, job_id: str, part: str) -> None:
        """Bring the folder `part` of the job (output, checkpoints/step-…, exports/…) onto
        local disk when it is not there and the bucket has it (whole, or not at all)."""
        ...

    def store(self, job_id: str, part: str) -> None:
        """Copy the job's local folder `part` into the bucket."""
        ...

    def forget(self, job_id: str) -> None:
        """Delete every object of the job."""
        ...


class Sealer(Protocol):
    """Encrypts secrets that must be recoverable (AK/SK secret keys) for storage."""

    def seal(self, secret: str) -> str: ...

    def open(self, sealed: str) -> str: ...


class BucketRepository(Protocol):
    """Object-storage buckets: owner workspace and key pair (see `tuneyard.core.buckets`)."""

    def add(self, bucket: Bucket) -> None:
        """Insert a bucket; raises errors.Conflict if its name or access key is taken."""
        ...

    def get(self, name: str) -> Bucket | None: ...

    def owned_by(self, workspace_id: str) -> builtins.list[Bucket]:
        """The workspace's buckets, by name."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class DeploymentPage:
    """A page of a workspace's deployments (created_at desc, id desc) and how many it has."""

    items: builtins.list[Deployment]
    total: int


class DeploymentRepository(Protocol):
    """Deployments, their names and the decoding slots they reserve (`core.deployments`)."""

    def add(self, deployment: Deployment, *, total_slots: int) -> None:
        """Insert a new deployment and reserve its capacity, atomically across concurrent
        adds: DeploymentNameTaken when a deployment of the workspace has its name,
        CapacityExceeded when the live deployments' capacities would pass `total_slots`."""
        ...

    def get(self, deployment_id: str) -> Deployment | None:
        """The deployment (any workspace), or None once removed."""
        ...

    def find(self, workspace_id: str, name: str) -> Deployment | None:
        """The workspace's deployment called `name`, or None."""
        ...

    def page(self, workspace_id: str, *, offset: int, limit: int) -> DeploymentPage:
        """A page of the workspace's deployments in the stable order, and their count."""
        ...

    def slice(self, workspace_id: str, *, after: Cursor | None, limit: int) -> Slice[Deployment]:
        """The workspace's deployments strictly after the cursor in the stable order."""
        ...

    def serving(self, job_id: str) -> builtins.list[Deployment]:
        """The deployments (any status) serving the job's tuned model or its checkpoints."""
        ...

    def transition(
        self,
        deployment_id: str,
        old: DeploymentStatus,
        new: DeploymentStatus,
        updated_at: datetime,
        *,
        error: str | None = None,
    ) -> bool:
        """Move `old` → `new` (compare-and-set), releasing the slots when `new` holds none;
        False when the deployment is not in `old` (or is gone)."""
        ...

    def scale(
        self, deployment_id: str, capacity: int, updated_at: datetime, *, total_slots: int
    ) -> Deployment | None:
        """Set a live deployment's capacity, reserving or releasing the difference
        atomically: CapacityExceeded when live capacities would pass `total_slots`; None
        when the deployment is gone or not live."""
        ...

    def remove(self, deployment_id: str) -> bool:
        """Delete the record (its slots with it); False when it was already gone."""
        ...

    def reserved(self) -> int:
        """Decoding slots the live deployments hold, all workspaces together."""
        ...

    def retarget(self, deployment: Deployment) -> Deployment | None:
        """Store what a RUNNING deployment serves now (`model`, `base_model`, `job_id`,
        `step`, `adapter`, `attributes`, `updated_at` of `deployment`), compare-and-set on
        RUNNING; None when it is gone or no longer RUNNING."""
        ...


class PublishedRepository(Protocol):
    """Published models and their numbered versions (`core.published`)."""

    def add_model(self, model: PublishedModel) -> None:
        """Insert a published model: PublishedNameTaken when one of the workspace has its
        name (atomically across concurrent adds)."""
        ...

    def get_model(self, model_id: str) -> PublishedModel | None:
        """The published model (any workspace), or None once removed."""
        ...

    def find_model(self, workspace_id: str, name: str) -> PublishedModel | None:
        """The workspace's published model called `name`, or None."""
        ...

    def slice_models(
        self, workspace_id: str, *, after: Cursor | None, limit: int, oldest_first: bool = False
    ) -> Slice[PublishedModel]:
        """The workspace's published models strictly after the cursor in the stable order
        (created_at desc, id desc; reversed with `oldest_first`)."""
        ...

    def remove_model(self, model_id: str) -> bool:
        """Delete the model and its versions; False when it was already gone."""
        ...

    def add_version(
        self, version: PublishedVersion, updated_at: datetime
    ) -> PublishedVersion | None:
        """Insert a version numbered one past its model's highest (atomically across
        concurrent adds) and touch the model; the numbered version, or None when the
        model is gone."""
        ...

    def get_version(self, version_id: str) -> PublishedVersion | None:
        """The version (any workspace), or None once removed."""
        ...

    def versions(self, model_id: str) -> builtins.list[PublishedVersion]:
        """The model's versions, by number."""
        ...

    def remove_version(self, version_id: str, updated_at: datetime) -> bool:
        """Delete the version and touch its model; False when it was already gone."""
        ...


class ObjectStorage(Protocol):
    """An S3-compatible store that datasets can be read from (a vendor's object storage).
    The store checks the key pair: an endpoint itself, the local one by bucket record."""

    def open(self, bucket: str, path: str, *, access_key: str, secret_key: str) -> Iterator[bytes]:
        """The object's bytes in chunks; raises errors.FileNotFound if it is absent or the
        pair does not open the bucket (no byte of the object is read then)."""
        ...

    def add_bucket(self, name: str) -> None:
        """Make room for a newly recorded bucket (the local store makes its folder)."""
        ...


class ModelCatalog(Protocol):
    """The base models clients may name."""

    def get(self, name: str) -> BaseModel | None: ...

    def all(self) -> Sequence[BaseModel]: ...


class TokenCounters(Protocol):
    """Token counters for base models (their own tokenizer and chat template, no torch)."""

    def counter(self, model: BaseModel, task_type: TaskType) -> Counter | None:
        """A counter for the model, or None when it has no fast tokenizer."""
        ...


class WorkerHandle(Protocol):
    """One running training worker."""

    def lines(self) -> Iterator[str]:
        """The worker's protocol lines until it exits (see `tuneyard.core.protocol`)."""
        ...

    def pause(self) -> None:
        """Ask the worker to save a checkpoint at its next step boundary and exit."""
        ...

    def terminate(self) -> None:
        """Ask the worker to stop at its next step boundary (SIGTERM)."""
        ...

    def kill(self) -> None: ...

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit status, or None if still running after `timeout` seconds."""
        ...

    def log_tail(self) -> str:
        """The last lines the worker wrote to its log (for crash reports)."""
        ...


class Executor(Protocol):
    """Starts training workers: local subprocesses by default."""

    def launch(self, spec: TrainingSpec) -> WorkerHandle: ...


class Exporter(Protocol):
    """Turns a saved model or checkpoint into a standalone Hugging Face model directory."""

    def export(self, source: Path, target: Path, *, merged: bool) -> None:
        """Write `source` (an output or checkpoint directory) to `target`: the PEFT adapter
        as saved, or with `merged` the adapter merged into its base (whole-model layout).
        Raises ValueError for a source it cannot read."""
        ...


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
    deployments: DeploymentRepository
    published: PublishedRepository
    artifacts: Artifacts = dataclasses.field(default_factory=LocalArtifacts)
    """Where jobs' folders live besides the server's disk (none by default)."""
    inline_reads: bool = False
    """Whether a read of one row by its key never waits on the network (the repositories
    are in memory or in a local SQLite file): the API then runs such a read on the event
    loop, since a worker-thread hop costs more CPU than the read itself."""
