"""Several replicas over one PostgreSQL: one `serve --role api` and three
`serve --role scheduler` processes (the real CLI; workers are counted as they start).

20 short scripted jobs and 3 real tiny-chat LoRA jobs go in through the API replica. Once
a real job has saved a checkpoint, the scheduler replica training it is SIGKILLed; the
others take its jobs over when their leases lapse. Afterwards every job has SUCCEEDED,
each worker start was one attempt's (a job's starts are its claims, and a job was claimed
once plus once per worker it lost), no two workers ever ran one job at once, the taken-over
real job resumed from its checkpoint, and no worker outlives the replicas.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.support import postgres
from tests.support.processes import Workers
from tests.support.replicas import Replica
from tests.support.world import EXAMPLES
from tuneyard.core.jobs import Job
from tuneyard.core.states import JobStatus as S
from tuneyard.storage import database, sql, tables

pytestmark = pytest.mark.integration

LEASE_S = 5
SCRIPTED = 20
REAL = 3
TIMEOUT_S = 170.0
WORKERS = ("tuneyard.trainer", "tests.support.counted_worker")


@pytest.fixture
def data_dir(tmp_path: Path, tiny_dir: Path) -> Path:
    """A data dir every replica shares, with tiny-chat already built."""
    data = tmp_path / "data"
    shutil.copytree(tiny_dir, data / "models" / "tiny-chat")
    return data


def _upload_job(
    client: httpx.Client, headers: dict[str, str], filename: str, rows: bytes, **hyper: object
) -> str:
    """A DashScope LoRA job on tiny-chat over a freshly uploaded file; its id."""
    uploaded = client.post("/api/v1/files", headers=headers, files=[("files", (filename, rows))])
    assert uploaded.status_code == 200, uploaded.text
    file_id = uploaded.json()["data"]["uploaded_files"][0]["file_id"]
    body = {
        "model": "tiny-chat",
        "training_file_ids": [file_id],
        "training_type": "efficient_sft",
        "hyper_parameters": hyper,
    }
    created = client.post("/api/v1/fine-tunes", headers=headers, json=body)
    assert created.status_code == 200, created.text
    return str(created.json()["output"]["job_id"])


def _lines(start: int, stop: int) -> bytes:
    return b"".join((EXAMPLES / "chat.jsonl").read_bytes().splitlines(keepends=True)[start:stop])


def _claims(events: sql.SqlEvents, job_id: str) -> int:
    """How many times a scheduler claimed the job (status events QUEUED -> RUNNING)."""
    return sum(
        1
        for e in events.list(job_id, limit=1000)
        if e.type == "status" and e.data and e.data.get("to") == "running"
    )


def test_three_scheduler_replicas_run_each_job_once_and_take_over_a_dead_one(
    data_dir: Path, tmp_path: Path
) -> None:
    url = postgres.fresh_url()
    engine = database.connect(url)
    jobs, events = sql.SqlJobs(engine), sql.SqlEvents(engine)
    starts = tmp_path / "starts.jsonl"
    env = {
        "TUNEYARD_DATABASE_URL": url,
        "TUNEYARD_LEASE_SECONDS": str(LEASE_S),
        "TUNEYARD_TEST_STARTS": str(starts),
        "TUNEYARD_TEST_SCRIPTED_SECONDS": "1",
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
    }
    replicas: list[Replica] = []
    killed: Replica | None = None
    with Workers(data_dir, interval=0.1, modules=WORKERS) as workers:
        try:
            api = Replica("api", data_dir, env, "--max-active-jobs", "0", name="api")
            replicas.append(api)
            assert api.wait_ready() == {"status": "ok"}
            for index in range(3):
                replicas.append(
                    Replica(
                        "scheduler",
                        data_dir,
                        env,
                        "--max-running-jobs",
                        "2",
                        name=f"scheduler-{index}",
                    )
                )
            schedulers = replicas[1:]
            for replica in schedulers:
                assert replica.wait_ready()["role"] == "scheduler"
            assert len({r.owner for r in schedulers}) == 3
            assert api.client.get("/healthz").json() == {"status": "ok"}  # the API's own

            key = _create_key(data_dir, env)
            headers = {"Authorization": f"Bearer {key}"}
            real_hyper = {
                "n_epochs": 4,
                "batch_size": 8,
                "split": 0.9,
                "save_strategy": "steps",
                "save_steps": 2,
                "learning_rate": 1e-3,
            }
            real = [
                _upload_job(api.client, headers, f"real-{i}.jsonl", _lines(0, 48), **real_hyper)
                for i in range(REAL)
            ]
            scripted = [
                _upload_job(api.client, headers, f"scripted-{i}.jsonl", _lines(48, 68))
                for i in range(SCRIPTED)
            ]
            everyone = real + scripted

            victim, killed = _kill_a_replica_training_after_a_checkpoint(
                engine, jobs, real, schedulers
            )
            deadline = time.monotonic() + TIMEOUT_S
            while time.monotonic() < deadline:
                found = [jobs.get(j) for j in everyone]
                if all(j is not None and j.status is S.SUCCEEDED for j in found):
                    break
                stuck = [j for j in found if j is not None and j.status in (S.FAILED, S.CANCELLED)]
                assert not stuck, _report(stuck, replicas)
                time.sleep(0.5)
            final = {j: jobs.get(j) for j in everyone}
            assert all(job and job.status is S.SUCCEEDED for job in final.values()), _report(
                [j for j in final.values() if j and j.status is not S.SUCCEEDED], replicas
            )
        finally:
            for replica in replicas:
                if replica is not killed:
                    replica.stop()
            engine.dispose()
        time.sleep(0.5)
        assert not workers.alive(), workers.alive()
        overlaps = workers.overlaps

    started = Counter(json.loads(line)["job"] for line in starts.read_text().splitlines())
    assert set(started) == set(everyone)
    engine = database.connect(url)
    try:
        events = sql.SqlEvents(engine)
        for job_id, job in final.items():
            assert job is not None
            claims = _claims(events, job_id)
            assert started[job_id] == claims == job.attempts + 1, (job_id, started[job_id], job)
        assert final[victim] is not None and final[victim].attempts >= 1  # type: ignore[union-attr]
        resumed = [e.message for e in events.list(victim, limit=1000)]
        assert any(m.startswith("Resumed from the checkpoint at step") for m in resumed), resumed
    finally:
        engine.dispose()
    assert not overlaps, overlaps
    lost = sum(job.attempts for job in final.values() if job)
    print(f"\n{len(everyone)} jobs, {sum(started.values())} worker starts, {lost} taken over")


def _create_key(data_dir: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "tuneyard", "keys", "create", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _kill_a_replica_training_after_a_checkpoint(
    engine: sa.Engine, jobs: sql.SqlJobs, real: list[str], schedulers: list[Replica]
) -> tuple[str, Replica]:
    """Wait until a real job is RUNNING with a checkpoint saved, then SIGKILL the
    scheduler replica that holds it; (the job, the replica)."""
    by_owner = {r.owner: r for r in schedulers}
    t = tables.jobs
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for job_id in real:
            job = jobs.get(job_id)
            if job is None or job.status is not S.RUNNING or not job.progress.checkpoints:
                continue
            if (job.progress.step or 0) >= (job.progress.total_steps or 0) - 3:
                continue  # too near its end to still be running when its owner dies
            with engine.connect() as conn:
                owner = conn.execute(sa.select(t.c.lease_owner).where(t.c.id == job_id)).scalar()
            replica = by_owner.get(str(owner))
            if replica is None:
                continue
            replica.kill()
            return job_id, replica
        time.sleep(0.1)
    raise AssertionError(
        "no real job reached a checkpoint: "
        + "; ".join(f"{j}: {jobs.get(j)}" for j in real)
        + "\n"
        + "\n".join(r.output()[-3000:] for r in schedulers)
    )


def _report(bad: list[Job | None], replicas: list[Replica]) -> str:
    lines = [f"{j.id} {j.status} attempts={j.attempts} {j.error_message}" for j in bad if j]
    return "\n".join(lines + [r.output()[-4000:] for r in replicas])


def test_an_api_replica_never_schedules(data_dir: Path, tmp_path: Path) -> None:
    """Jobs submitted to an API-only replica stay CREATED: it never validates or trains."""
    env = {"TUNEYARD_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}"}
    api = Replica("api", data_dir, env, name="api-only")
    try:
        api.wait_ready()
        key = _create_key(data_dir, env)
        job_id = _upload_job(
            api.client, {"Authorization": f"Bearer {key}"}, "scripted.jsonl", _lines(48, 68)
        )
        time.sleep(2)
        engine = database.connect(env["TUNEYARD_DATABASE_URL"])
        try:
            job = sql.SqlJobs(engine).get(job_id)
        finally:
            engine.dispose()
        assert job is not None and job.status is S.CREATED
        assert "(role api, data dir" in api.output()
    finally:
        api.stop()
