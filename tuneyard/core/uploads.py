"""Dataset files: store an upload (checked or not), copy one in from object storage, list,
get and delete a workspace's files, and check a file without keeping it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable
from pathlib import Path

from tuneyard import errors
from tuneyard.core import bucket_admin, buckets, checks, ids, paging
from tuneyard.core.files import StoredFile, safe_name
from tuneyard.core.models import BaseModel
from tuneyard.core.paging import Slice
from tuneyard.core.ports import FilePage, Ports
from tuneyard.datasets import choice, validator
from tuneyard.datasets.report import Limits
from tuneyard.kinds import Objective, TaskType

__all__ = ["Uploads"]


class Uploads:
    """The file use-cases, over the file repository, blob store and object storage."""

    def __init__(
        self,
        ports: Ports,
        limits: Limits,
        *,
        model: Callable[[str], BaseModel],
        buckets: bucket_admin.Buckets,
    ) -> None:
        self.ports = ports
        self.limits = limits
        self.model = model
        """Looks up a base model by name (raises ModelNotFound)."""
        self.buckets = buckets
        """The bucket records: whose a bucket is and the pair that opens it."""

    def upload(
        self,
        workspace_id: str,
        filename: str,
        chunks: Iterable[bytes],
        *,
        purpose: str,
        description: str | None = None,
    ) -> StoredFile:
        """Store an upload; past the size limit only `limit + 1` bytes are kept (truncated)."""
        stored = self._put(workspace_id, filename, chunks, purpose, description)
        self.ports.files.add(stored)
        return stored

    def _put(
        self,
        workspace_id: str,
        filename: str,
        chunks: Iterable[bytes],
        purpose: str,
        description: str | None,
    ) -> StoredFile:
        """Write the bytes to the blob store; the record is not added yet. The client's file
        name is kept only as a safe base name (`safe_name`)."""
        file_id = ids.new_file_id()
        size, sha256, truncated = self.ports.blobs.put(file_id, chunks, limit=self.limits.max_bytes)
        return StoredFile(
            id=file_id,
            workspace_id=workspace_id,
            filename=safe_name(filename),
            bytes=size,
            sha256=sha256,
            purpose=purpose,
            blob_key=file_id,
            created_at=self.ports.clock.now(),
            truncated=truncated,
            description=description,
        )

    def upload_dataset(
        self,
        workspace_id: str,
        filename: str,
        chunks: Iterable[bytes],
        *,
        formats: Collection[str],
        purpose: str = "fine-tune",
        description: str | None = None,
        max_files: int | None = None,
    ) -> tuple[StoredFile | None, str | None]:
        """Store an upload if it is a valid dataset in one of `formats`: (the file, None), or
        (None, why not: the first issue as "reason: line N: message"); a rejected upload is
        not kept. Row minimums are checked when a job uses the file, not here. With
        `max_files`, a workspace that already has that many files is refused (Conflict)."""
        if (
            max_files is not None
            and self.ports.files.page(workspace_id, offset=0, limit=1).total >= max_files
        ):
            raise errors.Conflict(
                f"Out of number, <{max_files}> of <{max_files}> files has been uploaded."
            )
        stored = self._put(workspace_id, filename, chunks, purpose, description)
        problem = self._problem(stored, formats)
        if problem is not None:
            self.ports.blobs.delete(stored.blob_key)
            return None, problem
        self.ports.files.add(stored)  # only a valid dataset gets a record
        return stored, None

    def upload_checked(
        self,
        workspace_id: str,
        filename: str,
        chunks: Iterable[bytes],
        *,
        formats: Collection[str],
        purpose: str = "fine-tune",
    ) -> StoredFile:
        """Store an upload whatever it holds, with its check's outcome: status "processed"
        (a valid dataset in one of `formats`) or "error" with the first problem in
        `status_details` (a job on an "error" file is refused)."""
        stored = self._put(workspace_id, filename, chunks, purpose, None)
        problem = self._problem(stored, formats)
        if problem is not None:
            stored = dataclasses.replace(stored, status="error", status_details=problem)
        self.ports.files.add(stored)
        return stored

    def upload_reported(
        self,
        workspace_id: str,
        filename: str,
        chunks: Iterable[bytes],
        *,
        task_type: TaskType = TaskType.GENERATION,
        purpose: str = "fine-tune",
    ) -> tuple[StoredFile | None, checks.DatasetCheck]:
        """Store an upload only if the check a job's dataset gets before it is queued finds
        no issue (the full limits, every issue listed; no model yet, so no token count):
        (the file, the check), or (None, the check) for a rejected upload, which is not
        kept."""
        stored = self._put(workspace_id, filename, chunks, purpose, None)
        check = checks.check_dataset(
            self.ports.blobs.path(stored.blob_key),
            filename=stored.filename,
            fmt=None,
            task_type=task_type,
            model=None,
            counters=self.ports.counters,
            limits=self.limits,
        )
        if not check.ok:
            self.ports.blobs.delete(stored.blob_key)
            return None, check
        self.ports.files.add(stored)
        return stored, check

    def check_for_job(
        self,
        workspace_id: str,
        file_id: str,
        *,
        model_name: str,
        task_type: TaskType,
        objective: Objective,
        dialect: str,
    ) -> checks.DatasetCheck:
        """The check a job of this kind would give the workspace's file before it is
        queued (the same format choice, limits and token count); raises FileNotFound, and
        InvalidRequest when the file cannot serve `objective` at all."""
        stored = self.get_file(workspace_id, file_id, param="training_file")
        path = self.ports.blobs.path(stored.blob_key)
        fmt, problem = choice.format_for_job(
            path, stored.filename, dialect=dialect, objective=objective
        )
        if problem is not None:
            raise errors.InvalidRequest(problem, param="objective")
        return checks.check_dataset(
            path,
            filename=stored.filename,
            fmt=fmt,
            task_type=task_type,
            model=self.model(model_name),
            counters=self.ports.counters,
            limits=self.limits,
        )

    def _problem(self, stored: StoredFile, formats: Collection[str]) -> str | None:
        """The first problem of a stored dataset ("reason: line N: message"), or None."""
        path = self.ports.blobs.path(stored.blob_key)
        fmt = validator.detect(path, stored.filename)
        if fmt is not None and fmt not in formats:
            return f"file.format: a {fmt} file; this API reads {', '.join(sorted(formats))}"
        report = validator.validate(
            path,
            filename=stored.filename,
            fmt=fmt,
            task_type=TaskType.GENERATION,
            limits=dataclasses.replace(self.limits, min_rows=1, max_issues=1),
        )
        if report.first is None:
            return None
        return f"{report.first.reason}: {report.first.describe()}"

    def list_after(
        self,
        workspace_id: str,
        *,
        marker: str | None,
        limit: int,
        oldest_first: bool = False,
        purpose: str | None = None,
    ) -> Slice[StoredFile]:
        """Up to `limit` of the workspace's files after the one named `marker` (exclusive)."""
        after = (
            paging.cursor_at(marker, self.ports.files.get(marker), workspace_id) if marker else None
        )
        return self.ports.files.slice(
            workspace_id, after=after, limit=limit, oldest_first=oldest_first, purpose=purpose
        )

    def content(self, workspace_id: str, file_id: str) -> tuple[StoredFile, Path]:
        """A live file of the workspace and where its bytes are on disk."""
        stored = self.get_file(workspace_id, file_id)
        return stored, self.ports.blobs.path(stored.blob_key)

    def get_file(self, workspace_id: str, file_id: str, *, param: str | None = None) -> StoredFile:
        """A live file of the workspace; raises FileNotFound (naming it when `param` is given)."""
        stored = self.ports.files.get(file_id)
        if stored is None or stored.deleted_at is not None or stored.workspace_id != workspace_id:
            if param is None:
                raise errors.FileNotFound()
            raise errors.FileNotFound(f"file {file_id} not found", param=param)
        return stored

    def list_files(self, workspace_id: str, *, offset: int, limit: int) -> FilePage:
        """A page of the workspace's files, newest first."""
        return self.ports.files.page(workspace_id, offset=offset, limit=limit)

    def delete_file(self, workspace_id: str, file_id: str) -> StoredFile:
        """Hide a file from the workspace; its bytes stay on disk, so jobs that already use
        it still run (and are retried) as they were created."""
        stored = self.get_file(workspace_id, file_id)
        self.ports.files.mark_deleted(stored.id, self.ports.clock.now())
        return stored

    def import_object(
        self,
        workspace_id: str,
        *,
        bucket: str,
        path: str,
        access_key: str | None,
        secret_key: str | None,
    ) -> StoredFile:
        """Copy an object from the S3-compatible store in as a file.

        With a key pair the store checks it against the bucket; without one the workspace
        must own the bucket, whose own pair is used. Raises FileNotFound when the object is
        absent or the caller may not read it (the same answer, and no byte read),
        InvalidRequest for a bucket or path no store can hold.
        """
        buckets.check_path(bucket, what="bucket name")
        buckets.check_path(path)
        if access_key is None or secret_key is None:
            pair = self.buckets.keys_for(workspace_id, bucket)
            if pair is None:
                raise errors.FileNotFound(f"File not found: {bucket}/{path}")
            access_key, secret_key = pair
        chunks = self.ports.objects.open(bucket, path, access_key=access_key, secret_key=secret_key)
        return self.upload(workspace_id, Path(path).name, chunks, purpose="fine-tune")

    def check_upload(
        self,
        filename: str,
        chunks: Iterable[bytes],
        *,
        fmt: str | None,
        model_name: str | None,
        task_type: TaskType | None,
        max_issues: int,
    ) -> checks.DatasetCheck:
        """Pre-flight: check a file without keeping it (same report as before a job runs)."""
        if fmt is not None and fmt not in validator.FORMATS:
            raise errors.InvalidRequest(
                f"format must be one of {', '.join(validator.FORMATS)}", param="format"
            )
        model = self.model(model_name) if model_name else None
        if task_type is None:
            task_type = model.default_task_type() if model else TaskType.GENERATION
        scratch = "check-" + ids.new_file_id()
        self.ports.blobs.put(scratch, chunks, limit=self.limits.max_bytes)  # limit+1: file.size
        try:
            return checks.check_dataset(
                self.ports.blobs.path(scratch),
                filename=filename,
                fmt=fmt,
                task_type=task_type,
                model=model,
                counters=self.ports.counters,
                limits=dataclasses.replace(self.limits, max_issues=max_issues),
            )
        finally:
            self.ports.blobs.delete(scratch)
