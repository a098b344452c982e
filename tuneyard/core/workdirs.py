"""Where each job's spec, worker log and outputs live on disk, and their removal."""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["WorkDirs"]


class WorkDirs:
    """The job folders under `<data dir>/jobs/`."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def job(self, job_id: str) -> Path:
        """Where a job's spec, worker log and outputs live."""
        return self.data_dir / "jobs" / job_id

    def purge(self, job_id: str) -> None:
        """Remove a job's working directory and outputs from disk."""
        shutil.rmtree(self.job(job_id), ignore_errors=True)
