"""The real `openai` SDK against a real server and worker, configured only with
`OpenAI(base_url="http://127.0.0.1:PORT/v1", api_key=…)`: the flow of issue 12, with the
SDK's default and its strict response validation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.server import Server, cli, poll
from tests.support.world import EXAMPLES

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

openai = pytest.importorskip("openai")

QUICK = {"n_epochs": 1, "batch_size": 8, "learning_rate_multiplier": 2}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("tuneyard-openai"))
    yield running
    assert running.interrupt() == 0, running.output()


@pytest.fixture(scope="module")
def key(server: Server) -> str:
    return cli("keys", "create", "--workspace", "oa", data_dir=server.data_dir).strip()


def clients(server: Server, key: str) -> list[Any]:
    base = f"{server.base}/v1"
    return [
        openai.OpenAI(base_url=base, api_key=key),
        openai.OpenAI(base_url=base, api_key=key, _strict_response_validation=True),
    ]


def test_the_fine_tuning_flow_through_the_sdk(server: Server, key: str) -> None:
    loose, strict = clients(server, key)
    with (EXAMPLES / "chat.jsonl").open("rb") as handle:
        uploaded = loose.files.create(file=handle, purpose="fine-tune")
    assert uploaded.status == "processed" and strict.files.retrieve(uploaded.id).bytes > 0
    job = strict.fine_tuning.jobs.create(
        model="tiny-chat",
        training_file=uploaded.id,
        suffix="sums",
        metadata={"run": "acceptance"},
        method={"type": "supervised", "supervised": {"hyperparameters": QUICK}},
    )
    assert job.status == "validating_files" and job.id.startswith("ftjob-")
    seen: list[str] = []

    def read() -> Any:
        current = strict.fine_tuning.jobs.retrieve(job.id)
        seen.append(current.status)
        return current

    done = poll(read, lambda j: j.status in ("succeeded", "failed", "cancelled"))
    assert done.status == "succeeded", (done.error, server.output())
    assert "running" in seen
    assert done.fine_tuned_model == f"ft:tiny-chat:oa:sums:{job.id.removeprefix('ftjob-')}"
    assert done.trained_tokens and done.trained_tokens > 0 and done.finished_at
    assert done.hyperparameters.n_epochs == 1 and done.hyperparameters.batch_size == 8
    assert done.hyperparameters.learning_rate_multiplier == 2
    results = strict.files.content(done.result_files[0]).text.splitlines()
    assert results[0].startswith("step,train_loss,train_accuracy,valid_loss")
    assert len(results) > 2

    events = list(strict.fine_tuning.jobs.list_events(job.id, limit=5))  # several pages
    assert len(events) > 5 and events[-1].message == "Job created"
    metrics = [e for e in events if e.type == "metrics"]
    assert metrics and all(e.data["train_loss"] > 0 for e in metrics if "train_loss" in e.data)
    assert any(0 <= (e.data.get("train_mean_token_accuracy") or -1) <= 1 for e in metrics)
    assert any("valid_loss" in e.data for e in metrics)  # at a checkpoint
    checkpoints = strict.fine_tuning.jobs.checkpoints.list(job.id).data
    assert checkpoints and checkpoints[0].fine_tuned_model_checkpoint.startswith(
        done.fine_tuned_model + ":ckpt-step-"
    )
    assert checkpoints[0].metrics.train_loss and checkpoints[0].metrics.valid_loss

    second = loose.fine_tuning.jobs.create(
        model="tiny-chat",
        training_file=uploaded.id,
        hyperparameters={"n_epochs": 40},
    )
    extra = [
        loose.fine_tuning.jobs.create(model="tiny-chat", training_file=uploaded.id).id
        for _ in range(2)
    ]
    cancelled = strict.fine_tuning.jobs.cancel(second.id)
    assert cancelled.status == "cancelled"
    for job_id in extra:
        strict.fine_tuning.jobs.cancel(job_id)
    listed = [j.id for j in strict.fine_tuning.jobs.list(limit=2)]  # auto-pagination
    assert listed[:2] == extra[::-1] and listed[2:] == [second.id, job.id]
    tagged = list(strict.fine_tuning.jobs.list(metadata={"run": "acceptance"}))
    assert [j.id for j in tagged] == [job.id]

    with pytest.raises(openai.NotFoundError):
        strict.fine_tuning.jobs.retrieve("ftjob-doesnotexist")
    bad = loose.files.create(file=("bad.jsonl", b'{"messages": "hi"}\n'), purpose="fine-tune")
    assert bad.status == "error" and bad.status_details
    with pytest.raises(openai.BadRequestError) as refused:
        strict.fine_tuning.jobs.create(model="tiny-chat", training_file=bad.id)
    assert refused.value.code == "invalid_training_file"


def test_the_server_answers_with_request_ids(server: Server, key: str) -> None:
    response = server.client.get("/v1/fine_tuning/jobs", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200 and response.headers["x-request-id"].startswith("req_")
    missing = server.client.get("/v1/files/file-x", headers={"Authorization": f"Bearer {key}"})
    assert missing.status_code == 404 and missing.headers["x-request-id"]
