"""The jobs list: every job of the workspace whatever dialect made it, filters, search,
keyset pages, and the JSON rows the page polls for live updates."""

from __future__ import annotations

import re

from tests.console.conftest import HTML, Console
from tuneyard.core.states import JobStatus


def _ids(text: str) -> list[str]:
    return re.findall(r'<tr data-job-id="([^"]+)"', text)


def test_the_list_shows_every_dialects_jobs_of_the_workspace_only(console: Console) -> None:
    clova = console.job(name="from-clova")
    openai = console.job(name="from-openai", dialect="openai")
    theirs = console.job("other", name="theirs")
    browser = console.signed_in()
    page = browser.get("/console/jobs", headers=HTML)
    assert page.status_code == 200
    assert _ids(page.text) == [openai.id, clova.id]  # newest first
    assert theirs.id not in page.text
    assert ">openai<" in page.text and ">clova<" in page.text
    rows = browser.get("/console/jobs.json").json()["data"]
    assert [r["id"] for r in rows] == [openai.id, clova.id]
    assert {"status", "model", "method", "step", "total_steps", "eta_s", "created_at",
            "finished_at", "dialect"} <= set(rows[0])  # fmt: skip


def test_filters_by_status_and_model_and_searches_name_and_id(console: Console) -> None:
    done = console.finished_job(name="alpha run")
    waiting = console.job(name="beta run")
    browser = console.signed_in()
    by_status = browser.get("/console/jobs.json?status=succeeded").json()["data"]
    assert [r["id"] for r in by_status] == [done.id]
    assert console.world.service.jobs.get("ws", waiting.id).status is not JobStatus.SUCCEEDED
    assert browser.get("/console/jobs.json?model=tiny-chat").json()["data"]
    assert browser.get("/console/jobs.json?model=minilm-l6").json()["data"] == []
    by_name = browser.get("/console/jobs.json?q=BETA").json()["data"]
    assert [r["id"] for r in by_name] == [waiting.id]
    by_id = browser.get(f"/console/jobs.json?q={done.id[2:6]}").json()["data"]
    assert done.id in [r["id"] for r in by_id]
    page = browser.get("/console/jobs?status=succeeded", headers=HTML)
    assert _ids(page.text) == [done.id] and 'value="succeeded" selected' in page.text


def test_keyset_pages_follow_the_marker(console: Console) -> None:
    made = [console.job(name=f"job {i}") for i in range(5)]
    newest_first = [j.id for j in reversed(made)]
    browser = console.signed_in()
    first = browser.get("/console/jobs.json?limit=2").json()
    assert [r["id"] for r in first["data"]] == newest_first[:2]
    second = browser.get(f"/console/jobs.json?limit=2&marker={first['next_marker']}").json()
    assert [r["id"] for r in second["data"]] == newest_first[2:4]
    third = browser.get(f"/console/jobs.json?limit=2&marker={second['next_marker']}").json()
    assert [r["id"] for r in third["data"]] == newest_first[4:] and third["next_marker"] is None
    page = browser.get("/console/jobs?limit=2", headers=HTML)
    assert 'id="page-next"' in page.text and f"marker={first['next_marker']}" in page.text


def test_filtered_pages_fill_up_across_batches(console: Console) -> None:
    wanted = [console.job(name=f"keep {i}") for i in range(3)]
    for i in range(4):
        console.job(name=f"skip {i}")
    browser = console.signed_in()
    first = browser.get("/console/jobs.json?q=keep&limit=2").json()
    assert [r["id"] for r in first["data"]] == [wanted[2].id, wanted[1].id]
    rest = browser.get(f"/console/jobs.json?q=keep&limit=2&marker={first['next_marker']}").json()
    assert [r["id"] for r in rest["data"]] == [wanted[0].id] and rest["next_marker"] is None


def test_a_marker_of_another_workspace_is_refused(console: Console) -> None:
    theirs = console.job("other")
    browser = console.signed_in()
    assert browser.get(f"/console/jobs.json?marker={theirs.id}").status_code == 400
