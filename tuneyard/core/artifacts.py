"""Jobs' bytes in a bucket: the key layout, and the no-op stand-in when there is none.

With `--bucket` every byte a worker reads or writes lives in one S3-compatible bucket, so
a worker on another node needs no share of the server's disk:

    <prefix>blobs/<blob key>                          an uploaded dataset
    <prefix>jobs/<job id>/checkpoints/step-<8 digits>/ a checkpoint (checkpoint.json last)
    <prefix>jobs/<job id>/output/                     the tuned model
    <prefix>jobs/<job id>/exports/<name>/             an export

The server keeps a cache of them in its data dir (`<data dir>/jobs/<job id>/<part>`, the
folder a local worker writes anyway) and fills it on demand through the `Artifacts` port.
"""

from __future__ import annotations

from tuneyard.core.jobs import StorageRef

__all__ = [
    "OUTPUT",
    "LocalArtifacts",
    "blob_object",
    "checkpoint_part",
    "export_part",
    "job_object",
]

OUTPUT = "output"
"""The part of a job folder that holds its tuned model."""


def checkpoint_part(step: int) -> str:
    """The part of a job folder that holds its checkpoint at `step`."""
    return f"checkpoints/step-{step:08d}"


def export_part(name: str) -> str:
    """The part of a job folder that holds the export called `name`."""
    return f"exports/{name}"


def blob_object(where: StorageRef, key: str) -> str:
    """The object key of an uploaded dataset's blob."""
    return f"{where.prefix}blobs/{key}"


def job_object(where: StorageRef, job_id: str, part: str = "") -> str:
    """The object key (a folder: it ends in "/") of a part of a job's folder, or of the
    whole folder when `part` is empty."""
    return f"{where.prefix}jobs/{job_id}/" + (f"{part.strip('/')}/" if part else "")


class LocalArtifacts:
    """No bucket: the job folders on the server's disk are the only copy."""

    def location(self) -> StorageRef | None:
        """None: workers read and write the server's disk."""
        return None

    def fetch(self, job_id: str, part: str) -> None:
        """Nothing to fetch from."""

    def store(self, job_id: str, part: str) -> None:
        """Nothing to store to."""

    def forget(self, job_id: str) -> None:
        """Nothing to delete."""
