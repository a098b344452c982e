"""Every byte in a bucket: a real `tuneyard serve --object-storage-endpoint … --bucket …`
on a real S3-compatible server (moto's), whose workers train in a scratch folder that is
not the data dir (`--worker-scratch-dir`, as a worker on another node of a Ray cluster
does). The job's checkpoints and tuned model land in the bucket; with the server's job
folder and the scratch folder removed, the tuned model is still served (pulled from the
bucket), and a worker killed after a checkpoint resumes from it on a clean disk."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.support import s3 as s3_support
from tests.support.server import Server, cli, poll
from tests.support.world import EXAMPLES
from tuneyard.core.jobs import StorageRef

pytestmark = pytest.mark.integration

ASK = [{"role": "user", "content": "What is two plus three?"}]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with s3_support.moto_server() as url:
        yield url


@pytest.fixture
def served(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Server, openai.OpenAI, StorageRef, Path]]:
    where = s3_support.fresh_bucket(endpoint, prefix="ty/")
    monkeypatch.setenv("TUNEYARD_OBJECT_STORAGE_ACCESS_KEY", s3_support.KEYS["access_key"])
    monkeypatch.setenv("TUNEYARD_OBJECT_STORAGE_SECRET_KEY", s3_support.KEYS["secret_key"])
    data_dir, scratch = tmp_path / "data", tmp_path / "node-scratch"
    key = cli("keys", "create", data_dir=data_dir).strip()
    server = Server(
        data_dir,
        "--object-storage-endpoint",
        endpoint,
        "--bucket",
        where.bucket,
        "--object-storage-prefix",
        "ty",
        "--worker-scratch-dir",
        str(scratch),
        "--inference-idle-seconds",
        "60",
    )
    sdk = openai.OpenAI(base_url=server.base + "/v1", api_key=key, max_retries=0, timeout=120)
    try:
        yield server, sdk, where, scratch
    finally:
        server.close()


def _start(sdk: openai.OpenAI, n_epochs: int, rows: int = 120) -> Any:
    lines = (EXAMPLES / "chat.jsonl").read_bytes().splitlines(keepends=True)[:rows]
    upload = sdk.files.create(file=("chat.jsonl", b"".join(lines)), purpose="fine-tune")
    return sdk.fine_tuning.jobs.create(
        model="tiny-chat",
        training_file=upload.id,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": n_epochs}}},
    )


def _finished(server: Server, sdk: openai.OpenAI, job_id: str) -> Any:
    done = poll(
        lambda: sdk.fine_tuning.jobs.retrieve(job_id),
        lambda j: j.status in ("succeeded", "failed", "cancelled"),
        timeout=600,
    )
    assert done.status == "succeeded", (done, server.output())
    return done


def test_a_job_trained_off_the_data_dir_is_served_from_the_bucket(
    served: tuple[Server, openai.OpenAI, StorageRef, Path],
) -> None:
    server, sdk, where, scratch = served
    job = _start(sdk, n_epochs=1)
    done = _finished(server, sdk, job.id)

    (folder,) = (server.data_dir / "jobs").iterdir()
    assert not (folder / "output").exists(), "the worker wrote the server's data dir"
    assert not (folder / "checkpoints").exists()
    stored = s3_support.keys_under(where)
    assert any(k.startswith("ty/blobs/") for k in stored), stored
    assert f"ty/jobs/{folder.name}/output/adapter_model.safetensors" in stored
    assert any(
        k.startswith(f"ty/jobs/{folder.name}/checkpoints/") and k.endswith("/checkpoint.json")
        for k in stored
    ), stored

    shutil.rmtree(folder)  # the server's copy, and the node's: only the bucket has it now
    shutil.rmtree(scratch)
    model = done.fine_tuned_model
    assert model is not None
    reply = sdk.chat.completions.create(model=model, messages=ASK, temperature=0, max_tokens=8)  # type: ignore[arg-type]
    assert reply.choices[0].message.content, (reply, server.output())
    assert (folder / "output" / "adapter_model.safetensors").is_file()  # pulled on demand


def test_a_killed_worker_resumes_from_the_checkpoint_in_the_bucket(
    served: tuple[Server, openai.OpenAI, StorageRef, Path],
) -> None:
    server, sdk, where, scratch = served
    job = _start(sdk, n_epochs=3, rows=40)  # a checkpoint at the end of each epoch
    (folder,) = poll(
        lambda: list((server.data_dir / "jobs").iterdir()), lambda found: len(found) == 1
    )
    prefix = f"jobs/{folder.name}/checkpoints/"
    poll(
        lambda: s3_support.keys_under(where, prefix),
        lambda keys: any(k.endswith("/checkpoint.json") for k in keys),
        timeout=300,
    )
    work = scratch / "jobs" / folder.name
    pid = int((work / "worker.pid").read_text())
    os.kill(pid, signal.SIGSTOP)  # frozen: it writes nothing while its disk is wiped
    shutil.rmtree(work)  # the next worker finds nothing on this disk but what it pulls
    os.killpg(pid, signal.SIGKILL)

    _finished(server, sdk, job.id)
    messages = [e.message for e in sdk.fine_tuning.jobs.list_events(job.id, limit=100).data]
    assert any("killed" in m for m in messages), messages
    assert any(m.startswith("Resumed from the checkpoint at step") for m in messages), messages
    assert f"ty/jobs/{folder.name}/output/adapter_model.safetensors" in s3_support.keys_under(where)
