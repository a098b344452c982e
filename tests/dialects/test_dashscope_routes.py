"""DashScope routes through the real app (TestClient), scripted executor; golden exchanges."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support import golden
from tests.support.world import EXAMPLES, World, make_ports, run_with_checkpoints
from tuneyard.api.app import create_app
from tuneyard.api.dialects.dashscope import create as dashscope_create
from tuneyard.core.states import JobStatus
from tuneyard.scheduler.executors.fake import FakeExecutor
from tuneyard.settings import Settings

CHAT = (EXAMPLES / "chat.jsonl").read_bytes()
ACCOUNT = "1396993924585947"
SUBACCOUNT = "2048000000000001"
JOB_KEYS = [
    "job_id",
    "job_name",
    "status",
    "finetuned_output",
    "model",
    "base_model",
    "training_file_ids",
    "validation_file_ids",
    "hyper_parameters",
    "training_type",
    "create_time",
    "workspace_id",
    "user_identity",
    "modifier",
    "creator",
    "end_time",
    "group",
    "usage",
    "output_cnt",
    "max_output_cnt",
]


class Api:
    """A client with a key, plus the world behind it."""

    def __init__(self, tmp_path: Path, executor: FakeExecutor, **world: Any) -> None:
        self.world = World(make_ports("sqlite", tmp_path), tmp_path, executor, **world)
        app = create_app(Settings(data_dir=tmp_path), self.world.service)
        self.client = TestClient(app, raise_server_exceptions=False)
        self.key = self.world.service.credentials.create_key("ws", account=ACCOUNT)
        self.headers = {"Authorization": f"Bearer {self.key}"}
        self.ids: dict[str, str] = {}

    def name(self, real: str, kind: str) -> str:
        placeholder = self.ids.setdefault(real, f"<{kind}-{len(self.ids) + 1}>")
        return placeholder

    def upload(self, content: bytes = CHAT, filename: str = "train.jsonl") -> str:
        response = self.client.post(
            "/api/v1/files", headers=self.headers, files=[("files", (filename, content))]
        )
        assert response.status_code == 200, response.text
        file_id: str = response.json()["data"]["uploaded_files"][0]["file_id"]
        self.name(file_id, "file-id")
        return file_id

    def create(self, **fields: Any) -> dict[str, Any]:
        body = {"model": "tiny-chat", "training_type": "efficient_sft", **fields}
        if "training_file_ids" not in body:
            body["training_file_ids"] = [self.upload()]
        response = self.client.post("/api/v1/fine-tunes", headers=self.headers, json=body)
        assert response.status_code == 200, response.text
        output: dict[str, Any] = response.json()["output"]
        self.name(output["job_id"], "job-id")
        return output

    def exchange(
        self, name: str, method: str, url: str, *, request: Any = None, **kwargs: Any
    ) -> Any:
        kwargs.setdefault("headers", self.headers)
        response = self.client.request(method, url, **kwargs)
        body = golden.exchange(f"dashscope/{name}", method, url, request, response, self.ids)
        assert isinstance(body.get("request_id"), str) and body["request_id"]
        if response.status_code < 400:
            assert "code" not in body, "a top-level code on success makes the v2 SDK raise"
        return body


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return Api(tmp_path, FakeExecutor())


def test_upload_one_file(api: Api) -> None:
    """The upload route's golden exchange, request included (a multipart body is recorded
    as its parts' names)."""
    request = {"files": ["train.jsonl"], "descriptions": ["arithmetic chats"]}
    response = api.client.post(
        "/api/v1/files",
        headers=api.headers,
        files=[("files", ("train.jsonl", CHAT))],
        data={"descriptions": ["arithmetic chats"]},
    )
    api.name(response.json()["data"]["uploaded_files"][0]["file_id"], "file-id")
    body = golden.exchange(
        "dashscope/upload-one", "POST", "/api/v1/files", request, response, api.ids
    )
    assert body["data"]["failed_uploads"] == []


