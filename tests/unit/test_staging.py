"""A worker away from the server's disk, and the server's cache of the bucket, over moto's
in-process S3: what the worker pulls before training (inputs, only complete checkpoints),
what each event pushes before it is written, and what the server fetches, stores and
forgets."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.support.world import ManualClock, job_record
from tuneyard import kinds
from tuneyard.core import artifacts, jobs, protocol
from tuneyard.core.checkpoints import Checkpoint
from tuneyard.core.workdirs import WorkDirs
from tuneyard.storage import artifacts as s3_artifacts
from tuneyard.storage import s3
from tuneyard.trainer import report, staging

WHERE = jobs.StorageRef("https://s3.us-east-1.amazonaws.com", "jobs-bucket", "pre/")


@pytest.fixture
def client() -> Iterator[Any]:
    """An S3 client inside moto's in-process mock, with an empty bucket."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "test")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "test")
        import moto

        with moto.mock_aws():
            made = s3.client(WHERE.endpoint, access_key="test", secret_key="test")
            made.create_bucket(Bucket=WHERE.bucket)
            yield made


def _put(client: Any, key: str, body: bytes) -> None:
    client.put_object(Bucket=WHERE.bucket, Key=key, Body=body)


def _keys(client: Any, prefix: str = "") -> list[str]:
    found = client.list_objects_v2(Bucket=WHERE.bucket, Prefix=WHERE.prefix + prefix)
    return sorted(item["Key"] for item in found.get("Contents", []))


def _spec(work: Path, **changes: Any) -> jobs.TrainingSpec:
    fields: dict[str, Any] = dict(
        job_id="job-1",
        task_type=kinds.TaskType.GENERATION,
        method=kinds.Method.LORA,
        base_model=jobs.BaseModelRef("tiny-chat", "tiny-chat", str(work / "models")),
        dataset_path="pre/blobs/file-a",
        dataset_filename="train.jsonl",
        hyperparameters=jobs.Hyperparameters(),
        output_dir=str(work / "output"),
        work_dir=str(work),
        storage=WHERE,
    )
    fields.update(changes)
    return jobs.TrainingSpec(**fields)


