"""Crash soak: six jobs across the dialects survive SIGKILLs of their workers and of the
server, with clean restarts in between, and end as if nothing had happened.

A seeded plan (set TUNEYARD_SOAK_SEED to replay another) interleaves 10 SIGKILLs (of a
training worker, or of the server with its workers) and 3 clean SIGTERM restarts, each at a
seeded point of the running job's progress (its share of steps done, or while it starts);
two of them come the moment a job just created is being validated.
Afterwards every job must have SUCCEEDED with the adapter an uninterrupted run of the same
spec gives (atol 1e-6), no job may be stuck, no two workers may ever have trained one job at
once, no worker may outlive the test, and each job's `attempts` must be the number of
workers it lost (a clean restart is not an attempt).

A job may lose at most 2 workers here (the third would fail it, as the README promises),
so kills only target jobs with budget left, and the server runs one job at a time, so a
server kill costs at most one job a worker. Run with `-s` to see the kill log and summary.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.reliability.soak import (
    CLEAN_RESTARTS,
    SERVER_KILLS,
    SOAK_TIMEOUT_S,
    WORKER_KILLS,
    Soak,
    SoakJob,
    make_plan,
)
from tests.support import jobdb
from tests.support.baselines import Baselines, adapter_differences
from tests.support.clients import DONE, Bearer, Qianfan
from tests.support.processes import Seen, Workers
from tests.support.server import cli
from tests.support.world import EXAMPLES

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

SEED = int(os.environ.get("TUNEYARD_SOAK_SEED", "19"))
LEASE_S = 2
ORPHAN_GRACE_S = 3.0
"""How long a worker may outlive its SIGKILLed server (it checks every 0.2 s)."""


def _lines(path: Path, start: int, stop: int) -> bytes:
    return b"".join(path.read_bytes().splitlines(keepends=True)[start:stop])


def _preference_pairs(count: int) -> bytes:
    """DashScope DPO lines: a sum asked, the right answer chosen, a wrong one rejected."""
    lines = []
    for i in range(count):
        a, b = i % 7, i % 5
        row = {
            "messages": [
                {"role": "system", "content": "You add numbers."},
                {"role": "user", "content": f"What is {a} plus {b}?"},
            ],
            "chosen": {"role": "assistant", "content": f"{a} plus {b} is {a + b}."},
            "rejected": {"role": "assistant", "content": f"{a} plus {b} is {a + b + 1}."},
        }
        lines.append(json.dumps(row))
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def data_dir(tmp_path: Path, tiny_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data dir with tiny-chat already built; a short lease for every server."""
    data = tmp_path / "data"
    shutil.copytree(tiny_dir, data / "models" / "tiny-chat")
    monkeypatch.setenv("TUNEYARD_LEASE_SECONDS", str(LEASE_S))
    # One thread per trainer: the server's worker and the uninterrupted run share 2 cores
    # without oversubscribing them (and both sum in the same order).
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    # fp32: the soak compares each job with a separate uninterrupted run, and on a CPU with
    # native bf16 each run measures its own dtype (a near-threshold gain can go either way)
    monkeypatch.setenv("TUNEYARD_TRAIN_PRECISION", "fp32")
    return data