def test_files_upload_list_get_delete(api: Api) -> None:
    bad = b'{"messages": [{"role": "user", "content": "hi"}]}\nnot json\n'
    response = api.client.post(
        "/api/v1/files",
        headers=api.headers,
        files=[("files", ("good.jsonl", CHAT)), ("files", ("bad.jsonl", bad))],
        data={"descriptions": ["arithmetic chats"]},
    )
    data = response.json()["data"]
    assert [f["name"] for f in data["uploaded_files"]] == ["good.jsonl"]
    file_id = api.name(data["uploaded_files"][0]["file_id"], "file-id")
    assert file_id
    golden.check(
        "dashscope/upload",
        {"response": {"status": 200, "body": golden.normalise(response.json(), api.ids)}},
    )
    (failed,) = data["failed_uploads"]
    assert failed["name"] == "bad.jsonl" and failed["code"] == "InvalidParameter"
    assert failed["message"].startswith("file.")
    real_id = next(real for real, p in api.ids.items() if p == file_id)

    listing = api.exchange("files-list", "GET", "/api/v1/files?page_no=1&page_size=10")
    assert listing["data"]["total"] == 1
    got = api.exchange("files-get", "GET", f"/api/v1/files/{real_id}")
    assert got["data"]["description"] == "arithmetic chats"
    assert got["data"]["size"] == len(CHAT)
    api.exchange("files-delete", "DELETE", f"/api/v1/files/{real_id}")
    gone = api.exchange("files-get-missing", "GET", f"/api/v1/files/{real_id}")
    assert gone["code"] == "InvalidParameter" and gone["message"] == "File not found."


def test_create_then_get_until_succeeded(api: Api) -> None:
    training = api.upload()
    request = {
        "model": "tiny-chat",
        "training_file_ids": [training],
        "validation_file_ids": None,
        "training_type": "efficient_sft",
        "hyper_parameters": {"n_epochs": 2, "learning_rate": "1.6e-4", "batch_size": "4"},
        "finetuned_output_suffix": "sum",
    }
    created = api.exchange("create", "POST", "/api/v1/fine-tunes", request=request, json=request)[
        "output"
    ]
    api.name(created["job_id"], "job-id")
    assert list(created) == JOB_KEYS
    assert dashscope_create.ID_STYLE.pattern.match(created["job_id"])
    assert created["job_name"] == created["job_id"]
    assert created["status"] == "PENDING"
    assert created["finetuned_output"] == f"tiny-chat-sum-{created['job_id']}"
    assert created["hyper_parameters"] == {"n_epochs": 2, "learning_rate": 1.6e-4, "batch_size": 4}
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", created["create_time"])
    job = api.world.ports.jobs.get(created["job_id"])
    assert job is not None
    assert (job.hyperparameters.n_epochs, job.hyperparameters.learning_rate) == (2, 1.6e-4)
    assert job.hyperparameters.lora_alpha == 32  # DashScope's default, not tuneyard's

    api.world.wait_status(created["job_id"], JobStatus.SUCCEEDED)
    done = api.exchange("get-succeeded", "GET", f"/api/v1/fine-tunes/{created['job_id']}")
    output = done["output"]
    assert output["status"] == "SUCCEEDED" and output["usage"] == 2000
    assert output["end_time"] is not None and "code" not in output

    logs = api.exchange(
        "logs", "GET", f"/api/v1/fine-tunes/{created['job_id']}/logs?offset=2&line=3"
    )["output"]
    assert len(logs["logs"]) == 3 and logs["total"] > 3
    assert " - INFO - " in logs["logs"][0]
    everything = api.client.get(
        f"/api/v1/fine-tunes/{created['job_id']}/logs?offset=0&line=1000", headers=api.headers
    ).json()["output"]
    assert len(everything["logs"]) == everything["total"]  # offset 0 reads as 1 (spec §7)

    refused = api.exchange(
        "cancel-finished", "POST", f"/api/v1/fine-tunes/{created['job_id']}/cancel"
    )
    assert refused["code"] == "UnsupportedOperation"


def test_list_pages_and_filters_by_model(api: Api) -> None:
    first = api.create()
    api.world.ports.clock.advance(60)  # type: ignore[attr-defined]
    second = api.create()
    listing = api.exchange(
        "list", "GET", "/api/v1/fine-tunes?page_no=1&page_size=1&model=tiny-chat"
    )["output"]
    assert listing["total"] == 2 and [j["job_id"] for j in listing["jobs"]] == [second["job_id"]]
    assert [
        j["job_id"]
        for j in api.client.get(
            "/api/v1/fine-tunes?page_no=2&page_size=1", headers=api.headers
        ).json()["output"]["jobs"]
    ] == [first["job_id"]]
    none = api.client.get("/api/v1/fine-tunes?model=other", headers=api.headers).json()
    assert none["output"]["total"] == 0


