"""In-memory fakes of the repositories: the same contract as SQL, for fast tests."""

from __future__ import annotations

import builtins
import copy
import dataclasses
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from tuneyard import errors
from tuneyard.core.buckets import Bucket
from tuneyard.core.events import JobEvent
from tuneyard.core.files import StoredFile
from tuneyard.core.groups import JobGroup
from tuneyard.core.jobs import FAIR_SHARE_WINDOW, Job, Progress
from tuneyard.core.paging import Cursor, Slice
from tuneyard.core.ports import ApiKey, Fence, FilePage, Page
from tuneyard.core.states import LEASED, TERMINAL, JobStatus
from tuneyard.kinds import Objective

__all__ = [
    "MemoryBuckets",
    "MemoryEvents",
    "MemoryFiles",
    "MemoryGroups",
    "MemoryJobs",
    "MemoryKeys",
]

_ACTIVE = (JobStatus.RUNNING, JobStatus.CANCELLING, JobStatus.PAUSING)
_JOB_FIELDS = {f.name for f in dataclasses.fields(Job)}
_T = TypeVar("_T", Job, JobGroup, StoredFile)


def _keyset(items: list[_T], after: Cursor | None, limit: int, oldest_first: bool) -> Slice[_T]:
    """The items strictly after the cursor in the stable order, as SQL's keyset query."""
    ordered = sorted(items, key=lambda i: (i.created_at, i.id), reverse=not oldest_first)
    if after is not None:
        mark = (after.created_at, after.id)
        ordered = [
            i
            for i in ordered
            if ((i.created_at, i.id) > mark if oldest_first else (i.created_at, i.id) < mark)
        ]
    return Slice(copy.deepcopy(ordered[:limit]), len(ordered) > limit)


