"""A real server run as operators run it: `--log-format json`, scraped at /metrics while a
real tiny-chat job trains, and every dialect's request id found in its access line."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.clients import Qianfan
from tests.support.server import Server, cli
from tests.support.world import EXAMPLES

pytestmark = pytest.mark.integration

WORKSPACE = "observed"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tuneyard-data")


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[Server]:
    running = Server(data_dir, "--log-format", "json")
    yield running
    assert running.interrupt() == 0, running.output()


@pytest.fixture(scope="module")
def bearer(data_dir: Path) -> dict[str, str]:
    key = cli("keys", "create", "--workspace", WORKSPACE, data_dir=data_dir).strip()
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def qianfan(data_dir: Path) -> Qianfan:
    pair = cli("keys", "create", "--kind", "aksk", "--workspace", WORKSPACE, data_dir=data_dir)
    access_key, secret_key = pair.split()
    return Qianfan(access_key, secret_key)


def json_lines(server: Server) -> list[dict[str, Any]]:
    """Every line the server wrote, each parsed as JSON (fails on a line that is not)."""
    lines = []
    for line in server.output().splitlines():
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON log line: {line!r}")
    return lines


def samples(server: Server) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """/metrics, scraped with no key and parsed as Prometheus does."""
    response = server.client.get("/metrics")
    assert response.status_code == 200, response.text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def test_every_log_line_is_json_and_each_dialect_logs_its_request_id(
    server: Server, bearer: dict[str, str], qianfan: Qianfan
) -> None:
    answered: list[tuple[str, httpx.Response, str]] = []
    clova = server.client.get(
        "/tuning/v2/tasks", headers={**bearer, "X-NCP-CLOVASTUDIO-REQUEST-ID": "obs-clova-1"}
    )
    answered.append(("clova", clova, clova.headers["X-NCP-CLOVASTUDIO-REQUEST-ID"]))
    dashscope = server.client.get("/api/v1/fine-tunes", headers=bearer)
    answered.append(("dashscope", dashscope, dashscope.json()["request_id"]))
    openai = server.client.get("/v1/fine_tuning/jobs", headers=bearer)
    answered.append(("openai", openai, openai.headers["x-request-id"]))
    native = server.client.get("/tuneyard/v1/models", headers=bearer)
    answered.append(("native", native, native.headers["x-request-id"]))
    seen: list[httpx.Response] = []
    with httpx.Client(
        base_url=server.base, event_hooks={"response": [seen.append]}, timeout=30
    ) as signed:
        qianfan.call(signed, "DescribeFineTuningJobs", {})
    answered.append(("qianfan", seen[-1], seen[-1].headers["x-bce-request-id"]))
    refused = server.client.get("/api/v1/fine-tunes")  # no key: a 401, still logged
    answered.append(("dashscope", refused, refused.json()["request_id"]))

    # a request's access line is written once its response has been sent: the client may
    # read the response first, so wait (briefly) for the last lines to reach the log
    deadline = time.monotonic() + 10
    while True:
        lines = json_lines(server)
        access = {x["request_id"]: x for x in lines if x["logger"] == "tuneyard.access"}
        if all(i in access for _, _, i in answered) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert any(line["logger"].startswith("uvicorn") for line in lines)  # uvicorn's own too
    for dialect, response, request_id in answered:
        line = access[request_id]
        assert line["dialect"] == dialect
        assert line["method"] == response.request.method
        assert line["path"] == response.request.url.path
        assert line["status"] == response.status_code
        assert line["duration_ms"] >= 0
    assert access[answered[0][2]]["route"] == "/tuning/v2/tasks"
    assert refused.status_code == 401
    assert dashscope.json()["request_id"] == dashscope.headers["x-request-id"]


def test_metrics_of_a_real_training_job(server: Server, bearer: dict[str, str]) -> None:
    created = server.client.post(
        "/tuning/v2/tasks",
        headers=bearer,
        data={"model": "tiny-chat", "trainEpochs": "1", "name": "observed"},
        files={"file": ("train.csv", (EXAMPLES / "clova-generation.csv").read_bytes())},
    )
    assert created.status_code == 200, created.text
    task = created.json()["result"]["id"]
    key = bearer["Authorization"].removeprefix("Bearer ")
    seen = server.poll_task(key, task, {"SUCCEEDED", "FAILED"})  # each poll: one GET, 200
    assert seen[-1]["status"] == "SUCCEEDED", server.output()[-3000:]

    found = samples(server)

    def value(name: str, **labels: str) -> float | None:
        return found.get((name, frozenset(labels.items())))

    assert value("tuneyard_jobs", workspace=WORKSPACE, state="succeeded") == 1
    assert value("tuneyard_jobs", workspace=WORKSPACE, state="running") == 0
    assert value("tuneyard_worker_starts_total") == 1
    assert value("tuneyard_worker_losses_total", reason="exited") == 0
    assert value("tuneyard_queue_wait_seconds_count") == 1
    assert (value("tuneyard_trained_tokens_total") or 0) > 0
    route = "/tuning/v2/tasks/{task_id}"
    get = {"method": "GET", "route": route, "status": "200", "dialect": "clova"}
    assert value("tuneyard_http_requests_total", **get) == len(seen)
    post = {"method": "POST", "route": "/tuning/v2/tasks", "status": "200", "dialect": "clova"}
    assert value("tuneyard_http_requests_total", **post) == 1
    buckets = sorted(
        (float(dict(labels)["le"]), count)
        for (name, labels), count in found.items()
        if name == "tuneyard_http_request_duration_seconds_bucket"
        and {**dict(labels), "le": ""} == {**get, "le": ""}
    )
    assert len(buckets) > 10 and buckets[-1] == (float("inf"), len(seen))
    assert all(a[1] <= b[1] for a, b in itertools.pairwise(buckets))  # cumulative
    assert value("tuneyard_http_request_duration_seconds_count", **get) == len(seen)
