"""Ctrl-C stops the server cleanly: running jobs go back to the queue and run after restart."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.support.server import Server, cli
from tests.support.world import EXAMPLES

pytestmark = pytest.mark.integration


def test_ctrl_c_requeues_the_running_job_and_restart_runs_it(tmp_path: Path) -> None:
    key = cli("keys", "create", data_dir=tmp_path).strip()
    headers = {"Authorization": f"Bearer {key}"}
    server = Server(tmp_path)
    try:
        response = server.client.post(
            "/tuning/v2/tasks",
            headers=headers,
            data={"model": "tiny-chat", "trainEpochs": "20"},
            files={"file": ("train.csv", (EXAMPLES / "clova-generation.csv").read_bytes())},
        )
        task_id = response.json()["result"]["id"]
        seen = server.poll_task(key, task_id, {"RUNNING"}, timeout=120)
        deadline = time.monotonic() + 120
        while not (seen[-1]["statusInfo"]["currStep"] or 0) > 0:
            assert time.monotonic() < deadline
            seen = server.poll_task(key, task_id, {"RUNNING"})
        started = time.monotonic()
        assert server.interrupt() == 0, server.output()
        assert time.monotonic() - started < 30
        assert "stopping workers" in server.output()
    finally:
        server.close()
    assert not (tmp_path / "jobs" / task_id / "output").exists()  # nothing half-written

    again = Server(tmp_path)
    try:
        result = again.client.get(f"/tuning/v2/tasks/{task_id}", headers=headers).json()["result"]
        assert result["status"] in ("WAIT", "RUNNING")
        again.poll_task(key, task_id, {"RUNNING"}, timeout=120)
        assert again.interrupt(sig=signal.SIGTERM) == 0, again.output()  # as systemd stops it
    finally:
        again.close()
    assert "stopping workers" in again.output()
    check = Server(tmp_path)
    try:
        result = check.client.get(f"/tuning/v2/tasks/{task_id}", headers=headers).json()["result"]
        assert result["status"] in ("WAIT", "RUNNING")  # requeued again, not stuck or failed
    finally:
        check.close()
