"""JSON log lines, the observability settings, and the scheduler's meter kept neutral."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import world
from tests.unit.test_architecture import _modules, _third_party, import_graph
from tuneyard import errors, logs
from tuneyard.api import observe
from tuneyard.api.metrics import Metrics
from tuneyard.core.meter import NO_METER
from tuneyard.core.states import JobStatus
from tuneyard.settings import Settings


def test_a_json_line_has_time_level_logger_message_and_extra_fields() -> None:
    record = logging.LogRecord(
        "tuneyard.access", logging.INFO, "f.py", 1, "%s %d", ("GET", 200), None
    )
    record.request_id = "abc"
    record.status = 200
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["level"] == "info" and line["logger"] == "tuneyard.access"
    assert line["message"] == "GET 200"
    assert (line["request_id"], line["status"]) == ("abc", 200)
    assert line["time"].endswith("Z") and len(line["time"]) == len("2026-01-01T00:00:00.000Z")
    assert "args" not in line and "msg" not in line  # the record's own attributes stay out


def test_a_json_line_carries_the_exception_on_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, "f.py", 1, "failed", None, sys.exc_info())
    text = logs.JsonFormatter().format(record)
    assert "\n" not in text
    assert "ValueError: boom" in json.loads(text)["exception"]


def test_log_format_and_metrics_settings() -> None:
    assert Settings.load(env={}).log_format == "text"
    assert Settings.load(env={}).metrics is True
    assert Settings.load(env={"TUNEYARD_LOG_FORMAT": "json"}).log_format == "json"
    assert Settings.load(env={"TUNEYARD_METRICS": "off"}).metrics is False
    assert Settings.load({"metrics": False}, env={"TUNEYARD_METRICS": "on"}).metrics is False
    with pytest.raises(errors.InvalidRequest, match="log-format must be text or json"):
        Settings.load(env={"TUNEYARD_LOG_FORMAT": "xml"})
    with pytest.raises(errors.InvalidRequest, match="TUNEYARD_METRICS='maybe' is not valid"):
        Settings.load(env={"TUNEYARD_METRICS": "maybe"})


def test_uvicorn_keeps_its_logging_in_text_mode_and_hands_it_over_in_json() -> None:
    assert logs.uvicorn_options(Settings()) == {"log_level": "info"}
    json_mode = logs.uvicorn_options(Settings(log_format="json"))
    assert json_mode["log_config"] is None and json_mode["access_log"] is False


def test_metrics_is_a_meter_and_the_default_meter_measures_nothing() -> None:
    metrics = Metrics()
    for meter in (metrics, NO_METER):
        meter.job_claimed(3.0)
        meter.worker_started()
        meter.worker_lost("exited")
        meter.trained("job1", 10, 5.0)
        meter.worker_exited("job1")
        meter.worker_exited("job1")  # twice is harmless
    assert metrics.registry.get_sample_value("tuneyard_trained_tokens_total") == 10
    assert metrics.registry.get_sample_value("tuneyard_queue_wait_seconds_count") == 1


def test_core_and_scheduler_never_import_prometheus() -> None:
    """The scheduler reports through `tuneyard.core.meter.Meter`; only api/ knows Prometheus."""
    graph, modules = import_graph(), _modules()
    for package in ("tuneyard.core", "tuneyard.scheduler"):
        seen: set[str] = set()
        todo = [m for m in graph if m.startswith(package)]
        while todo:
            module = todo.pop()
            if module not in seen:
                seen.add(module)
                todo.extend(graph[module])
        leaks = sorted(m for m in seen if "prometheus_client" in _third_party(modules[m]))
        assert not leaks, f"{package} reaches prometheus_client: {leaks}"


def test_unfinished_jobs_are_counted_at_each_scrape_finished_ones_at_most_every_max_age(
    tmp_path: Path,
) -> None:
    ports = world.make_ports("memory", tmp_path)
    metrics = Metrics(finished_max_age_s=3600)
    metrics.watch(ports.jobs, dict)

    def jobs(state: str) -> float | None:
        return metrics.registry.get_sample_value(
            "tuneyard_jobs", {"workspace": "ws", "state": state}
        )

    ports.jobs.add(world.job_record(ports, "aaaa0001", status=JobStatus.SUCCEEDED))
    assert jobs("succeeded") == 1
    ports.jobs.add(world.job_record(ports, "aaaa0002", status=JobStatus.SUCCEEDED))
    ports.jobs.add(world.job_record(ports, "aaaa0003", status=JobStatus.QUEUED))
    assert jobs("queued") == 1  # at once
    assert jobs("succeeded") == 1  # the count of an hour ago, not counted again yet


def test_a_request_that_raises_is_counted_as_a_500_and_odd_methods_as_other() -> None:
    metrics = Metrics()
    sent: list[Any] = []

    async def failing(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    async def record(message: Any) -> None:
        sent.append(message)

    async def nothing() -> Any:
        return {"type": "http.request", "body": b""}

    app = observe.Observe(failing, metrics=metrics, access=False, prefixes=[("/v1", "openai")])
    with pytest.raises(RuntimeError):
        asyncio.run(app({"type": "http", "method": "BREW", "path": "/v1/x"}, nothing, record))
    labels = {"method": "OTHER", "route": "unmatched", "status": "500", "dialect": "openai"}
    assert metrics.registry.get_sample_value("tuneyard_http_requests_total", labels) == 1