@pytest.fixture
def soak_jobs(data_dir: Path) -> list[SoakJob]:
    """The six jobs: CLOVA (generation and classification), DashScope (SFT and DPO),
    OpenAI and Qianfan; each checkpoints a few times on the way."""
    bearer = Bearer(cli("keys", "create", "--workspace", "soak", data_dir=data_dir).strip())
    access, secret = cli(
        "keys", "create", "--kind", "aksk", "--workspace", "soak", data_dir=data_dir
    ).split()
    qianfan = Qianfan(access, secret)
    qianfan_file = data_dir.parent / "qianfan.jsonl"
    qianfan_file.write_bytes(_lines(EXAMPLES / "qianfan-sft.jsonl", 0, 48))
    file_id = cli(
        "files", "upload", str(qianfan_file), "--workspace", "soak", data_dir=data_dir
    ).strip()
    steps = {"save_strategy": "steps", "n_epochs": 2, "batch_size": 8, "split": 0.9}
    reads: dict[str, Callable[[httpx.Client, str], str]] = {
        "clova": lambda c, i: bearer.status(c, "clova", i),
        "dashscope": lambda c, i: bearer.status(c, "dashscope", i),
        "openai": lambda c, i: bearer.status(c, "openai", i),
        "qianfan": qianfan.status,
    }
    return [
        SoakJob(
            "clova-generation",
            "clova",
            reads["clova"],
            lambda c: bearer.clova_task(
                c,
                (EXAMPLES / "clova-generation.csv").read_bytes(),
                model="tiny-chat",
                trainEpochs="2",
                learningRate="1e-3",
            ),
        ),
        SoakJob(
            "dashscope-sft",
            "dashscope",
            reads["dashscope"],
            lambda c: bearer.dashscope_job(
                c,
                _lines(EXAMPLES / "chat.jsonl", 0, 48),
                training_type="efficient_sft",
                hyper_parameters={**steps, "save_steps": 3, "learning_rate": 1e-3},
            ),
        ),
        SoakJob(
            "openai-sft",
            "openai",
            reads["openai"],
            lambda c: bearer.openai_job(
                c,
                _lines(EXAMPLES / "chat.jsonl", 48, 96),
                hyperparameters={"n_epochs": 2, "batch_size": 8},
            ),
        ),
        SoakJob(
            "qianfan-sft",
            "qianfan",
            reads["qianfan"],
            lambda c: qianfan.task(
                c,
                file_id,
                {
                    "epoch": 2,
                    "batchSize": 8,
                    "learningRate": 0.0003,
                    "maxSeqLen": 256,
                    "saveStep": 3,
                    "checkpointCount": 2,
                },
            ),
        ),
        SoakJob(
            "dashscope-dpo",
            "dashscope",
            reads["dashscope"],
            lambda c: bearer.dashscope_job(
                c,
                _preference_pairs(40),
                training_type="dpo_lora",
                hyper_parameters={**steps, "save_steps": 2},
            ),
        ),
        SoakJob(
            "clova-classification",
            "clova",
            reads["clova"],
            lambda c: bearer.clova_task(
                c,
                (EXAMPLES / "clova-classification.csv").read_bytes(),
                model="minilm-l6",
                taskType="CLASSIFICATION",
                trainEpochs="1",
                learningRate="1e-3",
            ),
        ),
    ]


def _summary(
    soak: Soak, jobs: list[SoakJob], rows: dict[str, jobdb.JobRow], statuses: dict[str, str]
) -> str:
    lines = [
        f"crash soak, seed {SEED}: {soak.kills['worker']} worker SIGKILLs, "
        f"{soak.kills['server']} server SIGKILLs, {soak.kills['restart']} clean restarts "
        f"in {time.monotonic() - soak.started:.1f} s",
    ]
    for job in jobs:
        row = rows.get(job.id)
        if row is None:
            lines.append(f"  {job.label:22} never created")
            continue
        resumed = [
            e.rsplit(" ", 1)[-1] for e in jobdb.events(soak.db, job.id) if "Resumed from" in e
        ]
        lines.append(
            f"  {job.label:22} {row.status:10} ({job.dialect}: {statuses.get(job.label)}) "
            f"attempts {row.attempts}, lost workers {job.lost}, step {row.step}/{row.total_steps}"
            f", resumed at steps {resumed}"
            + (f", {row.error_code}: {row.error_message}" if row.error_code else "")
        )
    for worker, died in soak.orphans:
        outlived = max(0.0, worker.last - died)  # seen every 0.2 s
        lines.append(
            f"  worker {worker.pid} ({worker.job_id}) outlived its server by {outlived:.1f} s"
        )
    overlaps = soak.workers.overlaps
    lines.append(f"  scans with two workers on one job: {len(overlaps)}")
    lines += [f"    {o.job_id}: (pid, parent) {list(o.workers)}" for o in overlaps[:5]]
    return "\n".join(lines)