def test_the_spec_carries_its_storage_and_old_specs_still_read(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    wire = json.loads(json.dumps(spec.to_dict()))
    assert wire["storage"] == {
        "endpoint": WHERE.endpoint,
        "bucket": "jobs-bucket",
        "prefix": "pre/",
    }
    assert jobs.TrainingSpec.from_dict(wire) == spec
    del wire["storage"]  # a spec written before buckets existed
    assert jobs.TrainingSpec.from_dict(wire).storage is None
    assert staging.for_spec(jobs.TrainingSpec.from_dict(wire), {}) is None


def test_pull_brings_inputs_and_complete_checkpoints_only(client: Any, tmp_path: Path) -> None:
    _put(client, "pre/blobs/file-a", b"training rows")
    _put(client, "pre/blobs/file-b", b"validation rows")
    _put(client, "pre/jobs/parent/output/adapter_config.json", b"{}")
    done = "pre/jobs/job-1/checkpoints/step-00000004/"
    _put(client, done + "adapter_model.safetensors", b"weights")
    _put(client, done + "checkpoint.json", b'{"step": 4, "epoch": 1}')
    _put(client, "pre/jobs/job-1/checkpoints/step-00000006/adapter_model.safetensors", b"half")
    _put(client, "pre/jobs/job-12/checkpoints/step-00000009/checkpoint.json", b"{}")  # not ours
    work = tmp_path / "scratch" / "job-1"
    spec = _spec(
        work,
        validation_path="pre/blobs/file-b",
        start_from="pre/jobs/parent/output/",
        start_from_method=kinds.Method.LORA,
    )

    local = staging.Staging(spec, client).pull()

    assert Path(local.dataset_path).read_bytes() == b"training rows"
    assert Path(local.validation_path or "").read_bytes() == b"validation rows"
    assert (Path(local.start_from or "") / "adapter_config.json").read_bytes() == b"{}"
    assert sorted(p.name for p in (work / "checkpoints").iterdir()) == ["step-00000004"]
    assert (work / "checkpoints" / "step-00000004" / "adapter_model.safetensors").is_file()
    assert local.work_dir == spec.work_dir and local.output_dir == spec.output_dir


def test_pull_fails_when_the_dataset_is_gone(client: Any, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="pre/blobs/file-a"):
        staging.Staging(_spec(tmp_path), client).pull()


def test_each_event_pushes_its_bytes_before_the_line_is_written(
    client: Any, tmp_path: Path
) -> None:
    spec = _spec(tmp_path)
    staged = staging.Staging(spec, client)
    seen: list[tuple[str, list[str]]] = []
    stream = io.StringIO()

    def push(event: protocol.Event) -> None:
        staged.push(event)
        seen.append((stream.getvalue(), _keys(client)))

    reporter = report.Reporter(stream, before_emit=push)
    folder = tmp_path / "checkpoints" / "step-00000002"
    folder.mkdir(parents=True)
    (folder / "adapter_model.safetensors").write_bytes(b"w")
    (folder / "checkpoint.json").write_text("{}")
    reporter.emit(Checkpoint(step=2, epoch=1, path=str(folder)))
    assert seen[-1] == (
        "",  # not written yet when the push ran
        [
            "pre/jobs/job-1/checkpoints/step-00000002/adapter_model.safetensors",
            "pre/jobs/job-1/checkpoints/step-00000002/checkpoint.json",
        ],
    )
    reporter.emit(protocol.CheckpointRemoved(step=2, path=str(folder)))
    assert seen[-1][1] == []
    _put(client, "pre/jobs/job-1/output/stale.bin", b"from an earlier attempt")
    output = Path(spec.output_dir)
    output.mkdir()
    (output / "adapter_config.json").write_text("{}")
    reporter.emit(protocol.Saved(path=str(output), format="peft"))
    assert seen[-1][1] == ["pre/jobs/job-1/output/adapter_config.json"]
    assert stream.getvalue().count("\n") == 3


def test_the_checkpoint_marker_goes_up_last(client: Any, tmp_path: Path) -> None:
    order: list[str] = []
    real = client.upload_file

    def upload(path: str, bucket: str, key: str) -> None:
        order.append(key.rsplit("/", 1)[-1])
        real(path, bucket, key)

    folder = tmp_path / "step-00000003"
    folder.mkdir()
    for name in ("a.bin", "checkpoint.json", "z.bin"):
        (folder / name).write_text(name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(client, "upload_file", upload)
        staging.Staging(_spec(tmp_path), client).push(Checkpoint(step=3, epoch=1, path=str(folder)))
    assert order[-1] == "checkpoint.json" and sorted(order) == ["a.bin", "checkpoint.json", "z.bin"]


def test_the_server_fetches_stores_and_forgets_job_folders(client: Any, tmp_path: Path) -> None:
    store = s3_artifacts.S3Artifacts(client, WHERE, tmp_path / "jobs")
    dirs = WorkDirs(tmp_path, store)
    _put(client, "pre/jobs/job-1/output/adapter_config.json", b"{}")
    _put(client, "pre/jobs/job-1/checkpoints/step-00000005/adapter_model.safetensors", b"w")
    _put(client, "pre/jobs/job-10/output/adapter_config.json", b"{}")
    job = _job("job-1", output_path="/a/worker/elsewhere/output")

    output = dirs.output(job)
    assert output == tmp_path / "jobs" / "job-1" / "output"
    assert (output / "adapter_config.json").read_bytes() == b"{}"
    incomplete = Checkpoint(step=5, epoch=1, path="/a/worker/elsewhere/checkpoints/step-00000005")
    assert dirs.checkpoint("job-1", incomplete) is not None
    assert not (tmp_path / "jobs" / "job-1" / artifacts.checkpoint_part(5)).exists()

    export = dirs.export("job-1", "final")
    export.mkdir(parents=True)
    (export / "model.safetensors").write_bytes(b"m")
    dirs.keep_export("job-1", "final")
    assert "pre/jobs/job-1/exports/final/model.safetensors" in _keys(client)

    dirs.purge("job-1")
    assert not (tmp_path / "jobs" / "job-1").exists()
    assert _keys(client) == ["pre/jobs/job-10/output/adapter_config.json"]
    assert dirs.output(job) == output and not output.exists()  # gone from both


def test_without_a_bucket_recorded_paths_are_used_as_they_are(tmp_path: Path) -> None:
    dirs = WorkDirs(tmp_path)
    job = _job("job-1", output_path=str(tmp_path / "elsewhere"))
    assert dirs.output(job) == tmp_path / "elsewhere"
    kept = Checkpoint(step=1, epoch=1, path=str(tmp_path / "c"))
    assert dirs.checkpoint("job-1", kept) == tmp_path / "c"


def _job(job_id: str, **changes: Any) -> jobs.Job:
    return job_record(SimpleNamespace(clock=ManualClock()), job_id, **changes)  # type: ignore[arg-type]
