"""A tuned model's name never shadows a base model's: DashScope answers 409 Conflict."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dialects.test_dashscope_routes import Api
from tests.support.world import run_with_checkpoints
from tuneyard.core.states import JobStatus
from tuneyard.scheduler.executors.fake import FakeExecutor


@pytest.mark.parametrize("field", ["model_name", "finetuned_output"])
def test_dashscope_refuses_a_base_model_name_as_output(tmp_path: Path, field: str) -> None:
    api = Api(tmp_path, FakeExecutor())
    request = {"model": "tiny-chat", "training_file_ids": [api.upload()], field: "tiny-chat"}
    refused = api.client.post("/api/v1/fine-tunes", headers=api.headers, json=request)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "Conflict" and "tiny-chat" in refused.json()["message"]
    listed = api.client.get("/api/v1/fine-tunes", headers=api.headers).json()["output"]
    assert listed["jobs"] == []
    plain = api.create()  # `model: tiny-chat` still means the base model
    assert plain["base_model"] == "tiny-chat" and plain["model"] == "tiny-chat"


def test_dashscope_refuses_a_base_model_name_for_an_export(tmp_path: Path) -> None:
    api = Api(tmp_path, FakeExecutor(run_with_checkpoints))
    job = api.create()
    api.world.wait_status(job["job_id"], JobStatus.SUCCEEDED)
    url = f"/api/v1/fine-tunes/{job['job_id']}/export/checkpoint-2?model_name=tiny-chat"
    refused = api.client.get(url, headers=api.headers)
    assert refused.status_code == 409 and refused.json()["code"] == "Conflict"
    listed = api.client.get(f"/api/v1/fine-tunes/{job['job_id']}/checkpoints", headers=api.headers)
    assert [c["model_name"] for c in listed.json()["output"]] == [None, None]
