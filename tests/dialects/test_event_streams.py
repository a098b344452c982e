"""DashScope's `/fine-tunes/{id}/stream`: capped per workspace, ended when idle or when the
job is at rest (finished or paused), its slot given back however it ends."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.support.asgi import OpenCall
from tests.support.world import World, make_ports
from tuneyard.api.app import create_app
from tuneyard.core.states import JobStatus
from tuneyard.scheduler.executors.fake import FakeExecutor
from tuneyard.settings import Settings


class Streams:
    """A world whose jobs run until told otherwise, and keys for two workspaces."""

    def __init__(self, tmp_path: Path, **settings: Any) -> None:
        self.world = World(
            make_ports("sqlite", tmp_path), tmp_path, FakeExecutor(hold=True), max_running=2
        )
        self.app: FastAPI = create_app(Settings(data_dir=tmp_path, **settings), self.world.service)
        self.client = TestClient(self.app, raise_server_exceptions=False)
        self.headers = {
            ws: {"Authorization": f"Bearer {self.world.service.credentials.create_key(ws)}"}
            for ws in ("ws", "other")
        }

    def running_job(self, workspace: str = "ws") -> str:
        job = self.world.submit_sample(workspace)
        self.world.wait_status(job.id, JobStatus.RUNNING)
        return job.id


class Open(OpenCall):
    """One stream request driven through the ASGI app until the test lets it go."""

    def __init__(self, app: FastAPI, job_id: str, headers: dict[str, str]) -> None:
        super().__init__(app, "GET", f"/api/v1/fine-tunes/{job_id}/stream", headers=headers)


@pytest.mark.timeout(60)
def test_open_streams_per_workspace_are_capped(tmp_path: Path) -> None:
    streams = Streams(tmp_path, max_streams_per_workspace=2, stream_idle_seconds=600)
    mine, theirs = streams.running_job(), streams.running_job("other")
    open_streams = streams.app.state.streams

    async def scenario() -> None:
        first = Open(streams.app, mine, streams.headers["ws"])
        second = Open(streams.app, mine, streams.headers["ws"])
        assert (await first.answered(), await second.answered()) == (200, 200)
        assert b"data:" in first.body
        third = Open(streams.app, mine, streams.headers["ws"])
        await asyncio.wait_for(third.task, 10)
        assert third.status == 429
        refused = json.loads(third.body)
        assert refused["code"] == "Throttling" and "2 event streams" in refused["message"]
        elsewhere = Open(streams.app, theirs, streams.headers["other"])
        assert await elsewhere.answered() == 200  # the cap is per workspace

        await first.leave()  # a client that goes away gives its slot back
        assert open_streams.count("ws") == 1
        again = Open(streams.app, mine, streams.headers["ws"])
        assert await again.answered() == 200
        for stream in (second, elsewhere, again):
            await stream.leave()
        assert (open_streams.count("ws"), open_streams.count("other")) == (0, 0)

    asyncio.run(scenario())


@pytest.mark.timeout(60)
def test_a_stream_with_no_new_event_ends_after_the_idle_time(tmp_path: Path) -> None:
    streams = Streams(tmp_path, stream_idle_seconds=1)
    job_id = streams.running_job()
    started = time.monotonic()
    with streams.client.stream(
        "GET", f"/api/v1/fine-tunes/{job_id}/stream", headers=streams.headers["ws"]
    ) as stream:
        lines = [line for line in stream.iter_lines() if line]
    assert time.monotonic() - started < 10
    assert lines[-1].startswith(": no new event for 1 s")
    assert any("Status queued -> running" in line for line in lines)
    assert streams.app.state.streams.count("ws") == 0


@pytest.mark.timeout(60)
def test_a_paused_jobs_stream_ends_with_its_last_event(tmp_path: Path) -> None:
    streams = Streams(tmp_path, stream_idle_seconds=600)
    job_id = streams.running_job()
    streams.world.service.control.pause("ws", job_id)
    streams.world.wait_status(job_id, JobStatus.PAUSED)
    started = time.monotonic()
    with streams.client.stream(
        "GET", f"/api/v1/fine-tunes/{job_id}/stream", headers=streams.headers["ws"]
    ) as stream:
        lines = [line for line in stream.iter_lines() if line]
    assert time.monotonic() - started < 10
    assert any(line.endswith("Status pausing -> paused") for line in lines)
    assert lines[-1].startswith("data:") and " - Paused at step " in lines[-1], lines[-3:]
