"""`serve --role api|scheduler|all`: the setting, its flag and environment twin, and the
scheduler replica's own small app (/healthz and /metrics, no API)."""

from __future__ import annotations

import os

import pytest
from fastapi.testclient import TestClient

from tuneyard import errors
from tuneyard.api import probe
from tuneyard.api.metrics import Metrics
from tuneyard.cli import main as cli
from tuneyard.scheduler.scheduler import owner_id
from tuneyard.settings import Settings


def test_the_role_defaults_to_all_and_reads_its_twin_then_the_flag() -> None:
    assert Settings.load(env={}).role == "all"
    assert Settings.load(env={"TUNEYARD_ROLE": "api"}).role == "api"
    chosen = Settings.load({"role": "scheduler"}, env={"TUNEYARD_ROLE": "api"})
    assert chosen.role == "scheduler"


def test_an_unknown_role_is_refused_with_the_others() -> None:
    with pytest.raises(errors.InvalidRequest) as caught:
        Settings.load({"role": "worker", "port": 0}, env={})
    assert "role must be one of all, api, scheduler" in caught.value.message
    assert "port" in caught.value.message


def test_serve_takes_role_and_lease_flags(capsys: pytest.CaptureFixture[str]) -> None:
    args = cli._parser().parse_args(["serve", "--role", "api", "--lease-seconds", "4"])
    settings = cli._settings(args)
    assert (settings.role, settings.lease_seconds) == ("api", 4.0)
    with pytest.raises(SystemExit):
        cli._parser().parse_args(["serve", "--role", "worker"])
    with pytest.raises(SystemExit):
        cli._parser().parse_args(["serve", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "--role {all,api,scheduler}" in shown and "never a training worker" in shown


def test_owner_ids_are_unique_and_name_the_host_and_process() -> None:
    first, second = owner_id(), owner_id()
    assert first != second and len(first) <= 64
    assert f"-{os.getpid()}-" in first


def test_the_scheduler_replica_serves_health_and_metrics_only() -> None:
    metrics = Metrics()
    metrics.worker_started()
    app = probe.create_probe_app("host-1-abc", lambda: ["job-1"], metrics=metrics)
    with TestClient(app) as client:
        health = client.get("/healthz").json()
        assert health == {
            "status": "ok",
            "role": "scheduler",
            "owner": "host-1-abc",
            "running": ["job-1"],
        }
        scraped = client.get("/metrics")
        assert scraped.status_code == 200
        assert "tuneyard_worker_starts_total 1.0" in scraped.text
        assert client.get("/v1/fine_tuning/jobs").status_code == 404
        assert client.get("/docs").status_code == 404
    bare = probe.create_probe_app("o", list, metrics=None)
    with TestClient(bare) as client:
        assert client.get("/metrics").status_code == 404
