"""Where each job's spec, worker log and outputs live on disk, and their removal.

With a bucket (`Artifacts.location()` set) the bucket holds a job's weights and the job
folder is a cache of it: a worker elsewhere reported paths on its own disk, so the
weights the server reads are looked up by part in the job folder and fetched on demand.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tuneyard.core import artifacts
from tuneyard.core.checkpoints import Checkpoint
from tuneyard.core.jobs import Job
from tuneyard.core.ports import Artifacts

__all__ = ["WorkDirs"]


class WorkDirs:
    """The job folders under `<data dir>/jobs/` (and their copies in the bucket, if any)."""

    def __init__(self, data_dir: Path, store: Artifacts | None = None) -> None:
        self.data_dir = data_dir
        self.store: Artifacts = store or artifacts.LocalArtifacts()

    def job(self, job_id: str) -> Path:
        """Where a job's spec, worker log and outputs live."""
        return self.data_dir / "jobs" / job_id

    def output(self, job: Job) -> Path | None:
        """The folder of a job's tuned model on this server's disk, fetched from the bucket
        if needed; None when the job has none recorded."""
        if not job.output_path:
            return None
        return self._local(job.id, Path(job.output_path), artifacts.OUTPUT)

    def checkpoint(self, job_id: str, checkpoint: Checkpoint) -> Path | None:
        """The folder of one of a job's checkpoints on this server's disk, fetched from
        the bucket if needed; None when it has no recorded path."""
        if not checkpoint.path:
            return None
        part = artifacts.checkpoint_part(checkpoint.step)
        return self._local(job_id, Path(checkpoint.path), part)

    def export(self, job_id: str, name: str) -> Path:
        """Where the export `name` of a job lives (fetched from the bucket if it is there)."""
        part = artifacts.export_part(name)
        if not (self.job(job_id) / part).is_dir():
            self.store.fetch(job_id, part)
        return self.job(job_id) / part

    def keep_export(self, job_id: str, name: str) -> None:
        """Copy a freshly written export into the bucket (nothing without one)."""
        self.store.store(job_id, artifacts.export_part(name))

    def purge(self, job_id: str) -> None:
        """Remove a job's working directory and outputs from disk and from the bucket."""
        shutil.rmtree(self.job(job_id), ignore_errors=True)
        self.store.forget(job_id)

    def _local(self, job_id: str, recorded: Path, part: str) -> Path:
        if self.store.location() is None:
            return recorded  # the worker wrote the server's disk: its path is the place
        folder = self.job(job_id) / part
        if not folder.is_dir():
            self.store.fetch(job_id, part)
        return folder
