"""`tuneyard serve --executor ray` against a real local Ray cluster: a head with no CPUs and
two one-CPU worker nodes, each its own processes and its own TMPDIR (its "disk"), with
every byte of the jobs in a real S3-compatible store (moto's server, `--bucket`). Real
tiny-chat LoRA jobs train in actors on the nodes: one succeeds, one is cancelled, one is
paused and resumed, and one loses its node (raylet and workers SIGKILLed) mid-run and
finishes on the other node from its last checkpoint in the bucket. Without a bucket, the
nodes share the server's data dir (one machine here)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.support import s3 as s3_support
from tests.support.clients import Bearer
from tests.support.raycluster import RayCluster
from tests.support.server import Server, cli, poll
from tests.support.world import EXAMPLES
from tuneyard.core.jobs import StorageRef

pytestmark = pytest.mark.integration

CHAT = b"".join((EXAMPLES / "chat.jsonl").read_bytes().splitlines(keepends=True)[:40])
"""40 conversations: about 5 steps an epoch."""


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ray")


@pytest.fixture(scope="module")
def cluster(work: Path) -> Iterator[RayCluster]:
    running = RayCluster(work, nodes=2, cpus=1)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def bucket() -> Iterator[StorageRef]:
    with s3_support.moto_server() as endpoint:
        yield s3_support.fresh_bucket(endpoint)


@pytest.fixture(scope="module")
def server(work: Path, cluster: RayCluster, bucket: StorageRef) -> Iterator[Server]:
    with pytest.MonkeyPatch.context() as env:  # the server's key pair, passed on to workers
        env.setenv("TUNEYARD_OBJECT_STORAGE_ACCESS_KEY", s3_support.KEYS["access_key"])
        env.setenv("TUNEYARD_OBJECT_STORAGE_SECRET_KEY", s3_support.KEYS["secret_key"])
        running = _serve(
            work / "data",
            cluster,
            "--object-storage-endpoint",
            bucket.endpoint,
            "--bucket",
            bucket.bucket,
        )
    try:
        yield running
    finally:
        status = running.interrupt()
    assert status == 0, running.output()[-3000:]
    assert _trainers(work) == [], "a trainer outlived its server"


def _serve(data_dir: Path, cluster: RayCluster, *extra: str) -> Server:
    return Server(
        data_dir,
        "--executor",
        "ray",
        "--ray-address",
        cluster.address,
        "--max-running-jobs",
        "2",
        *extra,
    )


@pytest.fixture(scope="module")
def bearer(server: Server) -> Bearer:
    return Bearer(cli("keys", "create", data_dir=server.data_dir).strip())


def _job(server: Server, bearer: Bearer, **hyperparameters: Any) -> str:
    return bearer.openai_job(
        server.client, CHAT, hyperparameters={"batch_size": 8, **hyperparameters}
    )


def _get(server: Server, bearer: Bearer, job_id: str) -> dict[str, Any]:
    response = server.client.get(f"/v1/fine_tuning/jobs/{job_id}", headers=bearer.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _until(server: Server, bearer: Bearer, job_id: str, *statuses: str) -> dict[str, Any]:
    job: dict[str, Any] = poll(
        lambda: _get(server, bearer, job_id),
        lambda j: j["status"] in statuses or j["status"] == "failed",
        timeout=180,
    )
    assert job["status"] in statuses, (job, server.output()[-3000:])
    return job


def _timeline(server: Server, bearer: Bearer, job_id: str) -> list[str]:
    native = job_id.removeprefix("ftjob-")
    response = server.client.get(f"/tuneyard/v1/jobs/{native}/events", headers=bearer.headers)
    assert response.status_code == 200, response.text
    return [e["message"] for e in response.json()["data"]]


def _trainers(work: Path, job_id: str = "") -> list[psutil.Process]:
    """Live trainer processes under `work` (of one job: by its spec's path)."""
    native = job_id.removeprefix("ftjob-")
    found = []
    for process in psutil.process_iter(["cmdline"]):
        line = " ".join(process.info["cmdline"] or [])
        if "tuneyard.trainer" in line and str(work) in line and f"/jobs/{native}" in line:
            found.append(process)
    return found


def _seen(server: Server, bearer: Bearer, job_id: str, start: str) -> list[str]:
    """The job's timeline once a message starting with `start` is in it."""
    lines: list[str] = poll(
        lambda: _timeline(server, bearer, job_id),
        lambda lines: any(m.startswith(start) for m in lines),
        timeout=180,
    )
    return lines


def test_a_lora_job_trains_on_a_node_into_the_bucket(
    server: Server, bearer: Bearer, bucket: StorageRef, cluster: RayCluster
) -> None:
    job_id = _job(server, bearer, n_epochs=1)
    job = _until(server, bearer, job_id, "succeeded")
    assert job["trained_tokens"] > 500
    native = job_id.removeprefix("ftjob-")
    assert f"jobs/{native}/output/adapter_model.safetensors" in s3_support.keys_under(bucket)
    assert not (server.data_dir / "jobs" / native / "output").exists()
    for node in ("node-0", "node-1"):  # the node's scratch folder went with its actor
        assert not (cluster.tmp(node) / "tuneyard-ray" / "jobs" / native).exists()
    assert f"job {native} asks Ray for 1 CPU" in server.output()
    assert f"job {native} trains on" in server.output()


def test_cancel_stops_the_worker_on_its_node(server: Server, bearer: Bearer, work: Path) -> None:
    job_id = _job(server, bearer, n_epochs=50)
    poll(lambda: _trainers(work, job_id), bool, timeout=120)
    cancelled = server.client.post(f"/v1/fine_tuning/jobs/{job_id}/cancel", headers=bearer.headers)
    assert cancelled.status_code == 200, cancelled.text
    _seen(server, bearer, job_id, "Status cancelling -> cancelled")
    poll(lambda: _trainers(work, job_id), lambda found: not found, timeout=30)


def test_pause_checkpoints_and_resume_continues(server: Server, bearer: Bearer) -> None:
    job_id = _job(server, bearer, n_epochs=2)
    _seen(server, bearer, job_id, "Data ready")
    paused = server.client.post(f"/v1/fine_tuning/jobs/{job_id}/pause", headers=bearer.headers)
    assert paused.status_code == 200, paused.text
    _seen(server, bearer, job_id, "Status pausing -> paused")
    _seen(server, bearer, job_id, "Paused at step")
    resumed = server.client.post(f"/v1/fine_tuning/jobs/{job_id}/resume", headers=bearer.headers)
    assert resumed.status_code == 200, resumed.text
    _until(server, bearer, job_id, "succeeded")
    assert any(
        m.startswith("Resumed from the checkpoint") for m in _timeline(server, bearer, job_id)
    )


def test_a_job_whose_node_dies_resumes_on_the_other_node(
    server: Server, bearer: Bearer, cluster: RayCluster, work: Path
) -> None:
    job_id = _job(server, bearer, n_epochs=3)
    _seen(server, bearer, job_id, "Checkpoint at step")
    (trainer,) = _trainers(work, job_id)
    doomed = cluster.node_of(trainer.pid)
    killed_at = time.monotonic()
    cluster.kill_node(doomed)
    assert not trainer.is_running()

    _seen(server, bearer, job_id, "The training worker was killed (signal 9)")
    noticed = time.monotonic() - killed_at
    assert noticed < 20, f"the lost node took {noticed:.1f} s to notice"
    (again,) = poll(lambda: _trainers(work, job_id), bool, timeout=120)
    survivor = cluster.node_of(again.pid)
    assert survivor != doomed
    assert str(cluster.tmp(survivor)) in " ".join(again.cmdline())  # its own disk
    job = _until(server, bearer, job_id, "succeeded")
    assert job["trained_tokens"] > 0
    assert any(
        m.startswith("Resumed from the checkpoint") for m in _timeline(server, bearer, job_id)
    )


def test_without_a_bucket_nodes_share_the_data_dir(
    work: Path, cluster: RayCluster, server: Server
) -> None:
    shared = _serve(work / "shared", cluster)  # beside the other server, on the same cluster
    try:
        bearer = Bearer(cli("keys", "create", data_dir=shared.data_dir).strip())
        job_id = _job(shared, bearer, n_epochs=1)
        _until(shared, bearer, job_id, "succeeded")
        output = shared.data_dir / "jobs" / job_id.removeprefix("ftjob-") / "output"
        assert (output / "adapter_model.safetensors").is_file()
    finally:
        shared.close()
