"""Jobs whose bytes live in a bucket (moto's S3 server), through the scheduler and the
fake executor: the worker is told object keys, not the server's paths; the continued
job's start point is the parent's object; deleting a job deletes its objects."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import s3 as s3_support
from tests.support.world import World, run_with_checkpoints
from tuneyard.core.jobs import Parent
from tuneyard.core.ports import Ports
from tuneyard.core.states import JobStatus
from tuneyard.scheduler.executors.fake import FakeExecutor
from tuneyard.storage import artifacts, s3blobs


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with s3_support.moto_server() as url:
        yield url


def test_the_worker_gets_object_keys_and_deleting_a_job_deletes_its_objects(
    ports: Ports, tmp_path: Path, endpoint: str
) -> None:
    where = s3_support.fresh_bucket(endpoint, prefix="p/")
    client = s3_support.client(endpoint)
    in_bucket = dataclasses.replace(
        ports,
        blobs=s3blobs.S3BlobStore(client, where, tmp_path / "blobs"),
        artifacts=artifacts.S3Artifacts(client, where, tmp_path / "jobs"),
    )
    executor = FakeExecutor(run_with_checkpoints)
    world = World(in_bucket, tmp_path, executor)
    parent = world.wait_status(world.submit_sample().id, JobStatus.SUCCEEDED)
    first, _ = executor.launched[0]
    stored = world.ports.files.get(parent.training_file_id or "")
    assert stored is not None
    assert first.storage == where
    assert first.dataset_path == f"p/blobs/{stored.blob_key}"
    # the fake worker wrote the job folder; a real one pushes it: do as it does
    in_bucket.artifacts.store(parent.id, "output")
    assert s3_support.keys_under(where, f"jobs/{parent.id}/output/")

    child = world.service.submission.create(
        world.spec(training_file_id=parent.training_file_id, parent=Parent(parent.id))
    )
    world.wait_status(child.id, JobStatus.SUCCEEDED)
    second, _ = executor.launched[1]
    assert second.start_from == f"p/jobs/{parent.id}/output/"

    world.service.control.delete("ws", parent.id)
    assert s3_support.keys_under(where, f"jobs/{parent.id}/") == []
    assert not (tmp_path / "jobs" / parent.id).exists()
