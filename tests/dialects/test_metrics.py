"""`GET /metrics` and request ids through the real app (TestClient), scripted executor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.support.world import EXAMPLES, World, make_ports
from tuneyard.api.app import create_app
from tuneyard.api.metrics import Metrics
from tuneyard.core.jobs import TrainingSpec
from tuneyard.core.states import JobStatus
from tuneyard.scheduler.executors.fake import KILLED, FakeExecutor, successful_run
from tuneyard.settings import Settings

SAMPLE = (EXAMPLES / "clova-generation.csv").read_bytes()
TASK_ROUTE = "/tuning/v2/tasks/{task_id}"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient) -> Samples:
    """Every sample of /metrics (fetched without a key), by name and labels."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def lost_once(calls: list[int]) -> Any:
    """A script whose first worker dies (SIGKILL) after one step; later ones succeed."""

    def script(spec: TrainingSpec) -> list[dict[str, Any]]:
        calls.append(1)
        events = successful_run(spec)
        return [events[0], events[1], {"event": KILLED}] if len(calls) == 1 else events

    return script


class Api:
    """An app with its own Metrics, shared with the scheduler as its meter."""

    def __init__(self, tmp_path: Path, executor: FakeExecutor, **settings: Any) -> None:
        self.world = World(make_ports("sqlite", tmp_path), tmp_path, executor)
        self.metrics = Metrics(finished_max_age_s=0)  # finished jobs counted at each scrape
        self.world.scheduler.meter = self.metrics
        self.app = create_app(
            Settings(data_dir=tmp_path, **settings), self.world.service, metrics=self.metrics
        )
        self.client = TestClient(self.app, raise_server_exceptions=False)
        self.headers = {
            "Authorization": f"Bearer {self.world.service.credentials.create_key('ws')}"
        }

    def create_task(self) -> str:
        response = self.client.post(
            "/tuning/v2/tasks",
            headers=self.headers,
            data={"model": "tiny-chat", "trainEpochs": "2", "name": "sample"},
            files={"file": ("train.csv", SAMPLE, "text/csv")},
        )
        assert response.status_code == 200, response.text
        return str(response.json()["result"]["id"])


def test_metrics_report_jobs_workers_tokens_and_requests(tmp_path: Path) -> None:
    calls: list[int] = []
    api = Api(tmp_path, FakeExecutor(lost_once(calls), hold=True))
    task = api.create_task()
    for _ in range(2):
        assert api.client.get(f"/tuning/v2/tasks/{task}", headers=api.headers).status_code == 200
    assert api.client.get("/tuning/v2/tasks/nosuchtask", headers=api.headers).status_code == 404
    assert api.client.get("/tuning/v2/no/such/route").status_code == 404

    before = scrape(api.client)
    assert value(before, "tuneyard_jobs", workspace="ws", state="queued") in (0.0, 1.0)
    # the held second worker has trained all its steps and waits before its final event
    api.world.wait_for(task, lambda j: len(calls) == 2 and j.progress.step == 4)
    running = scrape(api.client)
    assert value(running, "tuneyard_jobs", workspace="ws", state="running") == 1
    assert value(running, "tuneyard_training_tokens_per_second", job_id=task) == 1000
    for _, worker in api.world.scheduler.executor.launched:  # type: ignore[attr-defined]
        worker.release()
    api.world.wait_status(task, JobStatus.SUCCEEDED)
    api.world.scheduler.stop()

    after = scrape(api.client)
    assert value(after, "tuneyard_jobs", workspace="ws", state="succeeded") == 1
    assert value(after, "tuneyard_jobs", workspace="ws", state="running") == 0
    assert value(after, "tuneyard_worker_starts_total") == 2
    assert value(after, "tuneyard_worker_losses_total", reason="exited") == 1
    assert value(after, "tuneyard_queue_wait_seconds_count") == 2
    # 500 before the loss; the second run resumes from 500 and reaches 2000
    assert value(after, "tuneyard_trained_tokens_total") == 2000
    assert value(after, "tuneyard_training_tokens_per_second", job_id=task) is None

    get_ok = {"method": "GET", "route": TASK_ROUTE, "status": "200", "dialect": "clova"}
    assert value(after, "tuneyard_http_requests_total", **get_ok) == 2
    assert value(after, "tuneyard_http_requests_total", **{**get_ok, "status": "404"}) == 1
    assert value(after, "tuneyard_http_request_duration_seconds_count", **get_ok) == 2
    assert value(after, "tuneyard_http_request_duration_seconds_bucket", **get_ok, le="+Inf") == 2
    assert value(after, "tuneyard_http_request_duration_seconds_bucket", **get_ok, le="30.0") == 2
    unmatched = {"method": "GET", "route": "unmatched", "status": "404", "dialect": "clova"}
    assert value(after, "tuneyard_http_requests_total", **unmatched) == 1
    metrics_route = {"method": "GET", "route": "/metrics", "status": "200", "dialect": "native"}
    assert value(after, "tuneyard_http_requests_total", **metrics_route) == 2
    # labels are route templates, never raw paths
    assert not [key for key in after if any(task in v for _, v in key[1] if _ == "route")]
    assert value(after, "process_resident_memory_bytes") is not None


def test_open_streams_are_counted_per_workspace(tmp_path: Path) -> None:
    api = Api(tmp_path, FakeExecutor())

    async def frames() -> AsyncIterator[str]:
        yield "data: {}\n\n"

    api.app.state.streams.response("ws", frames())
    assert value(scrape(api.client), "tuneyard_open_streams", workspace="ws") == 1


def test_every_response_carries_a_request_id(tmp_path: Path) -> None:
    api = Api(tmp_path, FakeExecutor())
    native = api.client.get("/tuneyard/v1/models", headers=api.headers)
    assert len(native.headers["x-request-id"]) == 32
    dashscope = api.client.get("/api/v1/fine-tunes", headers=api.headers)
    assert dashscope.status_code == 200, dashscope.text
    assert dashscope.headers["x-request-id"] == dashscope.json()["request_id"]
    missing = api.client.get("/api/v1/fine-tunes/nosuchjob", headers=api.headers)
    assert missing.status_code == 404
    assert missing.headers["x-request-id"] == missing.json()["request_id"]
    clova = api.client.get(
        "/tuning/v2/tasks", headers={**api.headers, "X-NCP-CLOVASTUDIO-REQUEST-ID": "mine-1"}
    )
    assert clova.headers["X-NCP-CLOVASTUDIO-REQUEST-ID"] == "mine-1"
    assert "x-request-id" not in clova.headers  # the dialect's own header is the id


def test_metrics_can_be_turned_off(tmp_path: Path) -> None:
    api = Api(tmp_path, FakeExecutor(), metrics=False)
    assert api.client.get("/metrics").status_code == 404
    assert api.app.state.metrics is None


def test_two_apps_in_one_process_have_their_own_metrics(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = Api(tmp_path / "a", FakeExecutor()), Api(tmp_path / "b", FakeExecutor())
    first.client.get("/healthz")
    health = {"method": "GET", "route": "/healthz", "status": "200", "dialect": "native"}
    assert value(scrape(first.client), "tuneyard_http_requests_total", **health) == 1
    assert value(scrape(second.client), "tuneyard_http_requests_total", **health) is None
