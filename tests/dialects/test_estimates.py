"""Estimates through the app: `POST /tuneyard/v1/estimate`, refusal at create in the
dialects (their 400s), the --max-job-* policy, and the figures on a job after validation."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support import estimates as fixed
from tests.support.world import EXAMPLES, World, make_ports
from tuneyard.api.app import create_app
from tuneyard.core import estimates
from tuneyard.core.states import JobStatus
from tuneyard.scheduler.executors.fake import FakeExecutor
from tuneyard.settings import Settings

CHAT = (EXAMPLES / "chat.jsonl").read_bytes()


class Api:
    """An app with estimates on a fixed machine, and keys of two workspaces."""

    def __init__(self, tmp_path: Path) -> None:
        self.world = World(make_ports("sqlite", tmp_path), tmp_path, FakeExecutor())
        self.world.service.estimates.sizing = fixed.sizing()
        app = create_app(Settings(data_dir=tmp_path), self.world.service)
        self.client = TestClient(app, raise_server_exceptions=False)
        self.headers = self._bearer("ws")
        self.other = self._bearer("other")

    def _bearer(self, workspace: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.world.service.credentials.create_key(workspace)}"}

    def policy(self, **limits: Any) -> None:
        self.world.service.estimates.sizing = fixed.sizing(**limits)

    def upload(self, headers: dict[str, str] | None = None) -> str:
        response = self.client.post(
            "/v1/files",
            headers=headers or self.headers,
            data={"purpose": "fine-tune"},
            files={"file": ("train.jsonl", CHAT)},
        )
        assert response.status_code == 200, response.text
        file_id: str = response.json()["id"]
        return file_id

    def estimate(self, **body: Any) -> Any:
        return self.client.post("/tuneyard/v1/estimate", headers=self.headers, json=body)


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return Api(tmp_path)


def test_estimate_of_an_upload(api: Api) -> None:
    response = api.client.post(
        "/tuneyard/v1/estimate",
        headers=api.headers,
        data={"model": "tiny-chat", "method": "full", "hyperparameters": '{"n_epochs": 2}'},
        files={"file": ("train.jsonl", CHAT)},
    )
    assert response.status_code == 200, response.text
    found = response.json()
    assert found["object"] == "estimate" and found["method"] == "full"
    assert found["rows"] == 120 and found["fits"] is True and found["refused"] is None
    assert found["trainable_parameters"] == found["parameters"]  # full: every weight
    assert found["steps"] == 2 * 14  # 108 examples after 12 held out, batches of 8
    assert found["peak_memory_bytes"] > fixed.MACHINE.base_bytes
    assert found["job_seconds"] > found["train_seconds"] > 0
    assert not api.world.ports.files.page("ws", offset=0, limit=10).items  # not kept


def test_estimate_of_a_stored_file(api: Api) -> None:
    file_id = api.upload()
    lora = api.estimate(model="tiny-chat", training_file=file_id).json()
    full = api.estimate(model="tiny-chat", training_file=file_id, method="full").json()
    assert lora["trainable_parameters"] < full["trainable_parameters"]
    assert lora["peak_memory_bytes"] < full["peak_memory_bytes"]
    assert lora["tokens"] == full["tokens"] > 0


def test_another_workspaces_file_is_not_found(api: Api) -> None:
    theirs = api.upload(api.other)
    response = api.estimate(model="tiny-chat", training_file=theirs)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "file_not_found"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"training_file": "f"}, "model"),
        ({"model": "tiny-chat"}, "training_file"),
        ({"model": "tiny-chat", "training_file": "f", "method": "qlora"}, "method"),
        (
            {"model": "tiny-chat", "training_file": "f", "hyperparameters": {"x": 1}},
            "hyperparameters",
        ),
    ],
)
def test_bad_requests_are_400(api: Api, body: dict[str, Any], param: str) -> None:
    response = api.estimate(**body)
    assert response.status_code == 400 and response.json()["error"]["param"] == param


def test_a_job_over_the_memory_policy_is_refused_at_create_in_openai(api: Api) -> None:
    file_id = api.upload()
    api.policy(max_job_memory=200 << 20)
    body = {"model": "tiny-chat", "training_file": file_id}
    response = api.client.post("/v1/fine_tuning/jobs", headers=api.headers, json=body)
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert "the job does not fit: estimated peak memory" in message
    assert "of 200 MiB available" in message and "--max-job-memory" in message
    assert api.world.ports.jobs.active_count("ws") == 0


def test_a_job_over_the_time_policy_is_refused_at_create_in_dashscope(api: Api) -> None:
    file_id = api.upload()
    api.policy(max_job_seconds=2)
    body = {"model": "tiny-chat", "training_type": "efficient_sft", "training_file_ids": [file_id]}
    response = api.client.post("/api/v1/fine-tunes", headers=api.headers, json=body)
    assert response.status_code == 400, response.text
    message = response.json()["message"]
    assert "over --max-job-seconds (2 s)" in message and "whole job" in message


def test_a_job_that_fits_is_created_and_carries_its_figures_after_validation(api: Api) -> None:
    file_id = api.upload()
    body = {"model": "tiny-chat", "training_file": file_id}
    created = api.client.post("/v1/fine_tuning/jobs", headers=api.headers, json=body)
    assert created.status_code == 200, created.text
    job_id = created.json()["id"].removeprefix("ftjob-")
    api.world.wait_for(job_id, lambda j: j.status is not JobStatus.CREATED and j.progress.estimate)
    native = api.client.get(f"/tuneyard/v1/jobs/{job_id}", headers=api.headers).json()
    figures = native["estimate"]
    assert figures["fits"] is True and figures["peak_memory_bytes"] > 0
    assert figures["tokens"] > 0 and figures["job_seconds"] > figures["train_seconds"]
    events = api.client.get(f"/tuneyard/v1/jobs/{job_id}/events", headers=api.headers).json()
    shown = [e for e in events["data"] if e["type"] == "estimate"]
    assert len(shown) == 1 and shown[0]["data"] == figures
    assert shown[0]["message"].startswith("Estimate: estimated peak memory")


def test_a_big_file_is_estimated_at_validation_and_fails_there(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file too big to count at create is refused when validation has counted it."""
    file_id = api.upload()
    auto = {"n_epochs": "auto", "batch_size": "auto", "learning_rate": "auto"}  # as OpenAI's
    whole = api.estimate(model="tiny-chat", training_file=file_id, hyperparameters=auto).json()
    monkeypatch.setattr(estimates, "AT_CREATE_BYTES", 0)
    api.policy(max_job_seconds=whole["job_seconds"] - 1)  # the model alone is under it
    body = {"model": "tiny-chat", "training_file": file_id}
    created = api.client.post("/v1/fine_tuning/jobs", headers=api.headers, json=body)
    assert created.status_code == 200, created.text
    job_id = created.json()["id"].removeprefix("ftjob-")
    job = api.world.wait_status(job_id, JobStatus.FAILED)
    assert job.error_code == estimates.EXCEEDED
    assert job.error_message is not None and "over --max-job-seconds" in job.error_message
    assert json.loads(json.dumps(job.progress.estimate))["fits"] is True


def test_a_model_without_a_readable_shape_is_not_estimated_nor_refused(api: Api) -> None:
    def unreadable(model: object) -> Any:
        raise FileNotFoundError("no config.json")

    api.world.service.estimates.sizing = dataclasses.replace(
        fixed.sizing(max_job_memory=1), shape=unreadable
    )
    file_id = api.upload()
    response = api.estimate(model="tiny-chat", training_file=file_id)
    assert response.status_code == 400 and "its config cannot be read" in response.text
    body = {"model": "tiny-chat", "training_file": file_id}
    created = api.client.post("/v1/fine_tuning/jobs", headers=api.headers, json=body)
    assert created.status_code == 200, created.text
    job_id = created.json()["id"].removeprefix("ftjob-")
    waiting = (JobStatus.CREATED, JobStatus.VALIDATING)
    api.world.wait_for(job_id, lambda j: j.status not in waiting)
    events = api.client.get(f"/tuneyard/v1/jobs/{job_id}/events", headers=api.headers).json()
    shown = [e["message"] for e in events["data"] if e["type"] == "estimate"]
    assert shown == [
        "No estimate: no estimate for tiny-chat: its config cannot be read (no config.json)"
    ]
