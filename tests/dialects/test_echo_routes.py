"""The fixture fifth dialect (`tests/dialects/echo`) in a test app: mounted beside nothing
but the native API, it serves and renders errors like a vendor dialect; golden exchanges."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.dialects import echo
from tests.support import golden
from tests.support.world import EXAMPLES, World, make_ports
from tuneyard.api.app import create_app
from tuneyard.scheduler.executors.fake import FakeExecutor
from tuneyard.settings import Settings

CHAT = (EXAMPLES / "chat.jsonl").read_bytes()


class Api:
    """A client of an app that mounts only the echo dialect, with a key and a file."""

    def __init__(self, tmp_path: Path) -> None:
        self.world = World(make_ports("sqlite", tmp_path), tmp_path, FakeExecutor())
        service = self.world.service
        app = create_app(Settings(data_dir=tmp_path), service, mounted=(echo.DIALECT,))
        self.client = TestClient(app, raise_server_exceptions=False)
        self.headers = {"Authorization": f"Bearer {service.credentials.create_key('ws')}"}
        stored = service.uploads.upload_checked(
            "ws", "train.jsonl", [CHAT], formats=echo.DIALECT.dataset_formats
        )
        self.ids: dict[str, str] = {stored.id: "<file-id-1>"}
        self.file_id = stored.id

    def exchange(self, name: str, method: str, url: str, request: Any = None) -> Any:
        response = self.client.request(method, url, headers=self.headers, json=request)
        return golden.exchange(f"echo/{name}", method, url, request, response, self.ids)


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return Api(tmp_path)


def test_create_then_get(api: Api) -> None:
    body = {"model": "tiny-chat", "trainingFile": api.file_id, "epochs": 2}
    created = api.client.post("/echo/v1/jobs", headers=api.headers, json=body)
    job_id = created.json()["id"]
    assert echo.DIALECT.id_scheme.pattern.match(job_id), job_id
    api.ids[job_id] = "<job-id-1>"  # known only once created
    request = {"method": "POST", "path": "/echo/v1/jobs", "body": golden.normalise(body, api.ids)}
    response = {"status": created.status_code, "body": golden.normalise(created.json(), api.ids)}
    golden.check("echo/create", {"request": request, "response": response})
    got = api.exchange("get", "GET", f"/echo/v1/jobs/{job_id}")
    assert got["status"] == "waiting" and got["epochs"] == 2


def test_errors_use_the_dialect_envelope(api: Api) -> None:
    assert api.exchange("get-missing", "GET", "/echo/v1/jobs/echo-nope")["error"]["kind"] == (
        "NotFound"
    )
    bad = api.exchange("create-unknown-key", "POST", "/echo/v1/jobs", {"model": "m", "x": 1})
    assert bad["error"]["kind"] == "BadRequest"
    api.headers = {}
    assert api.exchange("auth-missing", "GET", "/echo/v1/jobs/x")["error"]["kind"] == "NoKey"


def test_a_path_no_dialect_holds_gets_the_native_envelope(api: Api) -> None:
    reply = api.client.get("/v1/fine_tuning/jobs", headers=api.headers)
    assert reply.status_code == 404 and reply.json()["error"]["code"] == "not_found"