def test_jobs_survive_killed_workers_and_servers(
    data_dir: Path, soak_jobs: list[SoakJob], tmp_path: Path
) -> None:
    plan = make_plan(random.Random(SEED), [j.label for j in soak_jobs[4:]])
    print(f"\nseed {SEED}; plan: {plan}")
    with Workers(data_dir) as workers:
        soak = Soak(data_dir, workers)
        try:
            for job in soak_jobs[:4]:
                soak.create(job)
            with Baselines(data_dir, tmp_path / "baseline", soak_jobs) as baselines:
                for action in plan:
                    soak.act(soak_jobs, action)
                soak.note("plan done; waiting for the jobs")
                rows = soak.wait_until_settled(soak_jobs)
                statuses = {j.label: j.status(soak.server.client, j.wire_id) for j in soak_jobs}
                soak.server_exits.append(soak.server.interrupt(sig=signal.SIGTERM))
                soak.note("last server stopped")
                left = _still_alive(workers, grace=5.0)
                outputs = baselines.wait(SOAK_TIMEOUT_S)
            print(_summary(soak, soak_jobs, rows, statuses))
            problems = _problems(soak, soak_jobs, rows, statuses, left, outputs)
            assert not problems, "\n".join(problems)
        except BaseException:
            print(soak.diagnostics(soak_jobs))
            print(_summary(soak, soak_jobs, soak.rows(), {}))
            raise
        finally:
            if soak.server.process.poll() is None:
                soak.server.kill()
            for worker in workers.kill_all():
                print(f"killed leftover worker {worker.pid} of job {worker.job_id}")


def _still_alive(workers: Workers, *, grace: float) -> list[Seen]:
    """The workers still running `grace` seconds after the last server stopped."""
    deadline = time.monotonic() + grace
    while (alive := workers.alive()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive


def _problems(
    soak: Soak,
    jobs: list[SoakJob],
    rows: dict[str, jobdb.JobRow],
    statuses: dict[str, str],
    left: list[Seen],
    outputs: dict[str, Path],
) -> list[str]:
    """Everything the soak promises that did not hold."""
    problems = []
    planned = {"worker": WORKER_KILLS, "server": SERVER_KILLS, "restart": CLEAN_RESTARTS}
    if dict(soak.kills) != planned:
        problems.append(f"the plan was not carried out: {dict(soak.kills)} != {planned}")
    if any(status != 0 for status in soak.server_exits):
        problems.append(f"a clean stop exited non-zero: {soak.server_exits}")
    for job in jobs:
        row = rows[job.id]
        if row.status != "succeeded" or statuses[job.label] != DONE[job.dialect]:
            problems.append(
                f"{job.label} ended {row.status} ({statuses[job.label]}): {row.error_message}"
            )
        elif differences := adapter_differences(
            soak.data_dir / "jobs" / job.id / "output", outputs[job.label]
        ):
            problems.append(
                f"{job.label}: adapter differs from an uninterrupted run: {differences}"
            )
        if row.attempts != job.lost:
            problems.append(f"{job.label}: attempts {row.attempts} but {job.lost} lost workers")
    late = [(w.pid, round(w.last - died, 1)) for w, died in soak.orphans]
    if any(outlived > ORPHAN_GRACE_S for _, outlived in late):
        problems.append(f"workers outlived their SIGKILLed server: (pid, seconds) {late}")
    if soak.workers.overlaps:
        first = soak.workers.overlaps[0]
        problems.append(
            f"{len(soak.workers.overlaps)} scans saw two workers on one job, first "
            f"{first.job_id}: (pid, parent) {list(first.workers)}"
        )
    if left:
        problems.append(f"workers outlived the last server: {[(w.pid, w.job_id) for w in left]}")
    return problems
