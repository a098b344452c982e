"""tuneyard's native API through the app: dataset pre-flight, errors in its own envelope."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.world import EXAMPLES, World, make_ports, run_with_checkpoints
from tuneyard.api.app import create_app
from tuneyard.core.states import JobStatus
from tuneyard.scheduler.executors.fake import FakeExecutor
from tuneyard.settings import Settings


@pytest.fixture
def client(tmp_path: Path) -> tuple[TestClient, dict[str, str]]:
    world = World(make_ports("memory", tmp_path), tmp_path, FakeExecutor(), max_bytes=50_000)
    app = create_app(Settings(data_dir=tmp_path, max_dataset_bytes=50_000), world.service)
    key = world.service.credentials.create_key("ws")
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


def _zip_bytes() -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.jsonl", '{"messages": []}\n' * 100)
    return buffer.getvalue()


HOSTILE = {
    "zip renamed .jsonl": (_zip_bytes(), "file.encoding"),
    "NUL bytes": (b'{"messages": [\x00]}\n' * 20, "file.encoding"),
    "deep nesting": (b"[" * 100_000 + b"]" * 100_000 + b"\n", "file.format"),
    "empty file": (b"", "file.format"),
    "one 2 MB line": (b'{"text": "' + b"a" * 2_000_000 + b'"}\n', "file.format"),
    "CSV quote bomb": (
        b'System_Prompt,C_ID,T_ID,Text,Completion\n"' + b"x" * 40_000,
        "file.format",
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_files_get_their_reason_never_a_500(tmp_path: Path, name: str) -> None:
    body, reason = HOSTILE[name]
    world = World(make_ports("memory", tmp_path), tmp_path, FakeExecutor())
    app = create_app(Settings(data_dir=tmp_path, max_dataset_bytes=10_000_000), world.service)
    headers = {"Authorization": f"Bearer {world.service.credentials.create_key('ws')}"}
    http = TestClient(app, raise_server_exceptions=False)
    filename = "train.csv" if name == "CSV quote bomb" else "train.jsonl"
    checked = http.post(
        "/tuneyard/v1/datasets/validate", headers=headers, files={"file": (filename, body)}
    )
    assert checked.status_code == 200, checked.text
    assert checked.json()["issues"][0]["reason"] == reason
    created = http.post(
        "/tuning/v2/tasks",
        headers=headers,
        data={"model": "tiny-chat"},
        files={"file": (filename, body)},
    )
    assert created.status_code == 200, created.text
    task_id = created.json()["result"]["id"]
    from tuneyard.core.states import JobStatus

    failed = world.wait_status(task_id, JobStatus.FAILED, timeout=30)
    assert failed.error_code == reason


def test_checkpoints_and_exports(tmp_path: Path) -> None:
    world = World(make_ports("memory", tmp_path), tmp_path, FakeExecutor(run_with_checkpoints))
    app = create_app(Settings(data_dir=tmp_path), world.service)
    client = TestClient(app)
    headers = {"Authorization": f"Bearer {world.service.credentials.create_key('ws')}"}
    job = world.submit_sample()
    world.wait_status(job.id, JobStatus.SUCCEEDED)

    listed = client.get(f"/tuneyard/v1/jobs/{job.id}/checkpoints", headers=headers)
    assert [c["step"] for c in listed.json()["data"]] == [2, 4]
    exported = client.post(
        f"/tuneyard/v1/jobs/{job.id}/export", headers=headers, json={"step": 2, "merged": True}
    )
    assert exported.status_code == 200, exported.text
    assert exported.json()["format"] == "full"
    assert Path(exported.json()["path"], "config.json").is_file()
    final = client.post(f"/tuneyard/v1/jobs/{job.id}/export", headers=headers, json={})
    assert final.json()["format"] == "peft" and final.json()["step"] is None

    missing = client.post(f"/tuneyard/v1/jobs/{job.id}/export", headers=headers, json={"step": 3})
    assert missing.status_code == 404 and "has: 2, 4" in missing.json()["error"]["message"]
    other = client.get("/tuneyard/v1/jobs/nope/checkpoints", headers=headers)
    assert other.status_code == 404
    bad = client.post(f"/tuneyard/v1/jobs/{job.id}/export", headers=headers, json={"step": 0})
    assert bad.status_code == 400