def test_a_queued_job_shows_queuing_and_cancels(tmp_path: Path) -> None:
    api = Api(tmp_path, FakeExecutor(hold=True))
    running = api.create()
    api.world.wait_status(running["job_id"], JobStatus.RUNNING)
    waiting = api.create()
    api.world.wait_status(waiting["job_id"], JobStatus.QUEUED)
    got = api.client.get(f"/api/v1/fine-tunes/{waiting['job_id']}", headers=api.headers)
    assert got.json()["output"]["status"] == "QUEUING"
    cancelled = api.exchange("cancel", "POST", f"/api/v1/fine-tunes/{waiting['job_id']}/cancel")
    assert cancelled["output"] == {"status": "success"}
    after = api.client.get(f"/api/v1/fine-tunes/{waiting['job_id']}", headers=api.headers).json()
    assert after["output"]["status"] == "CANCELED" and after["output"]["code"]
    api.client.post(f"/api/v1/fine-tunes/{running['job_id']}/cancel", headers=api.headers)
    assert api.world.wait_status(running["job_id"], JobStatus.CANCELLED)
    deleted = api.exchange("delete", "DELETE", f"/api/v1/fine-tunes/{running['job_id']}")
    assert deleted["output"] == {"status": "success"}
    missing = api.exchange("get-missing", "GET", f"/api/v1/fine-tunes/{running['job_id']}")
    assert missing["code"] == "NotFound"


def test_continuing_from_a_finetuned_output(tmp_path: Path) -> None:
    api = Api(tmp_path, FakeExecutor(run_with_checkpoints))
    parent = api.create(model_name="my-adder")
    api.world.wait_status(parent["job_id"], JobStatus.SUCCEEDED)
    child = api.create(model="my-adder", hyper_parameters={"n_epochs": 1})
    assert child["model"] == "my-adder" and child["base_model"] == "tiny-chat"
    job = api.world.ports.jobs.get(child["job_id"])
    assert job is not None and job.parent is not None and job.parent.job_id == parent["job_id"]
    request = {"model": "tiny-chat", "training_file_ids": [api.upload()], "model_name": "my-adder"}
    conflict = api.client.post("/api/v1/fine-tunes", headers=api.headers, json=request)
    assert conflict.status_code == 409 and conflict.headers["x-should-retry"] == "false"
    assert conflict.json()["code"] == "Conflict"


BAD_CREATES = {
    "missing-file": {"model": "tiny-chat", "training_file_ids": ["file-nope"]},
    "no-files": {"model": "tiny-chat"},
    "unknown-type": {"model": "tiny-chat", "training_file_ids": ["x"], "training_type": "rlhf"},
    "unknown-model": {"model": "gpt-9", "training_file_ids": ["x"]},
    "bad-number": {
        "model": "tiny-chat",
        "training_file_ids": ["x"],
        "hyper_parameters": {"n_epochs": "many"},
    },
}


@pytest.mark.parametrize(
    ("name", "body", "status", "code"),
    [(name, body, 400, "InvalidParameter") for name, body in BAD_CREATES.items()],
)
def test_create_errors(api: Api, name: str, body: dict[str, Any], status: int, code: str) -> None:
    response = api.exchange(f"create-{name}", "POST", "/api/v1/fine-tunes", request=body, json=body)
    assert response["code"] == code
    if name == "missing-file":
        assert response["message"] == "File not found."


def test_auth_and_workspace_header(api: Api) -> None:
    missing = api.exchange("auth-missing", "GET", "/api/v1/fine-tunes", headers={})
    assert missing["code"] == "InvalidApiKey"
    wrong = api.exchange(
        "auth-unknown", "GET", "/api/v1/files", headers={"Authorization": "Bearer sk-nope"}
    )
    assert wrong["code"] == "InvalidApiKey"
    same = {**api.headers, "X-DashScope-WorkSpace": "ws"}
    assert api.client.get("/api/v1/fine-tunes", headers=same).status_code == 200
    other = api.exchange(
        "workspace-denied",
        "GET",
        "/api/v1/fine-tunes",
        headers={**api.headers, "X-DashScope-WorkSpace": "llm-other"},
    )
    assert other["code"] == "AccessDenied"


