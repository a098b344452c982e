"""The console in-process: a world whose jobs run scripted workers, an app, and a client
that signs in through the sign-in form as a browser does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.support.world import EXAMPLES, World, make_ports, run_with_checkpoints
from tuneyard.api.app import create_app
from tuneyard.core.jobs import Job
from tuneyard.core.states import JobStatus
from tuneyard.core.submission import UploadSource
from tuneyard.scheduler.executors.fake import FakeExecutor
from tuneyard.settings import Settings

HTML = {"accept": "text/html,application/xhtml+xml"}
"""What a browser navigating sends."""


def hidden(page: str, name: str = "csrf") -> str:
    """The value of a hidden form field of a page."""
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no hidden field {name}"
    return found.group(1)


class Console:
    """An app over a SQLite world, keys for workspaces `ws` and `other` (and one key that
    may use both), and helpers to sign in and to make jobs."""

    def __init__(self, tmp_path: Path, *, hold: bool = False, **settings: Any) -> None:
        self.world = World(
            make_ports("sqlite", tmp_path),
            tmp_path,
            FakeExecutor(run_with_checkpoints, hold=hold),
            max_running=4,
        )
        self.app = create_app(Settings(data_dir=tmp_path, **settings), self.world.service)
        credentials = self.world.service.credentials
        self.keys = {ws: credentials.create_key(ws) for ws in ("ws", "other")}
        self.both = credentials.create_key("ws", workspaces=["other"])
        self.client = self.new_client()

    def new_client(self, base_url: str = "http://testserver") -> TestClient:
        """A fresh browser (no cookies)."""
        return TestClient(
            self.app, raise_server_exceptions=False, follow_redirects=False, base_url=base_url
        )

    def sign_in(self, client: TestClient | None = None, **fields: str) -> Response:
        """Post the sign-in form (`api_key=` or `access_key=`/`secret_key=`)."""
        client = client or self.client
        form = client.get("/console/signin", headers=HTML)
        assert form.status_code == 200
        data = {"csrf": hidden(form.text), "next": hidden(form.text, "next"), **fields}
        return client.post("/console/signin", data=data, headers=HTML)

    def signed_in(self, workspace: str = "ws") -> TestClient:
        """A browser signed in with the workspace's key."""
        client = self.new_client()
        assert self.sign_in(client, api_key=self.keys[workspace]).status_code == 303
        return client

    def csrf(self, client: TestClient, path: str = "/console/jobs") -> str:
        """The CSRF token a page of the session carries."""
        page = client.get(path, headers=HTML)
        assert page.status_code == 200, page.text
        return hidden(page.text)

    def job(self, workspace: str = "ws", *, name: str = "job", **spec: object) -> Job:
        """A job created on the sample CSV (CREATED; the scheduler runs it when ticked)."""
        clock = self.world.ports.clock
        clock.advance(1)  # type: ignore[attr-defined]  # distinct creation times
        data = (EXAMPLES / "clova-generation.csv").read_bytes()
        return self.world.service.submission.submit(
            self.world.spec(workspace, display_name=name, **spec),
            UploadSource(filename="train.csv", chunks=[data]),
        )

    def finished_job(self, workspace: str = "ws", *, name: str = "job") -> Job:
        """A job that ran to success: progress events, checkpoints 2 and 4, an output."""
        job = self.job(workspace, name=name)
        return self.world.wait_status(job.id, JobStatus.SUCCEEDED)


@pytest.fixture
def console(tmp_path: Path) -> Console:
    """A console over a fresh world."""
    return Console(tmp_path)
