"""OpenAI routes through the real app: golden exchanges, and the real `openai` SDK (strict
response validation) over the same app, plus one core shared with the CLOVA dialect."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest
from fastapi.testclient import TestClient

from tests.dialects.test_qianfan_routes import evaluated_run
from tests.support import golden
from tests.support.world import EXAMPLES, ManualClock, World, make_ports
from tuneyard.api.app import create_app
from tuneyard.core.states import JobStatus
from tuneyard.scheduler.executors.fake import FakeExecutor
from tuneyard.settings import Settings

CHAT = (EXAMPLES / "chat.jsonl").read_bytes()


class Api:
    """A bearer key, raw HTTP for golden files, and the SDK over the same app."""

    def __init__(self, tmp_path: Path, executor: FakeExecutor | None = None) -> None:
        self.clock = ManualClock()
        ports = make_ports("sqlite", tmp_path, self.clock)
        self.world = World(ports, tmp_path, executor or FakeExecutor(evaluated_run))
        app = create_app(Settings(data_dir=tmp_path), self.world.service)
        self.client = TestClient(app, raise_server_exceptions=False)
        self.key = self.world.service.credentials.create_key("ws")
        self.headers = {"Authorization": f"Bearer {self.key}"}
        self.sdk = openai.OpenAI(
            base_url="http://testserver/v1",
            api_key=self.key,
            http_client=self.client,
            max_retries=0,
            _strict_response_validation=True,
        )
        self.ids: dict[str, str] = {}

    def name(self, real: str, kind: str) -> str:
        return self.ids.setdefault(real, f"<{kind}-{len(self.ids) + 1}>")

    def upload(self, content: bytes = CHAT, filename: str = "train.jsonl") -> str:
        self.clock.advance(1)
        stored = self.sdk.files.create(file=(filename, content), purpose="fine-tune")
        self.name(stored.id, "file-id")
        return stored.id

    def create(self, **fields: Any) -> str:
        self.clock.advance(1)
        job = self.sdk.fine_tuning.jobs.create(
            model=fields.pop("model", "tiny-chat"),
            training_file=fields.pop("training_file", None) or self.upload(),
            **fields,
        )
        self.name(job.id, "job-id")
        self.name(job.id.removeprefix("ftjob-"), "neutral-id")
        return job.id

    def exchange(
        self, name: str, method: str, url: str, *, request: Any = None, **kwargs: Any
    ) -> Any:
        kwargs.setdefault("headers", self.headers)
        response = self.client.request(method, url, **kwargs)
        assert response.headers["x-request-id"].startswith("req_")
        return golden.exchange(f"openai/{name}", method, url, request, response, self.ids)


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return Api(tmp_path)


def test_files_upload_list_retrieve_content_delete(api: Api) -> None:
    body = api.exchange(
        "upload-file", "POST", "/v1/files",
        files={"file": ("train.jsonl", CHAT)}, data={"purpose": "fine-tune"},
    )  # fmt: skip
    api.name(body["id"], "file-id")
    assert (body["status"], body["status_details"], body["bytes"]) == ("processed", None, len(CHAT))
    api.clock.advance(1)
    bad = api.exchange(
        "upload-bad-file", "POST", "/v1/files",
        files={"file": ("bad.jsonl", b'{"prompt": 1}\n')}, data={"purpose": "fine-tune"},
    )  # fmt: skip
    api.name(bad["id"], "file-id")
    assert bad["status"] == "error" and bad["status_details"].startswith("file.format: line 1")
    wrong = api.exchange(
        "upload-wrong-purpose", "POST", "/v1/files",
        files={"file": ("x.jsonl", CHAT)}, data={"purpose": "batch"},
    )  # fmt: skip
    assert wrong["error"]["param"] == "purpose"
    listed = api.exchange("list-files", "GET", "/v1/files?limit=1")
    assert [f["id"] for f in listed["data"]] == [bad["id"]] and listed["has_more"] is True
    oldest = api.client.get("/v1/files?order=asc", headers=api.headers).json()
    assert [f["id"] for f in oldest["data"]] == [body["id"], bad["id"]]
    assert [f.id for f in api.sdk.files.list(limit=1)] == [bad["id"], body["id"]]  # 2 pages
    api.clock.advance(1)
    api.exchange("retrieve-file", "GET", f"/v1/files/{body['id']}")
    small = api.sdk.files.create(
        file=("two.jsonl", b"".join(CHAT.splitlines(True)[:2])), purpose="fine-tune"
    )
    api.name(small.id, "file-id")
    text = api.exchange("file-content", "GET", f"/v1/files/{small.id}/content")
    assert text.encode() == b"".join(CHAT.splitlines(True)[:2])
    content = api.client.get(f"/v1/files/{body['id']}/content", headers=api.headers)
    assert content.content == CHAT and content.headers["x-request-id"]
    api.exchange("delete-file", "DELETE", f"/v1/files/{bad['id']}")
    missing = api.exchange("file-not-found", "GET", f"/v1/files/{bad['id']}")
    assert missing["error"]["type"] == "invalid_request_error"
    with pytest.raises(openai.NotFoundError):
        api.sdk.files.retrieve(bad["id"])


def test_create_poll_events_checkpoints_and_results(api: Api) -> None:
    file_id = api.upload()
    hyper = {"n_epochs": 2, "batch_size": "auto", "learning_rate_multiplier": 2}
    request = {
        "model": "tiny-chat",
        "training_file": file_id,
        "suffix": "demo",
        "seed": 7,
        "metadata": {"team": "math"},
        "method": {"type": "supervised", "supervised": {"hyperparameters": hyper}},
    }
    created = api.exchange(
        "create-job", "POST", "/v1/fine_tuning/jobs", request=request, json=request
    )
    job_id = created["id"]
    api.name(job_id, "job-id")
    neutral = api.name(job_id.removeprefix("ftjob-"), "neutral-id") and job_id[6:]
    assert created["status"] == "validating_files" and created["error"] is None
    job = api.world.service.jobs.get("ws", neutral)
    assert (job.hyperparameters.n_epochs, job.hyperparameters.learning_rate) == (2, 2e-4)
    assert job.hyperparameters.auto == ("batch_size",) and job.hyperparameters.seed == 7
    api.clock.advance(30)
    api.world.wait_status(neutral, JobStatus.SUCCEEDED)
    done = api.exchange("retrieve-succeeded", "GET", f"/v1/fine_tuning/jobs/{job_id}")
    assert done["fine_tuned_model"] == f"ft:tiny-chat:ws:demo:{neutral}"
    assert done["trained_tokens"] == 2000 and len(done["result_files"]) == 1
    sdk_job = api.sdk.fine_tuning.jobs.retrieve(job_id)  # strict validation
    assert sdk_job.status == "succeeded" and sdk_job.metadata == {"team": "math"}
    api.name(done["result_files"][0], "file-id")
    csv = api.sdk.files.content(done["result_files"][0]).text.splitlines()
    assert csv[0] == "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"
    assert csv[2].startswith("2,1.0,,1.5") and len(csv) == 5  # 4 steps
    events = api.exchange("events", "GET", f"/v1/fine_tuning/jobs/{job_id}/events?limit=3")
    assert events["has_more"] is True and events["data"][0]["message"].startswith("The job has")
    every = list(api.sdk.fine_tuning.jobs.list_events(job_id, limit=4))  # auto-pagination
    seqs = [int(e.id.rsplit("-", 1)[1]) for e in every]
    assert seqs == sorted(seqs, reverse=True) and seqs[-1] == 1
    metrics = [e for e in every if e.type == "metrics"]
    assert {"step", "total_steps", "train_loss", "train_mean_token_accuracy"} <= set(
        metrics[-1].data  # type: ignore[arg-type]
    )
    assert any("valid_loss" in (e.data or {}) for e in metrics)  # type: ignore[operator]
    checkpoints = api.exchange("checkpoints", "GET", f"/v1/fine_tuning/jobs/{job_id}/checkpoints")
    assert [c["step_number"] for c in checkpoints["data"]] == [4, 2]
    older = api.sdk.fine_tuning.jobs.checkpoints.list(job_id, after=checkpoints["data"][0]["id"])
    assert [c.step_number for c in older.data] == [2]
    assert older.data[0].fine_tuned_model_checkpoint.endswith(":ckpt-step-2")


def test_list_with_pages_and_metadata(api: Api) -> None:
    file_id = api.upload()
    first = api.create(training_file=file_id, metadata={"team": "a"})
    second = api.create(training_file=file_id, metadata={"team": "b"})
    third = api.create(training_file=file_id)
    page = api.exchange("list-jobs", "GET", "/v1/fine_tuning/jobs?limit=2")
    assert [j["id"] for j in page["data"]] == [third, second] and page["has_more"] is True
    assert [j.id for j in api.sdk.fine_tuning.jobs.list(limit=2)] == [third, second, first]
    team = api.exchange("list-jobs-metadata", "GET", "/v1/fine_tuning/jobs?metadata[team]=a")
    assert [j["id"] for j in team["data"]] == [first] and team["has_more"] is False


def test_cancel_pause_resume(tmp_path: Path) -> None:
    api = Api(tmp_path, FakeExecutor(hold=True))
    job_id = api.create()
    neutral = job_id.removeprefix("ftjob-")
    api.world.wait_status(neutral, JobStatus.RUNNING)
    paused = api.exchange("pause", "POST", f"/v1/fine_tuning/jobs/{job_id}/pause")
    assert paused["status"] == "paused"
    api.world.wait_status(neutral, JobStatus.PAUSED)
    resumed = api.exchange("resume", "POST", f"/v1/fine_tuning/jobs/{job_id}/resume")
    assert resumed["status"] == "queued"
    api.world.wait_status(neutral, JobStatus.RUNNING)
    launched = [spec for spec, _ in api.world.scheduler.executor.launched]  # type: ignore[attr-defined]
    assert len(launched) == 2  # a second worker took over after the pause
    cancelled = api.exchange("cancel", "POST", f"/v1/fine_tuning/jobs/{job_id}/cancel")
    assert cancelled["status"] == "cancelled"
    api.world.wait_status(neutral, JobStatus.CANCELLED)
    again = api.client.post(f"/v1/fine_tuning/jobs/{job_id}/cancel", headers=api.headers)
    assert again.status_code == 400
    with pytest.raises(openai.BadRequestError):
        api.sdk.fine_tuning.jobs.pause(job_id)


def test_errors_in_openai_envelope(api: Api) -> None:
    bad_file = api.sdk.files.create(file=("bad.jsonl", b"not json\n"), purpose="fine-tune")
    api.name(bad_file.id, "file-id")
    with pytest.raises(openai.BadRequestError) as refused:
        api.sdk.fine_tuning.jobs.create(model="tiny-chat", training_file=bad_file.id)
    assert refused.value.code == "invalid_training_file"
    request = {"model": "tiny-chat", "training_file": bad_file.id}
    api.exchange("create-bad-file", "POST", "/v1/fine_tuning/jobs", request=request, json=request)
    request = {"model": "tiny-chat", "training_file": "file-missing"}
    api.exchange(
        "create-missing-file", "POST", "/v1/fine_tuning/jobs", request=request, json=request
    )
    request = {"model": "gpt-5", "training_file": api.upload()}
    unknown = api.exchange(
        "create-unknown-model", "POST", "/v1/fine_tuning/jobs", request=request, json=request
    )
    assert unknown["error"]["param"] == "model" and "gpt-5" in unknown["error"]["message"]
    request = {"model": "tiny-chat", "training_file": "f", "hyperparameters": {"epochs": 3}}
    typo = api.exchange(
        "create-unknown-key", "POST", "/v1/fine_tuning/jobs", request=request, json=request
    )
    assert "epochs" in typo["error"]["message"]
    missing = api.exchange("retrieve-not-found", "GET", "/v1/fine_tuning/jobs/ftjob-nope")
    assert missing["error"]["message"] == "No fine-tuning job found with id ftjob-nope"
    with pytest.raises(openai.NotFoundError):
        api.sdk.fine_tuning.jobs.retrieve("ftjob-nope")
    unauthenticated = api.client.get("/v1/fine_tuning/jobs", headers={"Authorization": "Bearer x"})
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["error"]["code"] == "invalid_api_key"
    with pytest.raises(openai.BadRequestError):
        api.sdk.fine_tuning.jobs.create(
            model="tiny-chat", training_file=api.upload(),
            method={"type": "reinforcement", "reinforcement": {"grader": {}}},  # type: ignore[typeddict-item]
        )  # fmt: skip


def test_a_dataset_problem_fails_the_job_with_openai_codes(api: Api) -> None:
    few = b"".join(CHAT.splitlines(keepends=True)[:5])
    job_id = api.create(training_file=api.upload(few, "few.jsonl"))
    api.world.wait_status(job_id.removeprefix("ftjob-"), JobStatus.FAILED)
    failed = api.exchange("retrieve-failed", "GET", f"/v1/fine_tuning/jobs/{job_id}")
    assert failed["error"]["code"] == "invalid_n_examples"
    assert failed["error"]["param"] == "training_file"
    pair = {
        "input": {"messages": [{"role": "user", "content": "hi"}]},
        "preferred_output": [{"role": "assistant", "content": "a"}],
        "non_preferred_output": [{"role": "assistant", "content": "b"}],
    }
    pairs = (json.dumps(pair) + "\n").encode() * 12
    wrong = api.create(training_file=api.upload(pairs, "pairs.jsonl"))  # DPO pairs, SFT job
    job = api.world.wait_status(wrong.removeprefix("ftjob-"), JobStatus.FAILED)
    assert api.sdk.fine_tuning.jobs.retrieve(wrong).error.code == "invalid_training_file"  # type: ignore[union-attr]
    assert job.error_param == "training_file"


def test_one_core_shared_with_the_clova_dialect(api: Api) -> None:
    job_id = api.create()
    neutral = job_id.removeprefix("ftjob-")
    seen = api.client.get(f"/tuning/v2/tasks/{neutral}", headers=api.headers).json()["result"]
    assert seen["id"] == neutral and seen["status"] == "WAIT"
    api.world.wait_status(neutral, JobStatus.SUCCEEDED)
    seen = api.client.get(f"/tuning/v2/tasks/{neutral}", headers=api.headers).json()["result"]
    assert seen["status"] == "SUCCEEDED"
    sample = (EXAMPLES / "clova-generation.csv").read_bytes()
    api.clock.advance(1)
    clova = api.client.post(
        "/tuning/v2/tasks", headers=api.headers,
        data={"model": "tiny-chat", "trainEpochs": "1", "name": "from clova"},
        files={"file": ("train.csv", sample, "text/csv")},
    ).json()["result"]  # fmt: skip
    through_openai = api.sdk.fine_tuning.jobs.retrieve(f"ftjob-{clova['id']}")
    assert through_openai.status == "validating_files"
    assert (
        through_openai.training_file
        == api.world.service.jobs.get("ws", clova["id"]).training_file_id
    )
    api.world.wait_status(clova["id"], JobStatus.SUCCEEDED)
    listed = [j.id for j in api.sdk.fine_tuning.jobs.list()]
    assert listed == [f"ftjob-{clova['id']}", job_id]
    done = api.sdk.fine_tuning.jobs.retrieve(f"ftjob-{clova['id']}")
    assert done.fine_tuned_model == f"ft:tiny-chat:ws::{clova['id']}"


def test_continuing_from_a_fine_tuned_model_and_a_checkpoint(api: Api) -> None:
    first = api.create()
    api.world.wait_status(first.removeprefix("ftjob-"), JobStatus.SUCCEEDED)
    done = api.sdk.fine_tuning.jobs.retrieve(first)
    assert done.fine_tuned_model is not None
    again = api.create(model=done.fine_tuned_model)
    job = api.world.service.jobs.get("ws", again.removeprefix("ftjob-"))
    assert job.parent is not None and job.parent.job_id == first.removeprefix("ftjob-")
    assert job.base_model == "tiny-chat" and job.parent.step is None
    step = api.create(model=done.fine_tuned_model + ":ckpt-step-2")
    parent = api.world.service.jobs.get("ws", step.removeprefix("ftjob-")).parent
    assert parent is not None and parent.step == 2
    assert api.sdk.fine_tuning.jobs.retrieve(step).model == done.fine_tuned_model + ":ckpt-step-2"
