"""The whole path on a real server: CLI key → POST dataset → subprocess worker → tuned model."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import seed
from tests.support.server import Server, cli
from tests.support.world import EXAMPLES

pytestmark = pytest.mark.integration

CLOVA_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0900$")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tuneyard-data")


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[Server]:
    (data_dir / "models.toml").write_text(
        '[models."broken-model"]\npath = "broken"\n', encoding="utf-8"
    )
    (data_dir / "broken").mkdir()
    running = Server(data_dir, relative=True)
    yield running
    assert running.interrupt() == 0, running.output()


@pytest.fixture(scope="module")
def key(data_dir: Path) -> str:
    output = cli("keys", "create", "--workspace", "integration", data_dir=data_dir)
    assert re.fullmatch(r"nv-[0-9a-f]{32}\n", output), output
    return output.strip()


def _create(
    server: Server, key: str, csv: bytes, filename: str = "train.csv", **fields: str
) -> dict[str, Any]:
    response = server.client.post(
        "/tuning/v2/tasks",
        headers={"Authorization": f"Bearer {key}", "X-NCP-CLOVASTUDIO-REQUEST-ID": "it-1"},
        data={"model": "tiny-chat", **fields},
        files={"file": (filename, csv, "text/csv")},
    )
    assert response.status_code == 200, response.text
    assert response.headers["X-NCP-CLOVASTUDIO-REQUEST-ID"] == "it-1"
    body: dict[str, Any] = response.json()
    assert body["status"] == {"code": "20000", "message": "OK"}
    return body["result"]


def _assert_seed_shape(task: dict[str, Any]) -> None:
    assert set(task) == seed.TASK_FIELDS
    assert set(task["statusInfo"]) == seed.STATUS_INFO_FIELDS
    assert re.fullmatch(r"[a-z0-9]{8}", task["id"])
    assert CLOVA_TIME.match(task["createdDate"]) and CLOVA_TIME.match(task["updatedDate"])
    assert task["createdClientType"] == "API"


def test_generation_job_trains_tiny_chat_with_lora(server: Server, key: str) -> None:
    task = _create(
        server,
        key,
        (EXAMPLES / "clova-generation.csv").read_bytes(),
        trainEpochs="2",
        learningRate="1e-3",
        name="sample",
    )
    _assert_seed_shape(task)
    assert task["status"] == "WAIT"
    seen = server.poll_task(key, task["id"], {"SUCCEEDED", "FAILED"})
    final = seen[-1]
    assert final["status"] == "SUCCEEDED", final
    statuses = [s["status"] for s in seen]
    assert statuses.index("RUNNING") < statuses.index("SUCCEEDED")
    assert [s for s in dict.fromkeys(statuses)] in (
        ["WAIT", "RUNNING", "SUCCEEDED"],
        ["RUNNING", "SUCCEEDED"],
    )
    _assert_seed_shape(final)
    info = final["statusInfo"]
    assert info["dataRows"] == 128
    assert isinstance(info["numOfTokens"], int) and info["numOfTokens"] > 1000
    assert info["currStep"] == info["totalTrainSteps"] > 0
    assert info["currEpoch"] == info["totalTrainEpochs"] == 2
    assert isinstance(info["trainLoss"], float) and info["trainLoss"] > 0
    assert isinstance(info["estimatedTime"], int)
    assert info["sendWeightSuccess"] is True
    assert info["failureReason"] is None and info["message"] is None
    assert CLOVA_TIME.match(info["endDatetime"])
    assert info["label"] is None

    # The adapter is in PEFT layout under the data dir and loads with transformers + peft.
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = server.data_dir / "jobs" / task["id"] / "output"
    assert (out / "adapter_config.json").is_file()
    assert (out / "adapter_model.safetensors").is_file()
    base_dir = server.data_dir / "models" / "tiny-chat"
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir), out)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is two plus two?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        generated = model.generate(**prompt, max_new_tokens=20, do_sample=False)
    reply = tokenizer.decode(generated[0, prompt["input_ids"].shape[1] :], skip_special_tokens=True)
    assert reply == "Two plus two is 4."  # the README's first job: pretrained tiny-chat, tuned

    # Checkpoints are listed, and the final model exports merged: a plain transformers model
    # with the adapter's outputs (the real exporter, in its own process).
    listed = json.loads(cli("jobs", "checkpoints", task["id"], data_dir=server.data_dir))
    assert listed and all(Path(c["path"]).is_dir() for c in listed)
    headers = {"Authorization": f"Bearer {key}"}
    exported = server.client.post(
        f"/tuneyard/v1/jobs/{task['id']}/export",
        headers=headers,
        json={"merged": True},
        timeout=120,
    )
    assert exported.status_code == 200, exported.text
    merged = AutoModelForCausalLM.from_pretrained(exported.json()["path"])
    ids = prompt["input_ids"]
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, model(ids).logits, atol=1e-4)
    step = listed[0]["step"]
    adapter_dir = cli("jobs", "export", task["id"], "--step", str(step), data_dir=server.data_dir)
    assert (Path(adapter_dir.strip()) / "adapter_model.safetensors").is_file()


def test_classification_job_fills_labels(server: Server, key: str) -> None:
    task = _create(
        server,
        key,
        (EXAMPLES / "clova-classification.csv").read_bytes(),
        model="minilm-l6",
        taskType="CLASSIFICATION",
        trainEpochs="1",
        learningRate="1e-3",
    )
    final = server.poll_task(key, task["id"], {"SUCCEEDED", "FAILED"})[-1]
    assert final["status"] == "SUCCEEDED", final
    assert final["taskType"] == "CLASSIFICATION"
    assert final["statusInfo"]["label"] == ["negative", "positive"]
    assert final["statusInfo"]["sendWeightSuccess"] is True
    out = server.data_dir / "jobs" / task["id"] / "output"
    assert (out / "adapter_config.json").is_file()


@pytest.mark.parametrize(
    ("csv", "filename", "reason", "message"),
    [
        (
            b"C_ID,System_Prompt,T_ID,Text,Completion\n0,s,0,a,b\n",
            "train.csv",
            "file.format",
            "Invalid dataset: column order",
        ),
        (b"\xff\xfeS\x00", "train.csv", "file.encoding", "Unsupported charset"),
        (
            b"{}",
            "train.parquet",
            "file.extension",
            "Unavailable file extension. Please check the file extension again.",
        ),
    ],
)
def test_a_bad_dataset_fails_with_the_seed_reason(
    server: Server, key: str, csv: bytes, filename: str, reason: str, message: str
) -> None:
    task = _create(server, key, csv, filename)
    final = server.poll_task(key, task["id"], {"SUCCEEDED", "FAILED"}, timeout=30)[-1]
    assert final["status"] == "FAILED"
    assert final["statusInfo"]["failureReason"] == reason
    assert final["statusInfo"]["message"].startswith(message)
    assert final["statusInfo"]["currStep"] is None  # no training was attempted


def test_a_trainer_crash_is_train_unknown(server: Server, key: str) -> None:
    task = _create(
        server,
        key,
        (EXAMPLES / "clova-generation.csv").read_bytes(),
        model="broken-model",
        trainEpochs="1",
    )
    final = server.poll_task(key, task["id"], {"SUCCEEDED", "FAILED"}, timeout=120)[-1]
    assert final["status"] == "FAILED"
    assert final["statusInfo"]["failureReason"] == "train.unknown"
    assert final["statusInfo"]["message"]
    assert final["statusInfo"]["sendWeightSuccess"] is False


def test_delete_while_running_cancels(server: Server, key: str) -> None:
    task = _create(server, key, (EXAMPLES / "clova-generation.csv").read_bytes(), trainEpochs="20")
    server.poll_task(key, task["id"], {"RUNNING"}, timeout=120)
    headers = {"Authorization": f"Bearer {key}"}
    response = server.client.delete(f"/tuning/v2/tasks/{task['id']}", headers=headers)
    assert response.json() == {"status": {"code": "20000", "message": "OK"}}
    assert server.client.get(f"/tuning/v2/tasks/{task['id']}", headers=headers).status_code == 404
    out = server.data_dir / "jobs" / task["id"]
    import time

    deadline = time.monotonic() + 30
    while out.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not out.exists()  # the worker stopped and its files were removed
