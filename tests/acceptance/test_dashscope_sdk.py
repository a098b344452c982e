"""The real `dashscope` SDK (v1 module API and v2 Client) against a real server and worker."""

from __future__ import annotations

import gc
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import Server, cli, poll
from tests.support.world import EXAMPLES

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

dashscope = pytest.importorskip("dashscope")
from dashscope.v2 import errors as v2_errors  # noqa: E402

QUICK = {"n_epochs": 1, "batch_size": 8, "max_length": 128, "lora_dropout": 0, "split": 0.9}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tuneyard-dashscope")


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[Server]:
    running = Server(data_dir)
    yield running
    assert running.interrupt() == 0, running.output()


ACCOUNT, SUBACCOUNT = "1396993924585947", "2048000000000001"


@pytest.fixture(scope="module")
def key(data_dir: Path) -> str:
    return cli(
        "keys", "create", "--workspace", "llm-acceptance", "--account", ACCOUNT, data_dir=data_dir
    ).strip()


@pytest.fixture(scope="module")
def sub_key(data_dir: Path) -> str:
    """A sub-account's key that may also work in the llm-acceptance workspace."""
    return cli(
        "keys",
        "create",
        "--workspace",
        "llm-sub",
        "--workspace",
        "llm-acceptance",
        "--account",
        ACCOUNT,
        "--subaccount",
        SUBACCOUNT,
        data_dir=data_dir,
    ).strip()


