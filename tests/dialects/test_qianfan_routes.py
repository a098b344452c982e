"""Qianfan routes through the real app (TestClient), requests signed as the SDK signs them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support import golden
from tests.support.world import ManualClock, World, make_ports
from tuneyard.api.app import create_app
from tuneyard.api.dialects.qianfan import signature
from tuneyard.scheduler.executors.fake import FakeExecutor
from tuneyard.settings import Settings


class Api:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = ManualClock()
        ports = make_ports("sqlite", tmp_path, self.clock)
        self.world = World(ports, tmp_path, FakeExecutor())
        self.client = TestClient(
            create_app(Settings(data_dir=tmp_path), self.world.service),
            raise_server_exceptions=False,
        )
        self.ak, self.sk = self.world.service.create_access_key("qf")

    def post(
        self, action: str, body: dict[str, Any], *, sk: str | None = None, age_s: float = 0
    ) -> Any:
        signed_at = self.clock.now() - dt.timedelta(seconds=age_s)
        stamp = signed_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        headers = {
            "host": "testserver",
            "content-type": "application/json",
            "x-bce-date": stamp,
            "request-source": "qianfan_py_sdk_v0.4.12.3",
        }
        order = ["request-source", "host", "x-bce-date", "content-type"]  # a set's order
        auth = signature.Authorization(self.ak, stamp, 300, tuple(order), "")
        canonical = signature.canonical_request(
            "POST", "/v2/finetuning", [("Action", action)], headers, order
        )
        signed = signature.sign(sk or self.sk, auth, canonical)
        headers["authorization"] = f"bce-auth-v1/{self.ak}/{stamp}/300/{';'.join(order)}/{signed}"
        return self.client.post(
            f"/v2/finetuning?Action={action}", content=json.dumps(body), headers=headers
        )

    def exchange(self, name: str, action: str, body: dict[str, Any], **kwargs: Any) -> Any:
        response = self.post(action, body, **kwargs)
        assert response.json()["requestId"] == response.headers["x-bce-request-id"]
        return golden.exchange(
            f"qianfan/{name}", "POST", f"/v2/finetuning?Action={action}", body, response, {}
        )


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return Api(tmp_path)


def test_support_models_lists_the_chat_models_with_their_hyperparameters(api: Api) -> None:
    body = api.exchange("support-models", "DescribeFineTuningSupportModels", {})
    models = {m["model"]: m for m in body["result"]}
    assert "tiny-chat" in models and "minilm-l6" not in models  # a classifier has no SFT
    (mode,) = models["tiny-chat"]["supportTrainMode"]
    scales = {s["parameterScale"]: s for s in mode["supportParameterScale"]}
    assert set(scales) == {"FullFineTuning", "LoRA"}
    for scale in scales.values():
        for item in scale["supportHyperParameterConfig"]:
            assert {
                "key",
                "type",
                "checkType",
                "checkValue",
                "default",
                "name",
                "description",
            } <= set(item)
    assert "loraRank" in {i["key"] for i in scales["LoRA"]["supportHyperParameterConfig"]}


@pytest.mark.parametrize(
    ("name", "kwargs", "status", "code"),
    [
        ("wrong-sk", {"sk": "0" * 32}, 400, "SignatureDoesNotMatch"),
        ("expired", {"age_s": 600}, 400, "RequestExpired"),
    ],
)
def test_bad_signatures_are_refused(
    api: Api, name: str, kwargs: dict[str, Any], status: int, code: str
) -> None:
    response = api.post("DescribeFineTuningSupportModels", {}, **kwargs)
    assert (response.status_code, response.json()["code"]) == (status, code)
    api.exchange(name, "DescribeFineTuningSupportModels", {}, **kwargs)


def test_unsigned_unknown_key_and_unknown_action(api: Api) -> None:
    unsigned = api.client.post("/v2/finetuning?Action=DescribeFineTuningJobs", json={})
    assert (unsigned.status_code, unsigned.json()["code"]) == (400, "InvalidHTTPAuthHeader")
    api.ak = "f" * 32
    unknown = api.post("DescribeFineTuningSupportModels", {})
    assert (unknown.status_code, unknown.json()["code"]) == (403, "InvalidAccessKeyId")
