"""Jobs' folders in a bucket (`<prefix>jobs/<job id>/<part>/`), with the server's job
folders as their cache: what a worker elsewhere pushed is fetched here when the server
needs it (serving, exporting, continuing from it), and exports are pushed back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuneyard.core import artifacts
from tuneyard.core.jobs import StorageRef
from tuneyard.storage import s3

__all__ = ["S3Artifacts"]

_COMPLETE = "checkpoint.json"
"""A checkpoint folder is complete once this file is in it (the worker pushes it last)."""


class S3Artifacts:
    """The `Artifacts` port over an S3-compatible bucket."""

    def __init__(self, client: Any, where: StorageRef, jobs_root: Path) -> None:
        self.client = client
        self.where = where
        self.jobs_root = jobs_root

    def location(self) -> StorageRef:
        """The bucket workers read and write."""
        return self.where

    def fetch(self, job_id: str, part: str) -> None:
        """Download the job's folder `part` into its job folder unless it is there; a
        checkpoint only once complete in the bucket."""
        target = self.jobs_root / job_id / part
        if target.is_dir():
            return
        prefix = artifacts.job_object(self.where, job_id, part)
        if part.startswith("checkpoints/") and not s3.exists(
            self.client, self.where.bucket, prefix + _COMPLETE
        ):
            return
        s3.download_folder(self.client, self.where.bucket, prefix, target)

    def store(self, job_id: str, part: str) -> None:
        """Upload the job's local folder `part` (replacing what the bucket had there)."""
        prefix = artifacts.job_object(self.where, job_id, part)
        s3.delete_folder(self.client, self.where.bucket, prefix)
        s3.upload_folder(self.client, self.where.bucket, self.jobs_root / job_id / part, prefix)

    def forget(self, job_id: str) -> None:
        """Delete every object of the job."""
        s3.delete_folder(self.client, self.where.bucket, artifacts.job_object(self.where, job_id))