@pytest.fixture(autouse=True)
def collect_sdk_sockets() -> Iterator[None]:
    """The SDK leaves its HTTP connections for the garbage collector; collect them here,
    where their ResourceWarning is expected, not in whichever test runs next."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "sums.jsonl"
    path.write_bytes((EXAMPLES / "chat.jsonl").read_bytes())
    return path


def test_v1_module_api(server: Server, key: str, sub_key: str, dataset: Path) -> None:
    dashscope.base_http_api_url = f"{server.base}/api/v1"
    dashscope.api_key = key

    uploaded = dashscope.Files.upload(
        file_path=str(dataset), purpose="fine_tune", description="sums"
    )
    assert uploaded.status_code == 200, uploaded
    file_id = uploaded.output["uploaded_files"][0]["file_id"]
    assert uploaded.output["failed_uploads"] == []
    listed = dashscope.Files.list(page=1, page_size=10)
    assert file_id in [f["file_id"] for f in listed.output["files"]]
    got = dashscope.Files.get(file_id)
    assert got.output["name"] == "sums.jsonl" and got.output["description"] == "sums"

    def create() -> Any:
        created = dashscope.FineTunes.call(
            model="tiny-chat",
            training_file_ids=[file_id],
            mode="efficient_sft",
            hyper_parameters=QUICK,
        )
        assert created.status_code == 200, created
        return created.output

    a, b = create(), create()
    assert re.fullmatch(r"ft-\d{12}-[a-z0-9]{4}", a.job_id)
    # one worker: whichever job starts first holds it, and the other waits as QUEUING
    statuses = poll(
        lambda: {j: dashscope.FineTunes.get(j).output.status for j in (a.job_id, b.job_id)},
        lambda seen: sorted(seen.values()) == ["QUEUING", "RUNNING"],
    )
    first, second = (a, b) if statuses[a.job_id] == "RUNNING" else (b, a)
    jobs = dashscope.FineTunes.list(page_no=1, page_size=10).output
    assert jobs.total == 2 and {j["job_id"] for j in jobs.jobs} == {a.job_id, b.job_id}

    # a sub-account cancels in the shared workspace; the job shows who did
    cancelled = dashscope.FineTunes.cancel(
        first.job_id, api_key=sub_key, workspace="llm-acceptance"
    )
    assert cancelled.status_code == 200 and cancelled.output.status == "success"
    done = poll(
        lambda: dashscope.FineTunes.get(second.job_id).output,
        lambda job: job.status in ("SUCCEEDED", "FAILED", "CANCELED"),
    )
    assert done.status == "SUCCEEDED", done
    assert done.usage > 0 and done.finetuned_output == f"tiny-chat-{second.job_id}"
    assert done.end_time and done.hyper_parameters == QUICK
    stopped = dashscope.FineTunes.get(first.job_id).output
    assert (stopped.status, stopped.user_identity, stopped.creator, stopped.modifier) == (
        "CANCELED",
        ACCOUNT,
        ACCOUNT,
        SUBACCOUNT,
    )
    denied = dashscope.FineTunes.get(first.job_id, api_key=sub_key, workspace="llm-other")
    assert (denied.status_code, denied.code) == (403, "AccessDenied")

    events = [e.output for e in dashscope.FineTunes.stream_events(second.job_id)]
    assert events and all(
        e.status_code == 200 for e in dashscope.FineTunes.stream_events(second.job_id)
    )
    checkpoints = server.client.get(
        f"/api/v1/fine-tunes/{second.job_id}/checkpoints",
        headers={"Authorization": f"Bearer {key}"},
    ).json()["output"]
    assert [c["checkpoint"] for c in checkpoints] == [
        f"checkpoint-{c['step']}" for c in checkpoints
    ]
    assert len(checkpoints) == done.output_cnt == 1
    exported = server.client.get(
        f"/api/v1/fine-tunes/{second.job_id}/export/{checkpoints[0]['checkpoint']}",
        params={"model_name": "adder-ckpt"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=120,
    )
    assert exported.json()["output"] is True, exported.text

    logs = dashscope.FineTunes.logs(second.job_id, offset=1, line=1000)
    assert logs.status_code == 200 and logs.output["total"] == len(logs.output["logs"])
    assert any("succeeded" in line for line in logs.output["logs"])

    refused = dashscope.FineTunes.cancel(second.job_id)
    assert (refused.status_code, refused.code) == (400, "UnsupportedOperation")
    missing = dashscope.FineTunes.get("ft-202601010000-none")
    assert (missing.status_code, missing.code) == (404, "NotFound")
    deleted = dashscope.FineTunes.delete(first.job_id)
    assert deleted.status_code == 200 and deleted.output.status == "success"
    assert dashscope.Files.delete(file_id).status_code == 200
    gone = dashscope.Files.get(file_id)
    assert (gone.status_code, gone.code, gone.message) == (
        400,
        "InvalidParameter",
        "File not found.",
    )


def test_v2_client(server: Server, key: str, dataset: Path) -> None:
    client = dashscope.Client(api_key=key, base_url=f"{server.base}/api/v1")
    try:
        check_v2_client(client, server, dataset)
    finally:
        client.close()


def check_v2_client(client: Any, server: Server, dataset: Path) -> None:
    uploaded = client.files.upload(file_path=str(dataset))
    assert uploaded.file_id and uploaded.name == "sums.jsonl"
    assert uploaded.file_id in [f.file_id for f in client.files.list().files]

    job = client.fine_tunes.create(
        model="tiny-chat",
        training_file_ids=[uploaded.file_id],
        mode="efficient_sft",
        hyper_parameters=QUICK,
        finetuned_model="v2-adder",
    )
    assert job.job_id and job.finetuned_model == "v2-adder"
    assert job.job_id in [j.job_id for j in client.fine_tunes.list().jobs]
    done = poll(lambda: client.fine_tunes.get(job.job_id), lambda j: j.finished)
    assert done.succeeded, done
    assert done.usage is not None and done.usage.total_tokens > 0
    assert done.created_at and done.finished_at
    assert "Status running -> succeeded" in client.fine_tunes.logs(job.job_id).content
    lines = [e.output for e in client.fine_tunes.stream_events(job.job_id)]
    assert lines[-1].endswith("Status running -> succeeded") and not any(
        e.is_error for e in client.fine_tunes.stream_events(job.job_id)
    )

    with pytest.raises(v2_errors.NotFoundError):
        client.files.get("file-does-not-exist")
    with pytest.raises(v2_errors.BadRequestError, match="training_type"):
        client.fine_tunes.create(
            model="tiny-chat", training_file_ids=[uploaded.file_id], mode="rlhf"
        )
    with pytest.raises(v2_errors.AuthenticationError):
        dashscope.Client(api_key="sk-wrong", base_url=f"{server.base}/api/v1").files.list()
