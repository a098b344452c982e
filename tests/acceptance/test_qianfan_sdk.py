"""The real `qianfan` SDK against a real server: the whole fine-tuning flow of issue 11,
configured only through its environment variables, and bce-auth-v1 refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import Server, cli
from tests.support.world import EXAMPLES

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

qianfan = pytest.importorskip("qianfan")
from qianfan.errors import RequestError  # noqa: E402
from qianfan.resources import FineTune  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("tuneyard-qianfan"))
    qianfan.get_config().CONSOLE_API_BASE_URL = running.base
    yield running
    assert running.interrupt() == 0, running.output()


@pytest.fixture(scope="module")
def pair(server: Server) -> tuple[str, str]:
    access_key, secret_key = cli(
        "keys", "create", "--kind", "aksk", "--workspace", "qf", data_dir=server.data_dir
    ).split()
    return access_key, secret_key


FLOW = Path(__file__).with_name("qianfan_flow.py")


def test_the_fine_tuning_flow_through_the_sdk(server: Server, pair: tuple[str, str]) -> None:
    file_id = cli(
        "files", "upload", str(EXAMPLES / "qianfan-sft.jsonl"), "--workspace", "qf",
        data_dir=server.data_dir,
    ).strip()  # fmt: skip
    env = {
        **os.environ,
        "QIANFAN_CONSOLE_API_BASE_URL": server.base,
        "QIANFAN_ACCESS_KEY": pair[0],
        "QIANFAN_SECRET_KEY": pair[1],
    }
    run = subprocess.run(
        [sys.executable, str(FLOW), file_id],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0, f"{run.stderr}\n{server.output()}"
    out = json.loads(run.stdout.strip().splitlines()[-1])
    done = out["done"]
    assert done["runStatus"] == "Done", done
    assert "Running" in out["statuses"] and all(p.endswith("%") for p in out["progress"])
    assert all(0 <= int(p[:-1]) <= 100 for p in out["progress"])  # the SDK trainer's parse
    assert set(done["metrics"]) == {"BLEU-4", "ROUGE-1", "ROUGE-2", "ROUGE-L"}
    assert all(v.endswith("%") for v in done["metrics"].values())
    steps = [c["step"] for c in done["checkpointList"]]
    assert steps and steps == sorted(steps)
    assert all(c["trainingLoss"] > 0 and c["perplexity"] > 1 for c in done["checkpointList"])
    assert done["createTime"].endswith("Z") and done["finishDate"] != "0000-00-00T00:00:00Z"
    page = server.client.get(done["vdlLink"].removeprefix(server.base))
    assert page.status_code == 200 and 'id="chart-loss"' in page.text  # the read-only job page
    assert out["job_id"] in [j["jobId"] for j in out["job_list"]["jobList"]]
    assert [t["taskId"] for t in out["task_list"]["taskList"]] == [out["task_id"]]
    assert out["second_running"]["runStatus"] == "Running"
    assert out["stop"] is True and out["stop_again"] is False
    assert out["second_final"]["runStatus"] == "Stopped"
    assert "tiny-chat" in out["models"]


def test_support_models_through_the_sdk(pair: tuple[str, str]) -> None:
    access_key, secret_key = pair
    models = FineTune.V2.supported_models(ak=access_key, sk=secret_key)
    assert models.code == 200
    assert "tiny-chat" in [m["model"] for m in models["result"]]


def test_a_wrong_secret_key_and_an_old_signature_are_refused(
    pair: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    access_key, _ = pair
    with pytest.raises(RequestError) as wrong:
        FineTune.V2.supported_models(ak=access_key, sk="0" * 32)
    assert wrong.value.status_code == 400 and "SignatureDoesNotMatch" in str(wrong.value)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() - 600)  # signed 10 minutes ago
    with pytest.raises(RequestError) as old:
        FineTune.V2.supported_models(ak=access_key, sk=pair[1])
    monkeypatch.undo()
    assert old.value.status_code == 400 and "RequestExpired" in str(old.value)


def test_the_server_never_logs_the_secret(server: Server, pair: tuple[str, str]) -> None:
    assert pair[1] not in server.output()
    assert pair[1].encode() not in Path(server.data_dir, "tuneyard.db").read_bytes()
