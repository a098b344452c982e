"""Another workspace's job is not found on every console page, action and stream."""

from __future__ import annotations

from tests.console.conftest import HTML, Console
from tuneyard.core import sharing


def test_another_workspaces_job_is_not_found_everywhere(console: Console) -> None:
    theirs = console.finished_job("other", name="secret-name")
    mine = console.finished_job("ws")
    browser = console.signed_in("ws")
    token = console.csrf(browser)
    page = browser.get(f"/console/jobs/{theirs.id}", headers=HTML)
    assert page.status_code == 404 and "secret-name" not in page.text
    assert browser.get(f"/console/jobs/{theirs.id}/stream").status_code == 404
    assert browser.get(f"/console/jobs/{theirs.id}/stream?follow=0").status_code == 404
    for action in ("cancel", "pause", "resume", "delete", "export", "continue"):
        refused = browser.post(
            f"/console/jobs/{theirs.id}/{action}", data={"csrf": token, "step": "2"}, headers=HTML
        )
        assert refused.status_code == 404, action
    compare = browser.get(f"/console/compare?job={mine.id}&job={theirs.id}", headers=HTML)
    assert compare.status_code == 404 and "secret-name" not in compare.text
    listed = browser.get("/console/jobs.json?q=secret").json()["data"]
    assert listed == []
    assert console.world.service.jobs.get("other", theirs.id).status.value == "succeeded"


def test_a_display_token_opens_only_its_own_job(console: Console) -> None:
    theirs = console.finished_job("other")
    mine = console.finished_job("ws")
    token = sharing.token(console.world.service.ports.sealer, mine)
    anonymous = console.new_client()
    stream = anonymous.get(f"/console/jobs/{theirs.id}/stream", params={"displayToken": token})
    assert stream.status_code == 404
    assert (
        anonymous.get(f"/console/jobs/{mine.id}/stream", params={"displayToken": token}).status_code
        == 200
    )
    assert anonymous.get(f"/console/jobs/{mine.id}/stream").status_code == 401
