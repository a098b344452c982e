"""The New job page: upload → the whole validation report (every issue, its line, the
exact reason) before anything is created → create, recorded WEB; a failing file is never
used; CSRF and workspaces enforced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.console.consoleapp import BROKEN, CHAT, Pages
from tuneyard.core.jobs import AUTO_FIELDS


@pytest.fixture
def pages(tmp_path: Path) -> Pages:
    return Pages(tmp_path)


def _create(pages: Pages, file_id: str, **fields: Any) -> Any:
    body = {"file_id": file_id, "model": "tiny-chat", "method": "lora", **fields}
    return pages.browser.post("/console/jobs/new", json=body)


def _files(pages: Pages, workspace: str = "ws") -> list[str]:
    page = pages.world.service.uploads.list_files(workspace, offset=0, limit=100)
    return [f.id for f in page.items]


@pytest.mark.parametrize(
    "url",
    [
        "/console/jobs/new",
        "/console/files",
        "/console/files/file-x",
        "/console/deployments",
        "/console/playground",
    ],
)
def test_every_page_needs_a_session(pages: Pages, url: str) -> None:
    anonymous = TestClient(pages.app, follow_redirects=False)
    answer = anonymous.get(url, headers={"accept": "text/html"})
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/signin?next=")


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("POST", "/console/uploads"),
        ("POST", "/console/jobs/new"),
        ("POST", "/console/files/file-x/delete"),
        ("DELETE", "/console/files/file-x"),
        ("POST", "/console/deployments"),
        ("POST", "/console/deployments/d/delete"),
        ("DELETE", "/console/deployments/d"),
        ("POST", "/console/playground/chat"),
    ],
)
def test_every_change_needs_a_session(pages: Pages, method: str, url: str) -> None:
    anonymous = TestClient(pages.app, follow_redirects=False)
    answer = anonymous.request(method, url, headers={"X-CSRF-Token": pages.browser.csrf})
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthenticated"


def test_the_page_prefills_the_defaults_and_explains_auto(pages: Pages) -> None:
    page = pages.browser.page("/console/jobs/new")
    assert page.status_code == 200
    html = page.text
    for element in ("upload-form", "upload-progress", "validation-report", "job-form"):
        assert f'id="{element}"' in html
    assert 'id="hp-n_epochs" name="n_epochs"' in html and 'value="8"' in html
    assert 'id="hp-learning_rate"' in html and 'value="0.0001"' in html
    for field in AUTO_FIELDS:
        assert f'id="hp-{field}-auto"' in html
    assert 'id="auto-help"' in html and "resolves" not in html  # the docstring's own words
    assert "300 examples seen" in html  # from Hyperparameters.resolve_auto
    assert "Passes over the training set." in html  # the field's own docstring
    assert '<option value="tiny-chat"' in html


def test_an_upload_with_errors_shows_every_issue_with_its_line_and_is_not_kept(
    pages: Pages,
) -> None:
    answer = pages.browser.upload(BROKEN)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["file"] is None
    report = body["report"]
    assert report["ok"] is False and report["total_issues"] == 2
    where = [(i["line"], i["reason"]) for i in report["issues"]]
    assert where == [(7, "file.format"), (12, "file.format")]
    assert report["issues"][0]["kind"] == "unrecognized_role"
    assert "Invalid json format. line 12" in report["issues"][1]["message"]
    assert _files(pages) == []  # nothing was created


def test_a_fixed_file_uploads_and_a_job_is_created_as_web(pages: Pages) -> None:
    assert pages.browser.upload(BROKEN).json()["file"] is None
    body = pages.browser.upload(CHAT).json()
    report = body["report"]
    assert report["ok"] is True and report["rows"] == 120 and report["issues"] == []
    assert report["objective"] == "sft"
    assert report["auto"]["lora/sft"] == {"n_epochs": 3, "batch_size": 4, "learning_rate": 1e-4}
    file_id = body["file"]["id"]
    assert _files(pages) == [file_id]

    made = _create(
        pages,
        file_id,
        name="from the console",
        hyperparameters={"learning_rate": "0.0002", "lora_rank": "16", "n_epochs": ""},
        auto=["batch_size"],
    )
    assert made.status_code == 201, made.text
    job_id = made.json()["id"]
    assert made.json()["url"] == f"/console/jobs/{job_id}"
    job = pages.world.service.jobs.get("ws", job_id)
    assert job.created_via == "WEB" and job.training_file_id == file_id
    assert job.display_name == "from the console" and job.created_by == "ws"
    hp = job.hyperparameters
    assert (hp.learning_rate, hp.lora_rank, hp.n_epochs, hp.auto) == (2e-4, 16, 8, ("batch_size",))
    clova = pages.browser.client.get(f"/tuning/v2/tasks/{job_id}", headers=pages.bearer())
    assert clova.json()["result"]["createdClientType"] == "WEB"


def test_create_is_refused_for_a_file_that_fails_the_jobs_check(pages: Pages) -> None:
    # a file kept by another API whatever it holds: the console checks it again at create
    kept = pages.browser.client.post(
        "/v1/files",
        headers=pages.bearer(),
        files={"file": ("bad.jsonl", BROKEN)},
        data={"purpose": "fine-tune"},
    )
    file_id = kept.json()["id"]
    refused = _create(pages, file_id)
    assert refused.status_code == 400
    body = refused.json()
    assert body["error"]["param"] == "training_file"
    assert "line 7" in body["error"]["message"]
    assert [i["line"] for i in body["report"]["issues"]] == [7, 12]
    assert pages.world.service.jobs.list("ws", offset=0, limit=10).total == 0


def test_a_file_that_cannot_serve_the_objective_is_refused(pages: Pages) -> None:
    file_id = pages.browser.upload(CHAT).json()["file"]["id"]
    refused = _create(pages, file_id, objective="dpo")
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "objective"


def test_bad_hyperparameters_are_all_named(pages: Pages) -> None:
    file_id = pages.browser.upload(CHAT).json()["file"]["id"]
    refused = _create(pages, file_id, hyperparameters={"n_epochs": "many", "warmup_ratio": "2"})
    assert refused.status_code == 400
    message = refused.json()["error"]["message"]
    assert "n_epochs must be a number" in message and "warmup_ratio must be in [0, 1)" in message


def test_changes_without_the_csrf_token_are_refused(pages: Pages) -> None:
    assert pages.browser.upload(CHAT, csrf=False).status_code == 403
    assert _files(pages) == []
    file_id = pages.browser.upload(CHAT).json()["file"]["id"]
    refused = pages.browser.post(
        "/console/jobs/new", csrf=False, json={"file_id": file_id, "model": "tiny-chat"}
    )
    assert refused.status_code == 403
    assert pages.world.service.jobs.list("ws", offset=0, limit=10).total == 0


def test_another_workspaces_file_is_not_found(pages: Pages) -> None:
    theirs = pages.other.upload(CHAT).json()["file"]["id"]
    refused = _create(pages, theirs)
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "file_not_found"


def test_an_upload_larger_than_a_json_body_is_taken_as_a_dataset(pages: Pages) -> None:
    """The console's upload route has a dataset's size limit, not a JSON body's."""
    limit = pages.app.state.settings.max_json_bytes
    rows = CHAT.splitlines(keepends=True)
    big = b"".join(rows * (limit // len(CHAT) + 2))
    assert len(big) > limit
    answer = pages.browser.upload(big)
    assert answer.status_code == 200, answer.text
    assert answer.json()["report"]["ok"] is True
