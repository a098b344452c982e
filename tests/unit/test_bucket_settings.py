"""The bucket settings: a bucket needs its endpoint, a scratch folder needs the bucket,
the key pair comes from the environment and is never printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuneyard import errors, runtime
from tuneyard.cli import main
from tuneyard.core.artifacts import LocalArtifacts
from tuneyard.settings import Settings
from tuneyard.storage import artifacts, blobs, s3blobs


def test_a_bucket_needs_an_endpoint_and_a_scratch_dir_needs_a_bucket() -> None:
    with pytest.raises(errors.InvalidRequest) as caught:
        Settings.load(env={"TUNEYARD_BUCKET": "b", "TUNEYARD_WORKER_SCRATCH_DIR": "/tmp/x"})
    assert "bucket needs object-storage-endpoint" in caught.value.message
    with pytest.raises(errors.InvalidRequest, match="worker-scratch-dir needs bucket"):
        Settings.load(env={"TUNEYARD_WORKER_SCRATCH_DIR": "/tmp/x"})


def test_keys_come_from_the_environment_and_are_never_printed() -> None:
    env = {
        "TUNEYARD_OBJECT_STORAGE_ENDPOINT": "http://s3.internal",
        "TUNEYARD_BUCKET": "jobs",
        "TUNEYARD_OBJECT_STORAGE_PREFIX": "/prod/",
        "TUNEYARD_OBJECT_STORAGE_ACCESS_KEY": "AK-visible-nowhere",
        "TUNEYARD_OBJECT_STORAGE_SECRET_KEY": "SK-visible-nowhere",
        "TUNEYARD_WORKER_SCRATCH_DIR": "/scratch",
    }
    settings = Settings.load(env=env)
    assert settings.object_storage_secret_key == "SK-visible-nowhere"
    assert settings.key_prefix == "prod/"
    assert settings.worker_scratch_dir == Path("/scratch")
    assert "visible-nowhere" not in repr(settings)


def test_flags_pick_the_bucket(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main.main(["serve", "--help"])
    shown = capsys.readouterr().out
    assert "--bucket" in shown and "--worker-scratch-dir" in shown
    assert "--object-storage-access-key" not in shown  # keys never on a command line


def test_the_stores_follow_the_settings(tmp_path: Path) -> None:
    local = Settings.load(env={})
    blob_store, job_store = runtime.byte_stores(local, tmp_path)
    assert isinstance(blob_store, blobs.LocalBlobStore) and isinstance(job_store, LocalArtifacts)
    remote = Settings.load(
        {"object_storage_endpoint": "http://127.0.0.1:9", "bucket": "jobs"}, env={}
    )
    blob_store, job_store = runtime.byte_stores(remote, tmp_path)
    assert isinstance(blob_store, s3blobs.S3BlobStore)
    assert isinstance(job_store, artifacts.S3Artifacts)
    assert job_store.location().bucket == "jobs"