def test_checkpoints_export_and_stream(tmp_path: Path) -> None:
    api = Api(tmp_path, FakeExecutor(run_with_checkpoints))
    job = api.create()
    api.world.wait_status(job["job_id"], JobStatus.SUCCEEDED)
    listed = api.exchange("checkpoints", "GET", f"/api/v1/fine-tunes/{job['job_id']}/checkpoints")
    assert [c["checkpoint"] for c in listed["output"]] == ["checkpoint-2", "checkpoint-4"]
    assert listed["output"][0]["create_time"] == "2026-11-23 12:07:06"
    assert listed["output"][0]["model_name"] is None

    exported = api.exchange(
        "export",
        "GET",
        f"/api/v1/fine-tunes/{job['job_id']}/export/checkpoint-2?model_name=adder-step-2",
    )
    assert exported["output"] is True
    assert (api.world.service.dirs.job(job["job_id"]) / "exports" / "step-2").is_dir()
    again = api.client.get(
        f"/api/v1/fine-tunes/{job['job_id']}/checkpoints", headers=api.headers
    ).json()["output"]
    assert [c["model_name"] for c in again] == ["adder-step-2", None]
    pruned = api.exchange(
        "export-missing", "GET", f"/api/v1/fine-tunes/{job['job_id']}/export/checkpoint-3"
    )
    assert pruned["code"] == "NotFound" and "has: 2, 4" in pruned["message"]
    bad = api.client.get(
        f"/api/v1/fine-tunes/{job['job_id']}/export/latest", headers=api.headers
    ).json()
    assert bad["code"] == "InvalidParameter"

    with api.client.stream(
        "GET", f"/api/v1/fine-tunes/{job['job_id']}/stream", headers=api.headers
    ) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        frames = [line for line in stream.iter_lines() if line]
    golden.check(
        "dashscope/stream",
        {
            "request": {
                "method": "GET",
                "path": f"/api/v1/fine-tunes/{api.ids[job['job_id']]}/stream",
            },
            "response": {"status": 200, "frames": golden.normalise(frames, api.ids)},
        },
    )
    total = api.client.get(
        f"/api/v1/fine-tunes/{job['job_id']}/logs?line=1000", headers=api.headers
    ).json()["output"]
    assert frames == [f"data:{line}" for line in total["logs"]]
    assert api.client.get("/api/v1/fine-tunes/ft-0/stream", headers=api.headers).status_code == 404


def test_sub_accounts_and_workspaces(api: Api) -> None:
    job = api.create()
    assert (job["user_identity"], job["creator"], job["modifier"]) == (ACCOUNT, ACCOUNT, ACCOUNT)
    sub_key = api.world.service.credentials.create_key(
        "ws", account=ACCOUNT, subaccount=SUBACCOUNT, workspaces=["llm-team"]
    )
    sub = {"Authorization": f"Bearer {sub_key}"}
    assert api.client.post(f"/api/v1/fine-tunes/{job['job_id']}/cancel", headers=sub).is_success
    after = api.client.get(f"/api/v1/fine-tunes/{job['job_id']}", headers=api.headers).json()
    output = after["output"]
    assert (output["user_identity"], output["creator"], output["modifier"]) == (
        ACCOUNT,
        ACCOUNT,
        SUBACCOUNT,
    )
    team = {**sub, "X-DashScope-WorkSpace": "llm-team"}
    upload = api.client.post(
        "/api/v1/files", headers=team, files=[("files", ("t.jsonl", CHAT))]
    ).json()["data"]["uploaded_files"][0]
    created = api.client.post(
        "/api/v1/fine-tunes",
        headers=team,
        json={"model": "tiny-chat", "training_file_ids": [upload["file_id"]]},
    ).json()["output"]
    assert (created["workspace_id"], created["creator"]) == ("llm-team", SUBACCOUNT)
    listed = api.client.get("/api/v1/fine-tunes", headers=team).json()["output"]
    assert [j["job_id"] for j in listed["jobs"]] == [created["job_id"]]
    main_there = {**api.headers, "X-DashScope-WorkSpace": "llm-team"}
    assert api.client.get("/api/v1/fine-tunes", headers=main_there).status_code == 403


def test_a_workspace_over_its_job_quota_is_throttled(tmp_path: Path) -> None:
    api = Api(tmp_path, FakeExecutor(hold=True), max_active=1)
    running = api.create()
    body = {"model": "tiny-chat", "training_file_ids": [api.upload()]}
    refused = api.exchange("throttled", "POST", "/api/v1/fine-tunes", request=body, json=body)
    assert refused["code"] == "Throttling"
    api.client.post(f"/api/v1/fine-tunes/{running['job_id']}/cancel", headers=api.headers)
    api.world.wait_status(running["job_id"], JobStatus.CANCELLED)
    assert api.client.post("/api/v1/fine-tunes", headers=api.headers, json=body).is_success


def test_cpt_trains_on_documents_only(api: Api) -> None:
    documents = b"".join(
        b'{"text": "Seven plus %d is %d. Numbers add up."}\n' % (i, 7 + i) for i in range(120)
    )
    text_file = api.upload(documents, "docs.jsonl")
    cpt = api.create(training_type="cpt", training_file_ids=[text_file])
    assert cpt["training_type"] == "cpt"
    done = api.world.wait_status(cpt["job_id"], JobStatus.SUCCEEDED)
    assert done.objective.value == "cpt" and done.method.value == "full"
    chats = api.create(training_type="sft", training_file_ids=[text_file])
    failed = api.world.wait_status(chats["job_id"], JobStatus.FAILED)
    assert failed.error_code == "file.format" and "plain documents" in (failed.error_message or "")
