"""The Deployments page: deploy a succeeded job's model or checkpoint (the job page's
Deploy posts here), list with status and slots, take down; CSRF and workspaces enforced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.console.consoleapp import Pages
from tuneyard.core.jobs import Job


@pytest.fixture
def pages(tmp_path: Path) -> Pages:
    return Pages(tmp_path)


@pytest.fixture
def job(pages: Pages) -> Job:
    return pages.succeeded_job()


def _deploy(pages: Pages, **fields: str) -> Any:
    return pages.browser.client.post(
        "/console/deployments", data={"csrf": pages.browser.csrf, **fields}
    )


def test_the_form_offers_each_model_and_checkpoint(pages: Pages, job: Job) -> None:
    page = pages.browser.page(f"/console/deployments?job={job.id}&step=4")
    assert page.status_code == 200
    for value in (job.id, f"{job.id}:2", f"{job.id}:4"):
        assert f'<option value="{value}"' in page.text
    assert f'<option value="{job.id}:4" selected>' in page.text
    assert 'id="deployments-empty"' in page.text


def test_deploy_a_checkpoint_list_it_and_take_it_down(pages: Pages, job: Job) -> None:
    made = _deploy(pages, job_id=job.id, step="2", capacity="2")
    assert made.status_code == 303, made.text
    name = f"{job.id}-step-2"
    assert made.headers["location"] == f"/console/deployments?created={name}"
    found = pages.world.service.deployments.get("ws", name)
    assert (found.job_id, found.step, found.capacity, found.status.value) == (
        job.id,
        2,
        2,
        "RUNNING",
    )
    assert found.dialect == "console" and found.adapter
    page = pages.browser.page(f"/console/deployments?created={name}")
    assert f'data-name="{name}" data-status="RUNNING"' in page.text
    assert 'id="deployment-notice"' in page.text and "2 / 2" in page.text
    assert "2 of this server's 64" in page.text

    refused = pages.browser.client.post(f"/console/deployments/{name}/delete", data={})
    assert refused.status_code == 403
    gone = pages.browser.client.post(
        f"/console/deployments/{name}/delete", data={"csrf": pages.browser.csrf}
    )
    assert gone.status_code == 303
    assert pages.world.service.deployments.page("ws", offset=0, limit=10).total == 0


def test_a_script_deploys_the_final_model_by_json(pages: Pages, job: Job) -> None:
    made = pages.browser.post("/console/deployments", json={"job_id": job.id, "name": "my-model"})
    assert made.status_code == 201, made.text
    assert made.json()["status"] == "RUNNING" and made.json()["step"] is None
    assert pages.browser.delete("/console/deployments/my-model", csrf=False).status_code == 403
    gone = pages.browser.delete("/console/deployments/my-model")
    assert gone.status_code == 200 and gone.json()["status"] == "DELETING"


def test_a_refusal_is_shown_on_the_page(pages: Pages, job: Job) -> None:
    assert _deploy(pages, job_id=job.id, name="twice").status_code == 303
    again = _deploy(pages, job_id=job.id, name="twice")
    assert again.status_code == 409
    assert 'id="deployment-error"' in again.text
    missing = _deploy(pages, job_id=job.id, step="3")  # no checkpoint at step 3
    assert missing.status_code == 303
    failed = pages.world.service.deployments.get("ws", f"{job.id}-step-3")
    assert failed.status.value == "FAILED" and "steps 2, 4" in (failed.error or "")


def test_changes_without_the_csrf_token_are_refused(pages: Pages, job: Job) -> None:
    refused = pages.browser.client.post("/console/deployments", data={"job_id": job.id})
    assert refused.status_code == 403
    assert (
        pages.browser.post("/console/deployments", csrf=False, json={"job_id": job.id}).status_code
        == 403
    )
    assert pages.world.service.deployments.page("ws", offset=0, limit=10).total == 0


def test_another_workspaces_job_and_deployment_are_not_found(pages: Pages) -> None:
    theirs = pages.succeeded_job("other")
    refused = pages.browser.post("/console/deployments", json={"job_id": theirs.id})
    assert refused.status_code == 404
    made = pages.other.post("/console/deployments", json={"job_id": theirs.id, "name": "t"})
    assert made.status_code == 201
    assert pages.browser.delete("/console/deployments/t").status_code == 404
    assert 'data-name="t"' not in pages.browser.page("/console/deployments").text
    assert pages.world.service.deployments.get("other", "t").status.value == "RUNNING"


def test_a_job_with_nothing_to_deploy_is_said_so(pages: Pages) -> None:
    theirs = pages.succeeded_job("other")
    page = pages.browser.page(f"/console/deployments?job={theirs.id}")
    assert page.status_code == 200
    assert f"Job {theirs.id} has no model to deploy" in page.text
    assert f'value="{theirs.id}"' not in page.text
