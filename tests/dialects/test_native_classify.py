"""Native `POST /tuneyard/v1/models/{model}/classify` through the app, with the fake
inference port: a classification job's final model or checkpoint, by id or by its
published name; everything else a clear 4xx in the native envelope."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.world import World, job_record, make_ports
from tuneyard.api.app import create_app
from tuneyard.api.native import classify
from tuneyard.core.checkpoints import Checkpoint
from tuneyard.core.jobs import Progress
from tuneyard.core.states import JobStatus
from tuneyard.kinds import Method, TaskType
from tuneyard.scheduler.executors.fake import FakeExecutor
from tuneyard.serving import protocol
from tuneyard.serving.fake import FakeInference
from tuneyard.settings import Settings


class Native:
    """The app over a fake engine, with a succeeded classifier job `clf1` in workspace ws."""

    def __init__(self, tmp_path: Path) -> None:
        self.world = World(make_ports("memory", tmp_path), tmp_path, FakeExecutor())
        self.engine = FakeInference()
        app = create_app(Settings(data_dir=tmp_path), self.world.service, inference=self.engine)
        self.client = TestClient(app)
        self.headers = {
            "Authorization": f"Bearer {self.world.service.credentials.create_key('ws')}"
        }
        self.other = {"Authorization": f"Bearer {self.world.service.credentials.create_key('x')}"}
        ports = self.world.ports
        for name in ("clf1/output", "clf1/ckpt-3", "gen1/output"):
            (tmp_path / name).mkdir(parents=True)
        ports.jobs.add(
            job_record(
                ports, "clf1", status=JobStatus.SUCCEEDED, task_type=TaskType.CLASSIFICATION,
                method=Method.FULL, base_model="minilm-l6", output_name="sentiment",
                output_path=str(tmp_path / "clf1/output"),
                progress=Progress(checkpoints=[
                    Checkpoint(step=3, epoch=1, path=str(tmp_path / "clf1/ckpt-3"))
                ]),
            )
        )  # fmt: skip
        ports.jobs.add(
            job_record(ports, "gen1", status=JobStatus.SUCCEEDED,
                       output_path=str(tmp_path / "gen1/output"))
        )  # fmt: skip

    def classify(self, model: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        return self.client.post(
            f"/tuneyard/v1/models/{model}/classify", json=body, headers=headers or self.headers
        )


@pytest.fixture
def native(tmp_path: Path) -> Native:
    return Native(tmp_path)


def test_a_classifier_labels_every_input(native: Native, tmp_path: Path) -> None:
    response = native.classify("clf1", {"inputs": ["a good day", "a bad day"]})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "model": "clf1",
        "data": [
            {"index": 0, "label": "positive",
             "probabilities": {"positive": 0.9, "negative": 0.1}},
            {"index": 1, "label": "negative",
             "probabilities": {"positive": 0.1, "negative": 0.9}},
        ],
    }  # fmt: skip
    sent = native.engine.requests[-1]
    assert isinstance(sent, protocol.Classify)
    assert sent.target == protocol.Target(
        base=str(tmp_path / "clf1/output"), adapter=None, kind="classifier"
    )
    by_name = native.classify("sentiment", {"inputs": ["good"], "step": 3})
    assert by_name.json()["data"][0]["label"] == "positive"
    sent = native.engine.requests[-1]
    assert isinstance(sent, protocol.Classify) and sent.target.base.endswith("ckpt-3")


@pytest.mark.parametrize(
    "model, body, status, param",
    [
        ("clf1", {"inputs": []}, 400, "inputs"),
        ("clf1", {"inputs": ["x"] * (classify.MAX_INPUTS + 1)}, 400, "inputs"),
        ("clf1", {"inputs": [1]}, 400, "inputs"),
        ("clf1", {"inputs": ["x"], "labels": 2}, 400, "labels"),
        ("clf1", {"inputs": ["x"], "step": 0}, 400, "step"),
        ("clf1", {"inputs": ["x"], "step": 9}, 404, "model"),
        ("gen1", {"inputs": ["x"]}, 400, "model"),
        ("tiny-chat", {"inputs": ["x"]}, 400, "model"),
        ("minilm-l6", {"inputs": ["x"]}, 400, "model"),
        ("nope", {"inputs": ["x"]}, 404, "model"),
    ],
)
def test_what_cannot_be_classified(
    native: Native, model: str, body: Any, status: int, param: str
) -> None:
    response = native.classify(model, body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["param"] == param
    assert native.engine.requests == []


def test_another_workspace_cannot_use_the_model(native: Native) -> None:
    for model in ("clf1", "sentiment"):
        response = native.classify(model, {"inputs": ["x"]}, native.other)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "served_model_not_found"