class MemoryJobs:
    """Jobs in a dict, with the same compare-and-set semantics as SqlJobs."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._leases: dict[str, tuple[str | None, datetime | None]] = {}
        self._lock = threading.Lock()

    def add(self, job: Job, *, max_active: int = 0) -> None:
        """Insert a new job: the quota and the output name are checked under the lock
        that every other write takes, so concurrent adds cannot both pass."""
        with self._lock:
            if job.id in self._jobs:
                raise ValueError(f"duplicate job id {job.id}")
            live = [
                j
                for j in self._jobs.values()
                if j.workspace_id == job.workspace_id and not j.deleted
            ]
            if max_active > 0 and sum(j.status not in TERMINAL for j in live) >= max_active:
                raise errors.Throttled()
            if job.output_name is not None and any(j.output_name == job.output_name for j in live):
                raise errors.Conflict(param="output_name")
            self._jobs[job.id] = copy.deepcopy(job)

    def get(self, job_id: str) -> Job | None:
        """A copy of the job, or None."""
        with self._lock:
            job = self._jobs.get(job_id)
            return copy.deepcopy(job) if job else None

    def get_many(self, job_ids: Sequence[str]) -> dict[str, Job]:
        """Copies of the jobs among `job_ids` that exist, by id."""
        with self._lock:
            return {i: copy.deepcopy(self._jobs[i]) for i in set(job_ids) if i in self._jobs}

    def page(
        self, workspace_id: str, *, offset: int, limit: int, base_model: str | None = None
    ) -> Page:
        """The workspace's live jobs (of one base model, if given), newest first."""
        with self._lock:
            live = [
                j
                for j in self._jobs.values()
                if j.workspace_id == workspace_id
                and not j.deleted
                and (base_model is None or j.base_model == base_model)
            ]
        live.sort(key=lambda j: (j.created_at, j.id), reverse=True)
        return Page(items=copy.deepcopy(live[offset : offset + limit]), total=len(live))

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
        """Live jobs (of one group, with these metadata pairs, if given) after the cursor,
        in the stable order."""
        pairs = dict(metadata or {}).items()
        with self._lock:
            live = [
                j
                for j in self._jobs.values()
                if j.workspace_id == workspace_id
                and not j.deleted
                and (group_id is None or j.group_id == group_id)
                and pairs <= (j.metadata or {}).items()
            ]
            return _keyset(live, after, limit, oldest_first)

    def find_by_output_name(self, workspace_id: str, output_name: str) -> Job | None:
        """The workspace's live job with this output name, or None."""
        with self._lock:
            for job in self._jobs.values():
                if (
                    job.workspace_id == workspace_id
                    and not job.deleted
                    and job.output_name == output_name
                ):
                    return copy.deepcopy(job)
        return None

    def with_status(self, status: JobStatus, *, limit: int = 100) -> list[Job]:
        """Jobs in a status, oldest first."""
        with self._lock:
            found = [j for j in self._jobs.values() if j.status is status]
        found.sort(key=lambda j: (j.created_at, j.id))
        return copy.deepcopy(found[:limit])

    def transition(
        self,
        job_id: str,
        expected: JobStatus,
        new: JobStatus,
        fence: Fence | None = None,
        /,
        **fields: Any,
    ) -> bool:
        """Compare-and-set the status (and the lease, when fenced)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.status is not expected:
                return False
            lease = self._leases.get(job_id, (None, None))
            if fence is not None and not fence.admits(*lease):
                return False
            if "lease_owner" in fields:
                lease = (fields.pop("lease_owner"), fields.pop("lease_expires_at", None))
                self._leases[job_id] = lease
            unknown = set(fields) - _JOB_FIELDS
            if unknown:
                raise ValueError(f"unknown job columns: {sorted(unknown)}")
            self._jobs[job_id] = dataclasses.replace(job, status=new, **fields)
            return True

    def save_progress(self, job_id: str, progress: Progress, updated_at: datetime) -> None:
        """Overwrite the progress."""
        with self._lock:
            job = self._jobs[job_id]
            self._jobs[job_id] = dataclasses.replace(
                job, progress=copy.deepcopy(progress), updated_at=updated_at
            )

    def mark_deleted(self, job_id: str, updated_at: datetime) -> None:
        """Hide the job."""
        with self._lock:
            job = self._jobs[job_id]
            self._jobs[job_id] = dataclasses.replace(job, deleted=True, updated_at=updated_at)

    def set_priority(self, job_id: str, priority: int, updated_at: datetime) -> bool:
        """Change the priority unless the job is finished."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.status in TERMINAL:
                return False
            self._jobs[job_id] = dataclasses.replace(job, priority=priority, updated_at=updated_at)
            return True

    def delete_model(self, job_id: str, deleted_at: datetime) -> bool:
        """Set `model_deleted_at` once."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.model_deleted_at is not None:
                return False
            self._jobs[job_id] = dataclasses.replace(
                job, model_deleted_at=deleted_at, updated_at=deleted_at
            )
            return True

    def claim_next(self, owner: str, now: datetime, lease_until: datetime) -> Job | None:
        """Move the next QUEUED job to RUNNING under a lease, by the fair queue of
        `SqlJobs.claim_next` (not an attempt: only a lost worker counts as one)."""
        since = now - FAIR_SHARE_WINDOW
        with self._lock:
            queued = [j for j in self._jobs.values() if j.status is JobStatus.QUEUED]
            if not queued:
                return None
            running: Counter[str] = Counter()
            recent: Counter[str] = Counter()
            waiting = Counter(j.workspace_id for j in queued)
            for j in self._jobs.values():
                running[j.workspace_id] += j.status in _ACTIVE
                recent[j.workspace_id] += j.started_at is not None and j.started_at >= since
            job = min(
                queued,
                key=lambda j: (
                    running[j.workspace_id],
                    recent[j.workspace_id],
                    waiting[j.workspace_id],
                    -j.priority,
                    j.queued_at or j.created_at,
                    j.id,
                ),
            )
            job = dataclasses.replace(
                job,
                status=JobStatus.RUNNING,
                started_at=now,
                updated_at=now,
            )
            self._jobs[job.id] = job
            self._leases[job.id] = (owner, lease_until)
            return copy.deepcopy(job)

    def renew_lease(self, job_id: str, owner: str, lease_until: datetime) -> bool:
        """Extend a lease this owner holds."""
        with self._lock:
            job = self._jobs.get(job_id)
            held = self._leases.get(job_id, (None, None))[0]
            if job is None or job.status not in LEASED or held != owner:
                return False
            self._leases[job_id] = (owner, lease_until)
            return True

    def expired_leases(self, now: datetime) -> list[Job]:
        """Leased jobs whose lease ran out, or that have none."""
        with self._lock:
            return [
                copy.deepcopy(j)
                for j in self._jobs.values()
                if j.status in LEASED
                and ((expiry := self._leases.get(j.id, (None, None))[1]) is None or expiry < now)
            ]

    def active_count(self, workspace_id: str) -> int:
        """The workspace's unfinished jobs."""
        with self._lock:
            return sum(
                1
                for j in self._jobs.values()
                if j.workspace_id == workspace_id and not j.deleted and j.status not in TERMINAL
            )

    def running_count(self) -> int:
        """How many jobs hold a worker."""
        with self._lock:
            return sum(1 for j in self._jobs.values() if j.status in _ACTIVE)

    def count_by_state(
        self, statuses: frozenset[JobStatus] | None = None
    ) -> dict[tuple[str, JobStatus], int]:
        """Live jobs per (workspace, status), of `statuses` only if given."""
        found: dict[tuple[str, JobStatus], int] = {}
        with self._lock:
            for job in self._jobs.values():
                if not job.deleted and (statuses is None or job.status in statuses):
                    key = (job.workspace_id, job.status)
                    found[key] = found.get(key, 0) + 1
        return found


