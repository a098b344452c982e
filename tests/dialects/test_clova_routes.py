"""CLOVA routes through the real app (TestClient), scripted executor; golden exchanges."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support import golden
from tests.support.opens import record_opens
from tests.support.world import EXAMPLES, World, make_ports
from tuneyard.api.app import create_app
from tuneyard.core.states import JobStatus
from tuneyard.scheduler.executors.fake import FakeExecutor
from tuneyard.settings import Settings

SAMPLE = (EXAMPLES / "clova-generation.csv").read_bytes()


class Api:
    """A client with a key, plus the world behind it."""

    def __init__(self, tmp_path: Path, executor: FakeExecutor) -> None:
        self.world = World(make_ports("sqlite", tmp_path), tmp_path, executor)
        app = create_app(Settings(data_dir=tmp_path), self.world.service)
        self.client = TestClient(app, raise_server_exceptions=False)
        self.key = self.world.service.credentials.create_key("ws")
        self.headers = {"Authorization": f"Bearer {self.key}"}
        self.ids: dict[str, str] = {}

    def create(self, **fields: Any) -> dict[str, Any]:
        data = {"model": "tiny-chat", "trainEpochs": "2", "name": "sample", **fields}
        response = self.client.post(
            "/tuning/v2/tasks",
            headers=self.headers,
            data=data,
            files={"file": ("train.csv", SAMPLE, "text/csv")},
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        self.ids[body["result"]["id"]] = f"<task-id-{len(self.ids) + 1}>"
        return body

    def exchange(
        self, name: str, method: str, url: str, *, request: Any = None, **kwargs: Any
    ) -> dict[str, Any]:
        response = self.client.request(method, url, **kwargs)
        body: dict[str, Any] = golden.exchange(
            f"clova/{name}", method, url, request, response, self.ids
        )
        return body


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return Api(tmp_path, FakeExecutor())


def test_create_multipart_then_get_until_succeeded(api: Api) -> None:
    created = api.create()
    assert created["status"] == {"code": "20000", "message": "OK"}
    task_id = created["result"]["id"]
    assert created["result"]["status"] == "WAIT"
    api.world.wait_status(task_id, JobStatus.SUCCEEDED)
    body = api.exchange("get-succeeded", "GET", f"/tuning/v2/tasks/{task_id}", headers=api.headers)
    info = body["result"]["statusInfo"]
    assert body["result"]["status"] == "SUCCEEDED"
    assert info["sendWeightSuccess"] is True and info["dataRows"] == 128
    assert info["currStep"] == info["totalTrainSteps"] == 4
    assert info["endDatetime"].endswith("+0900")


def test_create_json_with_object_storage(api: Api, tmp_path: Path) -> None:
    ak, sk = api.world.make_bucket("my-bucket", {"tuning/train.csv": SAMPLE})
    request = {
        "name": "from-object-storage",
        "model": "tiny-chat",
        "tuningType": "PEFT",
        "taskType": "GENERATION",
        "trainEpochs": 2,
        "learningRate": 1e-4,
        "trainingDatasetBucket": "my-bucket",
        "trainingDatasetFilePath": "tuning/train.csv",
        "trainingDatasetAccessKey": ak,
        "trainingDatasetSecretKey": sk,
    }
    response = api.client.post("/tuning/v2/tasks", headers=api.headers, json=request)
    assert response.status_code == 200, response.text
    api.ids[response.json()["result"]["id"]] = "<task-id-1>"
    keys = {ak: "<bucket-access-key>", sk: "<bucket-secret-key>"}
    golden.check(
        "clova/create-json",
        {
            "request": {
                "method": "POST",
                "path": "/tuning/v2/tasks",
                "body": golden.normalise(request, keys),
            },
            "response": {"status": 200, "body": golden.normalise(response.json(), api.ids)},
        },
    )


def test_missing_object_storage_file_is_a_failed_task(api: Api) -> None:
    request = {
        "model": "tiny-chat",
        "trainingDatasetBucket": "b",
        "trainingDatasetFilePath": "none.csv",
        "trainingDatasetAccessKey": "ak",
        "trainingDatasetSecretKey": "sk",
    }
    response = api.client.post("/tuning/v2/tasks", headers=api.headers, json=request)
    result = response.json()["result"]
    assert result["status"] == "FAILED"
    assert result["statusInfo"]["failureReason"] == "File not found"
    assert result["statusInfo"]["sendWeightSuccess"] is False


def _object_request(bucket: str, path: str, ak: str, sk: str) -> dict[str, Any]:
    return {
        "model": "tiny-chat",
        "trainEpochs": 2,
        "trainingDatasetBucket": bucket,
        "trainingDatasetFilePath": path,
        "trainingDatasetAccessKey": ak,
        "trainingDatasetSecretKey": sk,
    }


def test_object_storage_reads_a_bucket_only_with_its_keys(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ak, sk = api.world.make_bucket("team-a", {"train.csv": SAMPLE}, workspace="ws")
    own_ak, own_sk = api.world.make_bucket("team-b", {"x.csv": SAMPLE}, workspace="other")
    target = (tmp_path / "object-storage" / "team-a" / "train.csv").resolve()
    opened = record_opens(monkeypatch)
    other = {"Authorization": f"Bearer {api.world.service.credentials.create_key('other')}"}
    for headers, keys in [
        (api.headers, (ak, "wrong-secret")),
        (api.headers, ("wrong-access", sk)),
        (api.headers, (sk, ak)),
        (other, (own_ak, own_sk)),  # another workspace, with its own bucket's pair
        (other, (ak, sk + "x")),
    ]:
        request = _object_request("team-a", "train.csv", *keys)
        response = api.client.post("/tuning/v2/tasks", headers=headers, json=request)
        assert response.status_code == 200, response.text
        result = response.json()["result"]
        assert (result["status"], result["statusInfo"]["failureReason"]) == (
            "FAILED",
            "File not found",
        )
    assert target not in opened
    response = api.client.post(
        "/tuning/v2/tasks", headers=api.headers, json=_object_request("team-a", "train.csv", ak, sk)
    )
    task_id = response.json()["result"]["id"]
    assert api.world.wait_status(task_id, JobStatus.SUCCEEDED).training_file_id
    assert target in opened


@pytest.mark.parametrize(
    ("bucket", "path", "words"),
    [
        ("team-a", "a\x00b.csv", "object path has a control character"),
        ("team-a", "x" * 5000, "object path is 5000 bytes"),
        ("team-a", "dir/\x1b[31m.csv", "object path has a control character"),
        ("team-a", "\u00e9" * 600, "object path is 1200 bytes"),
        ("te\x00am", "train.csv", "bucket name has a control character"),
        ("t" * 5000, "train.csv", "bucket name is 5000 bytes"),
    ],
)
def test_object_paths_no_store_can_hold_are_40001(
    api: Api, bucket: str, path: str, words: str
) -> None:
    ak, sk = api.world.make_bucket("team-a", {"train.csv": SAMPLE})
    response = api.client.post(
        "/tuning/v2/tasks", headers=api.headers, json=_object_request(bucket, path, ak, sk)
    )
    assert response.status_code == 400, response.text
    assert response.json()["status"]["code"] == "40001"
    message = response.json()["status"]["message"]
    field = "trainingDatasetBucket" if "bucket" in words else "trainingDatasetFilePath"
    assert words in message or message.startswith(field)  # or refused as the body is read
    assert api.world.service.jobs.list("ws", offset=0, limit=10).total == 0


def test_list_pages(api: Api) -> None:
    for _ in range(3):
        api.create()
        api.world.ports.clock.advance(1)  # type: ignore[attr-defined]
    body = api.exchange("list", "GET", "/tuning/v2/tasks?page=1&size=2", headers=api.headers)
    result = body["result"]
    assert (result["totalPages"], result["totalElements"], result["number"]) == (2, 3, 1)
    assert len(result["content"]) == 1
    assert result["content"][0]["id"] == next(iter(api.ids))  # the oldest is on the last page


def test_delete(api: Api) -> None:
    task_id = api.create()["result"]["id"]
    body = api.exchange("delete", "DELETE", f"/tuning/v2/tasks/{task_id}", headers=api.headers)
    assert body == {"status": {"code": "20000", "message": "OK"}}
    missing = api.exchange("get-deleted", "GET", f"/tuning/v2/tasks/{task_id}", headers=api.headers)
    assert missing["status"]["code"] == "40400"


@pytest.mark.parametrize(
    ("name", "headers", "code"),
    [
        ("auth-missing", {}, "40100"),
        ("auth-unknown", {"Authorization": "Bearer nv-0000"}, "40104"),
        ("auth-not-bearer", {"Authorization": "Basic abc"}, "40100"),
    ],
)
def test_auth(api: Api, name: str, headers: dict[str, str], code: str) -> None:
    body = api.exchange(name, "GET", "/tuning/v2/tasks", headers=headers)
    assert body["status"]["code"] == code
    assert "result" not in body


def test_other_workspace_sees_404(api: Api) -> None:
    task_id = api.create()["result"]["id"]
    other = {"Authorization": f"Bearer {api.world.service.credentials.create_key('other')}"}
    response = api.client.get(f"/tuning/v2/tasks/{task_id}", headers=other)
    assert response.status_code == 404
    assert response.json()["status"]["code"] == "40400"


def test_unknown_model(api: Api) -> None:
    body = api.exchange(
        "unknown-model",
        "POST",
        "/tuning/v2/tasks",
        request={"model": "HCX-003"},
        headers=api.headers,
        json={"model": "HCX-003"},
    )
    assert body["status"] == {"code": "40080", "message": "model not found"}


def test_invalid_parameters_are_40001(api: Api) -> None:
    request = {"model": "tiny-chat", "trainEpochs": "lots"}
    body = api.exchange(
        "invalid-parameter",
        "POST",
        "/tuning/v2/tasks",
        request=request,
        headers=api.headers,
        json=request,
    )
    assert body["status"]["code"] == "40001"
    assert "trainEpochs" in body["status"]["message"]


def test_no_dataset_is_40001(api: Api) -> None:
    response = api.client.post("/tuning/v2/tasks", headers=api.headers, json={"model": "tiny-chat"})
    assert response.status_code == 400 and response.json()["status"]["code"] == "40001"


def test_request_id_is_echoed_on_success_and_error(api: Api) -> None:
    rid = {"X-NCP-CLOVASTUDIO-REQUEST-ID": "req-123"}
    ok = api.client.get("/tuning/v2/tasks", headers={**api.headers, **rid})
    bad = api.client.get("/tuning/v2/tasks/nope1234", headers={**api.headers, **rid})
    assert ok.headers["X-NCP-CLOVASTUDIO-REQUEST-ID"] == "req-123"
    assert bad.headers["X-NCP-CLOVASTUDIO-REQUEST-ID"] == "req-123"


def test_unknown_route_and_method_use_the_envelope(api: Api) -> None:
    assert (
        api.client.get("/tuning/v2/nothing", headers=api.headers).json()["status"]["code"]
        == "40400"
    )
    assert (
        api.client.put("/tuning/v2/tasks", headers=api.headers).json()["status"]["code"] == "40500"
    )


def test_bad_dataset_fails_the_task_with_the_seed_reason(api: Api) -> None:
    response = api.client.post(
        "/tuning/v2/tasks",
        headers=api.headers,
        data={"model": "tiny-chat"},
        files={"file": ("train.txt", b"hello", "text/plain")},
    )
    task_id = response.json()["result"]["id"]
    api.world.wait_status(task_id, JobStatus.FAILED)
    info = api.client.get(f"/tuning/v2/tasks/{task_id}", headers=api.headers).json()["result"][
        "statusInfo"
    ]
    assert info["failureReason"] == "file.extension"
    assert info["message"].startswith(
        "Unavailable file extension. Please check the file extension again."
    )


def test_native_events_list_every_dataset_issue(api: Api) -> None:
    bad = b"System_Prompt,C_ID,T_ID,Text,Completion\nsys,0,0,,x\nsys,5,0,hi,\n"
    response = api.client.post(
        "/tuning/v2/tasks",
        headers=api.headers,
        data={"model": "tiny-chat"},
        files={"file": ("train.csv", bad, "text/csv")},
    )
    task_id = response.json()["result"]["id"]
    api.world.wait_status(task_id, JobStatus.FAILED)
    events = api.client.get(f"/tuneyard/v1/jobs/{task_id}/events", headers=api.headers).json()
    issues = [e for e in events["data"] if e["level"] == "error" and e["type"] == "message"]
    assert len(issues) >= 3
    assert api.client.get("/healthz").json() == {"status": "ok"}
