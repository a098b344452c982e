"""The console through the real app (TestClient): a signed-in browser for a workspace,
the world behind it (memory ports, a scripted executor whose runs leave checkpoints) and
the fake inference engine; shared by the New job, Files, Deployments and Playground tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.support.world import EXAMPLES, ManualClock, World, make_ports, run_with_checkpoints
from tuneyard.api.app import create_app
from tuneyard.core.jobs import Job
from tuneyard.core.states import JobStatus
from tuneyard.scheduler.executors.fake import FakeExecutor
from tuneyard.serving.fake import FakeInference
from tuneyard.settings import Settings

CHAT = (EXAMPLES / "chat.jsonl").read_bytes()
"""A valid chat dataset (120 conversations)."""
_LINES = CHAT.decode().splitlines()
BROKEN = "\n".join(
    [
        *_LINES[:6],
        '{"messages": [{"role": "wizard", "content": "hi"}, '
        '{"role": "assistant", "content": "x"}]}',
        *_LINES[7:11],
        '{"messages": [',
        *_LINES[12:],
    ]
).encode()
"""CHAT with two issues: an unknown role on line 7, broken JSON on line 12."""

_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
_FORM_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Browser:
    """A signed-in session: its cookie jar and CSRF token."""

    def __init__(self, app: Any, key: str) -> None:
        self.client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
        form = self.client.get("/console/signin")
        token = _FORM_CSRF.search(form.text)
        assert token is not None, form.text
        signed = self.client.post(
            "/console/signin",
            data={"csrf": token.group(1), "api_key": key, "next": "/console/jobs"},
        )
        assert signed.status_code == 303, signed.text
        page = self.client.get("/console/jobs/new", headers={"accept": "text/html"})
        found = _CSRF.search(page.text)
        assert found is not None, page.text
        self.csrf = found.group(1)

    def page(self, url: str) -> Any:
        """GET a page as a browser does."""
        return self.client.get(url, headers={"accept": "text/html"})

    def post(self, url: str, *, csrf: bool = True, **kwargs: Any) -> Any:
        """POST with the CSRF header (or without it)."""
        headers = dict(kwargs.pop("headers", {}))
        if csrf:
            headers["X-CSRF-Token"] = self.csrf
        return self.client.post(url, headers=headers, **kwargs)

    def delete(self, url: str, *, csrf: bool = True) -> Any:
        """DELETE with the CSRF header (or without it)."""
        return self.client.delete(url, headers={"X-CSRF-Token": self.csrf} if csrf else {})

    def upload(self, data: bytes, name: str = "train.jsonl", **kwargs: Any) -> Any:
        """Upload a dataset on the New job page."""
        return self.post("/console/uploads", files={"file": (name, data)}, **kwargs)


class Pages:
    """The app, two workspaces' browsers, and the world behind them."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = ManualClock()
        ports = make_ports("memory", tmp_path, self.clock)
        self.world = World(ports, tmp_path, FakeExecutor(run_with_checkpoints))
        self.engine = FakeInference()
        self.app = create_app(
            Settings(data_dir=tmp_path), self.world.service, inference=self.engine
        )
        credentials = self.world.service.credentials
        self.key = credentials.create_key("ws")
        self.other_key = credentials.create_key("other")
        self.browser = Browser(self.app, self.key)
        self._other: Browser | None = None

    @property
    def other(self) -> Browser:
        """A browser signed in to another workspace."""
        if self._other is None:
            self._other = Browser(self.app, self.other_key)
        return self._other

    def bearer(self, key: str | None = None) -> dict[str, str]:
        """API headers for the workspace's key."""
        return {"Authorization": f"Bearer {key or self.key}"}

    def succeeded_job(self, workspace: str = "ws") -> Job:
        """A job of the workspace that trained to the end (checkpoints at steps 2 and 4)."""
        self.clock.advance(1)
        job = self.world.submit_sample(workspace)
        return self.world.wait_status(job.id, JobStatus.SUCCEEDED)