class MemoryFiles:
    """File metadata in a dict."""

    def __init__(self) -> None:
        self._files: dict[str, StoredFile] = {}

    def add(self, file: StoredFile) -> None:
        """Insert a file record."""
        self._files[file.id] = file

    def get(self, file_id: str) -> StoredFile | None:
        """The file record (deleted or not), or None."""
        return self._files.get(file_id)

    def page(self, workspace_id: str, *, offset: int, limit: int) -> FilePage:
        """The workspace's live files, newest first."""
        live = [
            f
            for f in self._files.values()
            if f.workspace_id == workspace_id and f.deleted_at is None
        ]
        live.sort(key=lambda f: (f.created_at, f.id), reverse=True)
        return FilePage(items=live[offset : offset + limit], total=len(live))

    def slice(
        self,
        workspace_id: str,
        *,
        after: Cursor | None,
        limit: int,
        oldest_first: bool = False,
        purpose: str | None = None,
    ) -> Slice[StoredFile]:
        """Live files (of one purpose, if given) after the cursor, in the stable order."""
        live = [
            f
            for f in self._files.values()
            if f.workspace_id == workspace_id
            and f.deleted_at is None
            and (purpose is None or f.purpose == purpose)
        ]
        return _keyset(live, after, limit, oldest_first)

    def mark_deleted(self, file_id: str, deleted_at: datetime) -> None:
        """Hide the file from its workspace."""
        self._files[file_id] = dataclasses.replace(self._files[file_id], deleted_at=deleted_at)


class MemoryGroups:
    """Job groups in a dict."""

    def __init__(self) -> None:
        self._groups: dict[str, JobGroup] = {}
        self._lock = threading.Lock()

    def add(self, group: JobGroup) -> None:
        """Insert a new group."""
        with self._lock:
            if group.id in self._groups:
                raise ValueError(f"duplicate group id {group.id}")
            self._groups[group.id] = copy.deepcopy(group)

    def get(self, group_id: str) -> JobGroup | None:
        """A copy of the group (deleted or not), or None."""
        with self._lock:
            return copy.deepcopy(self._groups.get(group_id))

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
        """Live groups (of one base model and objective, if given) after the cursor."""
        with self._lock:
            live = [
                g
                for g in self._groups.values()
                if g.workspace_id == workspace_id
                and not g.deleted
                and (base_model is None or g.base_model == base_model)
                and (objective is None or g.objective is objective)
            ]
            return _keyset(live, after, limit, oldest_first)

    def mark_deleted(self, group_id: str) -> None:
        """Hide the group."""
        with self._lock:
            self._groups[group_id] = dataclasses.replace(self._groups[group_id], deleted=True)


class MemoryKeys:
    """Hashed keys in a dict."""

    def __init__(self) -> None:
        self._keys: dict[str, ApiKey] = {}

    def add(self, key: ApiKey) -> None:
        """Insert a key record."""
        if key.key_hash in self._keys or (
            key.access_key and self.find_by_access_key(key.access_key)
        ):
            raise ValueError("duplicate key")
        self._keys[key.key_hash] = key

    def find_by_hash(self, key_hash: str) -> ApiKey | None:
        """The key with this hash, or None."""
        return self._keys.get(key_hash)

    def find_by_access_key(self, access_key: str) -> ApiKey | None:
        """The AK/SK pair with this access key ID, or None."""
        return next((k for k in self._keys.values() if k.access_key == access_key), None)


class MemoryEvents:
    """Job timelines in lists."""

    def __init__(self) -> None:
        self._events: dict[str, list[JobEvent]] = {}
        self._lock = threading.Lock()

    def append(
        self,
        job_id: str,
        *,
        created_at: datetime,
        level: str,
        type: str,
        message: str,
        data: dict[str, Any] | None = None,
    ) -> JobEvent:
        """Add an event at the end of the job's timeline."""
        with self._lock:
            timeline = self._events.setdefault(job_id, [])
            event = JobEvent(job_id, len(timeline) + 1, created_at, level, type, message, data)
            timeline.append(event)
            return event

    def list(self, job_id: str, *, after_seq: int = 0, limit: int = 100) -> list[JobEvent]:
        """Events after `after_seq`, oldest first."""
        with self._lock:
            return [e for e in self._events.get(job_id, []) if e.seq > after_seq][:limit]

    def latest(
        self, job_id: str, *, before_seq: int | None = None, limit: int = 100
    ) -> builtins.list[JobEvent]:
        """Events before `before_seq` (all, if None), newest first."""
        with self._lock:
            found = [
                e for e in self._events.get(job_id, []) if before_seq is None or e.seq < before_seq
            ]
        return found[::-1][:limit]

    def count(self, job_id: str) -> int:
        """How many events the job has."""
        with self._lock:
            return len(self._events.get(job_id, []))


class MemoryBuckets:
    """Bucket records in a dict."""

    def __init__(self) -> None:
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()

    def add(self, bucket: Bucket) -> None:
        """Insert a bucket; Conflict if its name or access key is taken."""
        with self._lock:
            if bucket.name in self._buckets or any(
                b.access_key == bucket.access_key for b in self._buckets.values()
            ):
                raise errors.Conflict(f"bucket {bucket.name} or its access key exists")
            self._buckets[bucket.name] = bucket

    def get(self, name: str) -> Bucket | None:
        """The bucket with this name, or None."""
        return self._buckets.get(name)

    def owned_by(self, workspace_id: str) -> builtins.list[Bucket]:
        """The workspace's buckets, by name."""
        with self._lock:
            return sorted(
                (b for b in self._buckets.values() if b.workspace_id == workspace_id),
                key=lambda b: b.name,
            )
