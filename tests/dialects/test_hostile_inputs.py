"""Malformed input is a 400 in the dialect's envelope, never a 500 and never accepted:
numbers that pass `str.isdigit()` but not `int()` or overflow SQL, booleans sent as
integers, names past their column, NUL bytes, hostile bce-auth-v1 headers, Qianfan's
LoRA target modules, and which Qianfan code a body that is not JSON gets."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.world import EXAMPLES, ManualClock, World, make_ports
from tuneyard.api.app import create_app
from tuneyard.api.dialects.qianfan import signature
from tuneyard.core.jobs import Hyperparameters, JobSpec
from tuneyard.datasets import validator
from tuneyard.kinds import Method, TaskType
from tuneyard.scheduler.executors.fake import FakeExecutor
from tuneyard.settings import Settings

HUGE = "9" * 25


class Api:
    """A SQLite world with a bearer key, an AK/SK pair, a file and a job."""

    def __init__(self, root: Path) -> None:
        self.clock = ManualClock()
        self.world = World(make_ports("sqlite", root, self.clock), root, FakeExecutor())
        service = self.world.service
        self.client = TestClient(
            create_app(Settings(data_dir=root), service), raise_server_exceptions=False
        )
        self.headers = {"Authorization": f"Bearer {service.credentials.create_key('ws')}"}
        self.ak, self.sk = service.credentials.create_access_key("ws")
        stored, _ = service.uploads.upload_dataset(
            "ws", "train.jsonl", [(EXAMPLES / "chat.jsonl").read_bytes()], formats=validator.FORMATS
        )
        assert stored is not None
        self.file_id = stored.id
        self.job_id = service.submission.create(
            JobSpec(
                workspace_id="ws",
                display_name="seed",
                base_model="tiny-chat",
                task_type=TaskType.GENERATION,
                method=Method.LORA,
                hyperparameters=Hyperparameters(n_epochs=1),
                dialect="dashscope",
                training_file_id=stored.id,
            )
        ).id

    def jobs(self) -> int:
        return self.world.service.jobs.list("ws", offset=0, limit=1).total

    def get(self, url: str, **params: str) -> Any:
        return self.client.get(url, params=params, headers=self.headers)

    def post(self, url: str, body: Any) -> Any:
        return self.client.post(url, json=body, headers=self.headers)

    def qianfan(
        self, action: str, body: bytes | dict[str, Any], *, expiration: str = "1800"
    ) -> Any:
        stamp = self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        headers = {"host": "testserver", "content-type": "application/json", "x-bce-date": stamp}
        order = ("host", "x-bce-date")
        auth = signature.Authorization(self.ak, stamp, 1800, order, "")
        canonical = signature.canonical_request(
            "POST", "/v2/finetuning", [("Action", action)], headers, order
        )
        signed = signature.sign(self.sk, auth, canonical)
        headers["authorization"] = (
            f"bce-auth-v1/{self.ak}/{stamp}/{expiration}/host;x-bce-date/{signed}"
        )
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        raw = {name: value.encode() for name, value in headers.items()}  # any bytes
        return self.client.post(f"/v2/finetuning?Action={action}", content=content, headers=raw)


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return Api(tmp_path)


def _clova(response: Any) -> str:
    assert response.status_code == 400, response.text
    code: str = response.json()["status"]["code"]
    return code


def _flat(response: Any) -> str:
    assert response.status_code == 400, response.text
    assert set(response.json()) >= {"code", "message"}
    code: str = response.json()["code"]
    return code


def _openai(response: Any) -> str | None:
    assert response.status_code == 400, response.text
    param: str | None = response.json()["error"]["param"]
    return param


@pytest.mark.parametrize("value", ["²", "٣", HUGE, "-1", "1e2"])
def test_numeric_query_parameters_take_ascii_digits_in_range(api: Api, value: str) -> None:
    job = api.job_id
    assert _clova(api.get("/tuning/v2/tasks", page=value)) == "40001"
    assert _clova(api.get("/tuning/v2/tasks", size=value)) == "40001"
    for url, name in [
        ("/api/v1/fine-tunes", "page_no"),
        ("/api/v1/fine-tunes", "page_size"),
        ("/api/v1/files", "page_no"),
        (f"/api/v1/fine-tunes/{job}/logs", "offset"),
        (f"/api/v1/fine-tunes/{job}/logs", "line"),
    ]:
        assert _flat(api.get(url, **{name: value})) == "InvalidParameter", (url, name)
    for url in ("/v1/fine_tuning/jobs", "/v1/files", f"/v1/fine_tuning/jobs/ftjob-{job}/events"):
        assert _openai(api.get(url, limit=value)) == "limit"
    if value != "-1":  # a negative event cursor is refused as the others
        assert api.get(f"/tuneyard/v1/jobs/{job}/events", after=value).status_code == 400


@pytest.mark.parametrize("tail", ["²", HUGE, "-1"])
def test_cursors_and_checkpoints_in_paths_take_ascii_digits(api: Api, tail: str) -> None:
    job = api.job_id
    events = f"/v1/fine_tuning/jobs/ftjob-{job}/events"
    assert _openai(api.get(events, after=f"ftevent-{job}-{tail}")) == "after"
    checkpoints = f"/v1/fine_tuning/jobs/ftjob-{job}/checkpoints"
    assert _openai(api.get(checkpoints, after=f"ftckpt_{job}_{tail}")) == "after"
    response = api.get(f"/api/v1/fine-tunes/{job}/export/checkpoint-{tail}")
    assert _flat(response) == "InvalidParameter"


def test_ids_in_queries_with_control_characters_or_over_1024_bytes_are_400(api: Api) -> None:
    for value in ("ftjob-a\x00b", "ftjob-" + "x" * 1100):
        assert _openai(api.get("/v1/fine_tuning/jobs", after=value)) == "after"
        assert _openai(api.get("/v1/files", after=value)) == "after"
    assert _openai(api.get("/v1/fine_tuning/jobs", **{"metadata[k\x00]": "v"})) == "metadata"
    assert api.get("/v1/fine_tuning/jobs", after="ftjob-nope").status_code == 400  # not listed
    assert api.get("/api/v1/fine-tunes/does-not-exist").status_code == 404  # merely unknown


def test_booleans_are_not_integers_in_any_dialect(api: Api) -> None:
    clova = {"model": "tiny-chat", "trainEpochs": True, "trainingDatasetBucket": "b",
             "trainingDatasetFilePath": "p.csv", "trainingDatasetAccessKey": "a",
             "trainingDatasetSecretKey": "s"}  # fmt: skip
    assert _clova(api.post("/tuning/v2/tasks", clova)) == "40001"
    dashscope = {"model": "tiny-chat", "training_file_ids": [api.file_id]}
    for key in ("n_epochs", "batch_size", "seed", "learning_rate"):
        body = {**dashscope, "hyper_parameters": {key: True}}
        response = api.post("/api/v1/fine-tunes", body)
        assert _flat(response) == "InvalidParameter", key
        assert key in response.json()["message"]
    openai = {"model": "tiny-chat", "training_file": api.file_id}
    assert _openai(api.post("/v1/fine_tuning/jobs", {**openai, "seed": True})) == "seed"
    body = {**openai, "hyperparameters": {"n_epochs": True}}
    assert _openai(api.post("/v1/fine_tuning/jobs", body)) == "hyperparameters.n_epochs"
    export = api.post(f"/tuneyard/v1/jobs/{api.job_id}/export", {"step": True})
    assert export.status_code == 400
    assert api.jobs() == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [("job_name", "n" * 257), ("model_name", "m" * 257), ("finetuned_output", "o" * 257),
     ("finetuned_output_suffix", "s" * 240), ("job_name", "a\x00b"), ("model", "x" * 300)],
)  # fmt: skip
def test_dashscope_names_fit_their_columns(api: Api, field: str, value: str) -> None:
    body = {"model": "tiny-chat", "training_file_ids": [api.file_id], field: value}
    response = api.post("/api/v1/fine-tunes", body)
    assert _flat(response) == "InvalidParameter"
    assert field in response.json()["message"]
    assert api.jobs() == 1
    fits = {"model": "tiny-chat", "training_file_ids": [api.file_id], "job_name": "n" * 256}
    assert api.post("/api/v1/fine-tunes", fits).status_code == 200


def test_names_fit_their_columns_in_the_other_dialects(api: Api) -> None:
    clova = {"model": "tiny-chat", "name": "n" * 257, "trainingDatasetBucket": "b",
             "trainingDatasetFilePath": "p.csv", "trainingDatasetAccessKey": "a",
             "trainingDatasetSecretKey": "s"}  # fmt: skip
    assert _clova(api.post("/tuning/v2/tasks", clova)) == "40001"
    openai = {"model": "tiny-chat", "training_file": api.file_id}
    assert _openai(api.post("/v1/fine_tuning/jobs", {**openai, "model": "m" * 257})) == "model"
    assert _openai(api.post("/v1/fine_tuning/jobs", {**openai, "suffix": "a\nb"})) == "suffix"
    response = api.get(f"/api/v1/fine-tunes/{api.job_id}/export/checkpoint-2", model_name="m" * 257)
    assert _flat(response) == "InvalidParameter"
    for name in ("model", "model_name"):
        assert _flat(api.get("/api/v1/fine-tunes", model="a\x00")) == "InvalidParameter", name
    assert api.jobs() == 1


def _task(api: Api, hyper: dict[str, Any]) -> Any:
    job = api.qianfan("CreateFineTuningJob", {"name": "lora", "model": "tiny-chat",
                                              "trainMode": "SFT"})  # fmt: skip
    assert job.status_code == 200, job.text
    body = {
        "jobId": job.json()["result"]["jobId"],
        "parameterScale": "LoRA",
        "hyperParameterConfig": {"epoch": 1, **hyper},
        "datasetConfig": {"sourceType": "Platform", "versions": [{"versionId": api.file_id}],
                          "splitRatio": 10},
    }  # fmt: skip
    return api.qianfan("CreateFineTuningTask", body)


@pytest.mark.parametrize(
    "hyper",
    [
        {"epoch": True},
        {"batchSize": False},
        {"learningRate": True},
        {"loraTargetModules": ["q_proj", "no_such_proj"]},
        {"loraTargetModules": "q_proj,lm_heads"},
        {"loraTargetModules": []},
        {"loraTargetModules": ""},
        {"loraTargetModules": ["q_proj", " "]},
        {"loraAllLinear": "maybe"},
        {"loraAllLinear": "maybe", "loraTargetModules": ["q_proj"]},
    ],
)
def test_qianfan_refuses_loose_hyperparameters(api: Api, hyper: dict[str, Any]) -> None:
    response = _task(api, hyper)
    assert _flat(response) == "InappropriateJSON"
    assert next(iter(hyper)) in response.json()["message"]
    assert api.jobs() == 1


def test_qianfan_trains_the_lora_target_modules_the_model_has(api: Api) -> None:
    response = _task(api, {"loraTargetModules": ["q_proj", "v_proj"], "loraAllLinear": "false"})
    assert response.status_code == 200, response.text
    job = api.world.service.jobs.get("ws", response.json()["result"]["taskId"])
    assert job.hyperparameters.lora_target_modules == ("q_proj", "v_proj")
    response = _task(api, {"loraTargetModules": "q_proj", "loraAllLinear": True})
    job = api.world.service.jobs.get("ws", response.json()["result"]["taskId"])
    assert job.hyperparameters.lora_target_modules == ("all-linear",)


@pytest.mark.parametrize("body", [b"{", b"not json", b"[1, 2]", b'"text"', b"null", b"\xff"])
def test_a_qianfan_body_that_is_not_a_json_object_is_malformed_json(api: Api, body: bytes) -> None:
    assert _flat(api.qianfan("DescribeFineTuningJobs", body)) == "MalformedJSON"


def test_a_qianfan_body_with_bad_values_is_inappropriate_json(api: Api) -> None:
    response = api.qianfan("DescribeFineTuningJobs", {"maxKeys": True})
    assert _flat(response) == "InappropriateJSON"
    response = api.qianfan("DescribeFineTuningJobs", {"marker": "job-\x00"})
    assert _flat(response) == "InappropriateJSON"


def test_an_unknown_qianfan_action_is_invalid_http_request(api: Api) -> None:
    assert _flat(api.qianfan("LaunchRocket", {})) == "InvalidHTTPRequest"


@pytest.mark.parametrize("expiration", ["9" * 21, "²", "١٨٠٠", "0", "-5", " 1800", "1_800"])
def test_a_bce_expiration_that_is_not_a_bounded_number_is_invalid_http_auth_header(
    api: Api, expiration: str
) -> None:
    response = api.qianfan("DescribeFineTuningSupportModels", {}, expiration=expiration)
    assert _flat(response) == "InvalidHTTPAuthHeader"
    assert api.qianfan("DescribeFineTuningSupportModels", {}).status_code == 200


def test_a_bce_timestamp_in_other_digits_is_invalid_http_auth_header() -> None:
    stamp = "２０２６-11-23T04:07:06Z"
    header = f"bce-auth-v1/ak/{stamp}/1800/host/{'0' * 64}"
    with pytest.raises(Exception, match="timestamp"):
        signature.parse(header)
    assert signature.parse(header.replace(stamp, "2026-11-23T04:07:06Z")).expiration_s == 1800
    assert dt.datetime(2026, 1, 1).year == 2026


@pytest.mark.parametrize(
    "fields",
    [{"purpose": "p" * 33}, {"purpose": "fine\x00tune"}, {"descriptions": "a\x00b"},
     {"descriptions": "d" * 4097}],
)  # fmt: skip
def test_dashscope_upload_fields_fit_their_columns(api: Api, fields: dict[str, str]) -> None:
    chat = (EXAMPLES / "chat.jsonl").read_bytes()
    response = api.client.post(
        "/api/v1/files", headers=api.headers, data=fields, files=[("files", ("t.jsonl", chat))]
    )
    assert _flat(response) == "InvalidParameter"
    assert next(iter(fields)) in response.json()["message"]
    noted = {"descriptions": "line one\nline two"}
    response = api.client.post(
        "/api/v1/files", headers=api.headers, data=noted, files=[("files", ("t.jsonl", chat))]
    )
    assert response.json()["data"]["uploaded_files"], response.text
