"""The real `qianfan` SDK against a real server and a real tiny job: publish the task as a
model set version, serve it, chat with it through the custom-service endpoint (plain and
streamed) and the v2 OpenAI-compatible API (its IAM bearer token minted by the server
from the same AK/SK pair), then delete it all; the flow's wall time and
the first-token latencies are printed (`-s`) and checked loosely."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import Server, cli
from tests.support.world import EXAMPLES

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

pytest.importorskip("qianfan")

FLOW = Path(__file__).with_name("qianfan_serving_flow.py")


def test_publish_serve_chat_and_delete_through_the_sdk(tmp_path: Path) -> None:
    access_key, secret_key = cli(
        "keys", "create", "--kind", "aksk", "--workspace", "qf", data_dir=tmp_path
    ).split()
    file_id = cli(
        "files", "upload", str(EXAMPLES / "qianfan-sft.jsonl"), "--workspace", "qf",
        data_dir=tmp_path,
    ).strip()  # fmt: skip
    server = Server(tmp_path, "--inference-idle-seconds", "120")
    try:
        env = {
            **os.environ,
            "QIANFAN_CONSOLE_API_BASE_URL": server.base,
            "QIANFAN_BASE_URL": server.base,
            "QIANFAN_IAM_BASE_URL": server.base,
            "QIANFAN_ACCESS_KEY": access_key,
            "QIANFAN_SECRET_KEY": secret_key,
        }
        run = subprocess.run(
            [sys.executable, str(FLOW), file_id],
            capture_output=True, text=True, env=env, timeout=900, check=False,
        )  # fmt: skip
        assert run.returncode == 0, f"{run.stderr}\n{server.output()}"
    finally:
        server.close()
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["model"]["trainMeta"]["taskId"] and out["model"]["version"] == "1"
    assert out["model_set"]["modelIds"] == [out["model"]["modelId"]]
    assert out["service"]["runStatus"] == "Serving" and out["service"]["endpoint"] == "greeter-v1"
    assert [s["endpoint"] for s in out["services"]["serviceList"]] == ["greeter-v1"]
    assert out["plain"]["result"] and out["plain"]["is_end"] is True
    assert out["plain"]["usage"]["completion_tokens"] > 0
    assert out["stream"]["text"] and out["stream"]["ends"][-1] is True
    assert not any(out["stream"]["ends"][:-1])
    assert out["v2"]["choices"][0]["message"]["content"] and out["v2_stream"]["text"]
    assert out["delete_service"] is True and out["after_delete"] == 336005
    assert out["delete_model"] is True and out["delete_model_set"] is True
    figures = {k: round(out[k], 3) for k in ("train_s", "flow_s", "first_chat_s")}
    figures["v1_first_token_s"] = round(out["stream"]["first_token_s"], 3)
    figures["v2_first_token_s"] = round(out["v2_stream"]["first_token_s"], 3)
    print(f"\nqianfan serving flow: {json.dumps(figures)}")
    assert 0 < figures["v1_first_token_s"] < 60 and 0 < figures["v2_first_token_s"] < 60
