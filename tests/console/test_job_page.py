"""The job page: what it renders, and its actions."""

from __future__ import annotations

import re
from pathlib import Path

from tests.console.conftest import HTML, Console, hidden
from tests.support.world import EXAMPLES
from tuneyard.core.states import JobStatus
from tuneyard.core.submission import UploadSource


def test_the_page_shows_the_job_its_checkpoints_metrics_and_hyperparameters(
    console: Console,
) -> None:
    job = console.finished_job(name="arith")
    browser = console.signed_in()
    page = browser.get(f"/console/jobs/{job.id}", headers=HTML)
    assert page.status_code == 200
    text = page.text
    assert 'id="job-status" class="status-succeeded"' in text
    for chart in ("chart-loss", "chart-valid", "chart-accuracy", "chart-lr"):
        assert f'id="{chart}"' in text
    assert re.findall(r'<tr data-step="(\d*)" class="checkpoint-row"', text) == ["2", "4", ""]
    assert 'tr data-name="n_epochs"' in text and 'id="final-model-row"' in text
    assert f'"stream": "/console/jobs/{job.id}/stream"' in text
    assert "uPlot.iife.min.js" in text and "content-security-policy" in page.headers
    assert "<script>" not in text  # no inline script: the CSP forbids it


def test_the_validation_report_lists_every_issue_with_its_line(console: Console) -> None:
    rows = (EXAMPLES / "clova-generation.csv").read_text().splitlines()
    for line in (5, 9):  # 1-based, the header is line 1
        rows[line - 1] = "You are a tutor.,0,9,,"
    bad = ("\n".join(rows) + "\n").encode()
    job = console.world.service.submission.submit(
        console.world.spec("ws", display_name="broken"),
        UploadSource(filename="train.csv", chunks=[bad]),
    )
    failed = console.world.wait_status(job.id, JobStatus.FAILED)
    browser = console.signed_in()
    page = browser.get(f"/console/jobs/{failed.id}", headers=HTML).text
    lines = re.findall(r'<tr class="issue" data-line="(\d+)"', page)
    assert {"5", "9"} <= set(lines)  # each broken row, by its line
    assert 'id="job-error"' in page and "hidden" not in page.split('id="job-error"')[1][:40]


def test_pause_resume_and_cancel_go_through_the_core(tmp_path: Path) -> None:
    held = Console(tmp_path, hold=True)
    job = held.job()
    held.world.wait_status(job.id, JobStatus.RUNNING)
    browser = held.signed_in()
    token = held.csrf(browser, f"/console/jobs/{job.id}")
    paused = browser.post(f"/console/jobs/{job.id}/pause", data={"csrf": token}, headers=HTML)
    assert paused.status_code == 303 and paused.headers["location"] == f"/console/jobs/{job.id}"
    held.world.wait_status(job.id, JobStatus.PAUSED)
    resumed = browser.post(f"/console/jobs/{job.id}/resume", data={"csrf": token}, headers=HTML)
    assert resumed.status_code == 303
    assert held.world.service.jobs.get("ws", job.id).status is JobStatus.QUEUED
    cancelled = browser.post(f"/console/jobs/{job.id}/cancel", data={"csrf": token}, headers=HTML)
    assert cancelled.status_code == 303
    record = held.world.service.jobs.get("ws", job.id)
    assert record.status in (JobStatus.CANCELLED, JobStatus.CANCELLING)
    assert record.modified_by == "ws"
    again = browser.post(f"/console/jobs/{job.id}/resume", data={"csrf": token}, headers=HTML)
    assert again.status_code == 400 and "error-message" in again.text  # an HTML error page


def test_delete_removes_the_job_and_goes_back_to_the_list(console: Console) -> None:
    job = console.finished_job()
    browser = console.signed_in()
    token = console.csrf(browser)
    gone = browser.post(f"/console/jobs/{job.id}/delete", data={"csrf": token}, headers=HTML)
    assert gone.status_code == 303 and gone.headers["location"] == "/console/jobs"
    assert browser.get(f"/console/jobs/{job.id}", headers=HTML).status_code == 404


def test_export_and_continue_from_a_checkpoint(console: Console) -> None:
    job = console.finished_job()
    browser = console.signed_in()
    token = console.csrf(browser)
    exported = browser.post(
        f"/console/jobs/{job.id}/export", data={"csrf": token, "step": "2"}, headers=HTML
    )
    assert exported.status_code == 200 and 'id="job-notice"' in exported.text
    assert "step 2 (peft)" in exported.text
    assert (tmp := console.world.root / "jobs" / job.id / "exports" / "step-2").is_dir(), tmp
    continued = browser.post(
        f"/console/jobs/{job.id}/continue", data={"csrf": token, "step": "4"}, headers=HTML
    )
    assert continued.status_code == 303
    new_id = continued.headers["location"].rsplit("/", 1)[1]
    child = console.world.service.jobs.get("ws", new_id)
    assert child.parent is not None and (child.parent.job_id, child.parent.step) == (job.id, 4)
    assert (child.created_via, child.dialect) == ("WEB", "console")
    assert child.training_file_id == job.training_file_id
    missing = browser.post(
        f"/console/jobs/{job.id}/continue", data={"csrf": token, "step": "3"}, headers=HTML
    )
    assert missing.status_code == 404


def test_unknown_actions_are_not_found(console: Console) -> None:
    job = console.finished_job()
    browser = console.signed_in()
    token = hidden(browser.get("/console/jobs", headers=HTML).text)
    assert browser.post(f"/console/jobs/{job.id}/explode", data={"csrf": token}).status_code == 404
