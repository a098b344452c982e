"""tuneyard's native API through the app: dataset pre-flight, errors in its own envelope."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.world import EXAMPLES, World, make_ports
from tuneyard.api.app import create_app
from tuneyard.scheduler.executors.fake import FakeExecutor
from tuneyard.settings import Settings


@pytest.fixture
def client(tmp_path: Path) -> tuple[TestClient, dict[str, str]]:
    world = World(make_ports("memory", tmp_path), tmp_path, FakeExecutor())
    app = create_app(Settings(data_dir=tmp_path, max_dataset_bytes=50_000), world.service)
    key = world.service.create_key("ws")
    return TestClient(app), {"Authorization": f"Bearer {key}"}


def _post(
    client: TestClient, headers: dict[str, str], body: bytes, name: str = "train.csv", **fields: str
) -> dict[str, object]:
    response = client.post(
        "/tuneyard/v1/datasets/validate", headers=headers, data=fields, files={"file": (name, body)}
    )
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


def test_validate_a_good_file_with_token_counts(client: tuple[TestClient, dict[str, str]]) -> None:
    report = _post(*client, (EXAMPLES / "clova-generation.csv").read_bytes(), model="tiny-chat")
    assert report["ok"] is True and report["rows"] == 128
    assert report["profile"]["tokens"] == 8270  # type: ignore[index]


def test_validate_reports_every_issue(client: tuple[TestClient, dict[str, str]]) -> None:
    bad = b"System_Prompt,C_ID,T_ID,Text,Completion\ns,0,0,,x\ns,0,1,hi,\n"
    report = _post(*client, bad, max_issues="10")
    assert report["ok"] is False
    reasons = [(i["reason"], i["line"]) for i in report["issues"]]  # type: ignore[attr-defined]
    assert reasons[:2] == [("file.format", 2), ("file.format", 3)]
    assert report["total_issues"] == 3  # two empty cells and too few rows


def test_oversized_upload_is_file_size(client: tuple[TestClient, dict[str, str]]) -> None:
    report = _post(*client, b"x" * 60_000)
    assert [i["reason"] for i in report["issues"]] == ["file.size"]  # type: ignore[attr-defined]


def test_validate_detects_openai_chat(client: tuple[TestClient, dict[str, str]]) -> None:
    line = b'{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]}\n'
    report = _post(*client, line * 12, name="chat.jsonl")
    assert report["format"] == "openai-chat" and report["ok"] is True


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"format": "xml"}, "format"),
        ({"model": "nope"}, "model"),
        ({"task_type": "ranking"}, "task_type"),
        ({"max_issues": "0"}, "max_issues"),
    ],
)
def test_bad_fields_are_400_in_the_native_envelope(
    client: tuple[TestClient, dict[str, str]], fields: dict[str, str], param: str
) -> None:
    http, headers = client
    response = http.post(
        "/tuneyard/v1/datasets/validate",
        headers=headers,
        data=fields,
        files={"file": ("a.csv", b"x")},
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_needs_a_key(client: tuple[TestClient, dict[str, str]]) -> None:
    response = client[0].post("/tuneyard/v1/datasets/validate", files={"file": ("a.csv", b"")})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
