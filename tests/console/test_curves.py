"""The Qianfan `vdlLink`: the job page read-only, through its display token alone."""

from __future__ import annotations

from tests.console.conftest import HTML, Console
from tuneyard.core import sharing


def test_the_display_token_opens_the_job_page_read_only(console: Console) -> None:
    job = console.finished_job(name="shared run")
    other = console.finished_job(name="not shared")
    token = sharing.token(console.world.service.ports.sealer, job)
    anonymous = console.new_client()
    page = anonymous.get("/console/curves", params={"displayToken": token}, headers=HTML)
    assert page.status_code == 200
    text = page.text
    assert "shared run" in text and 'id="read-only-badge"' in text
    assert 'id="chart-loss"' in text and 'data-step="2"' in text
    for absent in ('id="nav"', 'id="job-actions"', "<form", 'id="back-to-jobs"', other.id):
        assert absent not in text, absent
    assert f"/console/jobs/{job.id}/stream?displayToken=" in text
    stream = anonymous.get(f"/console/jobs/{job.id}/stream", params={"displayToken": token})
    assert stream.status_code == 200 and "event: points" in stream.text
    assert str(console.world.root) not in stream.text  # no folder of the server's disk
    forged = anonymous.get("/console/curves?displayToken=not-a-token", headers=HTML)
    assert forged.status_code == 404 and "not valid" in forged.text
    assert anonymous.get(f"/console/jobs/{job.id}", headers=HTML).status_code == 303
