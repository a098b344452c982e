"""A worker away from the server's disk: pull a job's inputs from the bucket, push its
results back.

When the spec has a `storage` section (the server runs with `--bucket`), its inputs are
object keys, and before training the worker pulls into its own `work_dir`:

    <work_dir>/inputs/training, inputs/validation   the dataset files
    <work_dir>/inputs/start-from/                   the earlier job's model it continues
    <work_dir>/checkpoints/step-…/                  this job's complete checkpoints, so a
                                                    job resumes on whichever node runs it

As it trains, every event that announces bytes pushes them before it is written: a
`checkpoint` uploads the folder (its checkpoint.json last, which marks it complete), a
`checkpoint_removed` (save_total_limit) deletes it from the bucket too, and `saved`
uploads output/ — so by the time the scheduler reads `succeeded` (or `paused`), the bytes
are in the bucket. Nothing else the server reads afterwards lives in the work dir: the
metrics report is built from the events.

The interface an executor uses (the local one with `--worker-scratch-dir`, the Ray one):

- The server writes the spec (`TrainingSpec.to_dict()` as JSON) with `storage` set.
  An executor running the worker elsewhere moves it to a scratch folder of its node
  (`tuneyard.scheduler.executors.node.on_node`: work_dir `<scratch>/jobs/<job id>`,
  output_dir `<work_dir>/output`, tiny-chat's folder `<scratch>/models/tiny-chat`),
  writes that as JSON to `<work_dir>/spec.json` there and runs
  `python -m tuneyard.trainer <work_dir>/spec.json`. A spec without `storage` must not be
  moved: its paths are the server's disk.
- Credentials come from the worker's environment, never the spec:
  TUNEYARD_OBJECT_STORAGE_ACCESS_KEY / TUNEYARD_OBJECT_STORAGE_SECRET_KEY (the server's
  own, passed on), else boto3's chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, config
  files, instance roles).
- The worker speaks the same protocol lines on stdout; `succeeded` (and `paused`) means
  the bytes are in the bucket. The scratch folder may be removed once the worker exits.
- Base models: tiny-chat is written out at its spec path on first use (any writable
  folder), minilm-l6 ships with the package, and a models.toml model (`source` "path") is
  read at its path, which must therefore exist on every node.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tuneyard.core import artifacts, jobs, protocol
from tuneyard.storage import s3

__all__ = ["ACCESS_KEY", "SECRET_KEY", "Staging", "for_spec"]

ACCESS_KEY = "TUNEYARD_OBJECT_STORAGE_ACCESS_KEY"
"""The worker's environment variable with the bucket's access key (else boto3's chain)."""
SECRET_KEY = "TUNEYARD_OBJECT_STORAGE_SECRET_KEY"
"""The worker's environment variable with the bucket's secret key."""

_INFO = "checkpoint.json"
_CHECKPOINTS = "checkpoints"


def for_spec(spec: jobs.TrainingSpec, env: Mapping[str, str]) -> Staging | None:
    """The staging of a job whose bytes live in a bucket (with the key pair in `env`, the
    worker's environment, if any); None for one on local disk."""
    if spec.storage is None:
        return None
    client = s3.client(
        spec.storage.endpoint,
        access_key=env.get(ACCESS_KEY) or None,
        secret_key=env.get(SECRET_KEY) or None,
    )
    return Staging(spec, client)


class Staging:
    """Pulls one job's inputs into its work dir and pushes what it saves."""

    def __init__(self, spec: jobs.TrainingSpec, client: Any) -> None:
        assert spec.storage is not None
        self.spec = spec
        self.where = spec.storage
        self.client = client
        self.work = Path(spec.work_dir)

    def pull(self) -> jobs.TrainingSpec:
        """Download the inputs and this job's checkpoints; the spec with local paths."""
        spec, inputs = self.spec, self.work / "inputs"
        dataset = self._file(spec.dataset_path, inputs / "training")
        validation = (
            self._file(spec.validation_path, inputs / "validation")
            if spec.validation_path
            else None
        )
        start_from = None
        if spec.start_from:
            start_from = inputs / "start-from"
            if not start_from.is_dir() and not s3.download_folder(
                self.client, self.where.bucket, spec.start_from, start_from
            ):
                raise FileNotFoundError(
                    f"the model to start from is not in the bucket: {spec.start_from}"
                )
        self._checkpoints()
        return dataclasses.replace(
            spec,
            dataset_path=str(dataset),
            validation_path=str(validation) if validation else None,
            start_from=str(start_from) if start_from else None,
        )

    def push(self, event: protocol.Event) -> None:
        """Put into the bucket the bytes `event` announces (before it is reported)."""
        bucket = self.where.bucket
        match event:
            case protocol.Checkpoint():
                prefix = self._job(artifacts.checkpoint_part(event.step))
                s3.delete_folder(self.client, bucket, prefix)  # a retried save
                s3.upload_folder(self.client, bucket, Path(event.path), prefix, last=_INFO)
            case protocol.CheckpointRemoved():
                s3.delete_folder(
                    self.client, bucket, self._job(artifacts.checkpoint_part(event.step))
                )
            case protocol.Saved():
                prefix = self._job(artifacts.OUTPUT)
                s3.delete_folder(self.client, bucket, prefix)
                s3.upload_folder(self.client, bucket, Path(event.path), prefix)
            case _:
                pass

    def _job(self, part: str) -> str:
        return artifacts.job_object(self.where, self.spec.job_id, part)

    def _file(self, key: str, target: Path) -> Path:
        """The object at `key` as a local file (kept from an earlier pull: keys of
        uploaded datasets never change)."""
        if not target.is_file() and not s3.download_file(
            self.client, self.where.bucket, key, target
        ):
            raise FileNotFoundError(f"the dataset is not in the bucket: {key}")
        return target

    def _checkpoints(self) -> None:
        """Download the job's complete checkpoints that this work dir lacks."""
        root = self.work / _CHECKPOINTS
        prefix = self._job(_CHECKPOINTS)
        for name in s3.folders(self.client, self.where.bucket, prefix):
            folder = f"{prefix}{name}/"
            if (root / name / _INFO).is_file():
                continue
            if s3.exists(self.client, self.where.bucket, folder + _INFO):
                s3.download_folder(self.client, self.where.bucket, folder, root / name)
