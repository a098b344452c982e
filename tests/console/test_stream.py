"""The job's event stream: frames, replay after `Last-Event-ID`, `follow=0`, the cap."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import Console
from tests.support.asgi import OpenCall
from tuneyard.api.console import session
from tuneyard.core.states import JobStatus


def frames(body: str) -> list[dict[str, Any]]:
    """The stream's frames: id (None when absent), event, data."""
    found = []
    for block in body.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            name, sep, value = line.partition(": ")
            if sep and not line.startswith(":"):
                fields[name] = value
        if "event" in fields:
            found.append(
                {
                    "id": int(fields["id"]) if "id" in fields else None,
                    "event": fields["event"],
                    "data": json.loads(fields["data"]),
                }
            )
    return found


def test_a_finished_job_streams_its_whole_timeline_then_ends(console: Console) -> None:
    job = console.finished_job()
    browser = console.signed_in()
    answer = browser.get(f"/console/jobs/{job.id}/stream")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    got = frames(answer.text)
    assert got[0]["event"] == "job" and got[0]["data"]["status"] == "succeeded"
    assert got[-1] == {"id": None, "event": "end", "data": {"status": "succeeded"}}
    (points,) = [f for f in got if f["event"] == "points"]
    assert points["data"]["step"] == [1, 2, 3, 4] and points["data"]["loss"][0] == 2.0
    assert set(points["data"]) == {"step", "loss", "raw_loss", "lr", "accuracy", "latest"}
    assert set(points["data"]["latest"]) == {"tokens_per_s", "remaining_s", "elapsed_s"}
    logged = [f for f in got if f["event"] == "log"]
    assert [
        f["data"]["data"]["step"]
        for f in logged
        if {"path", "step"} <= set(f["data"]["data"] or {})
    ] == [
        2,
        4,
    ]  # the checkpoints, to mark on the charts
    ids = [f["id"] for f in got if f["id"] is not None]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    count = console.world.service.events.count("ws", job.id)
    assert ids[-1] == count  # every event was sent, the last id is the last seq


def test_a_reconnect_with_last_event_id_resumes_after_it(console: Console) -> None:
    job = console.finished_job()
    browser = console.signed_in()
    everything = frames(browser.get(f"/console/jobs/{job.id}/stream").text)
    sent = [f for f in everything if f["id"] is not None]
    cut = sent[len(sent) // 2]["id"]
    again = frames(
        browser.get(f"/console/jobs/{job.id}/stream", headers={"Last-Event-ID": str(cut)}).text
    )
    resumed = [f for f in again if f["id"] is not None]
    assert resumed == [f for f in sent if f["id"] > cut]  # nothing missed, nothing repeated
    by_query = frames(browser.get(f"/console/jobs/{job.id}/stream?after={cut}").text)
    assert [f for f in by_query if f["id"] is not None] == resumed
    header_wins = frames(
        browser.get(
            f"/console/jobs/{job.id}/stream?after=0", headers={"Last-Event-ID": str(cut)}
        ).text
    )
    assert [f for f in header_wins if f["id"] is not None] == resumed
    bad = browser.get(f"/console/jobs/{job.id}/stream", headers={"Last-Event-ID": "x"})
    assert bad.status_code == 400


def test_a_replay_cut_inside_a_run_of_steps_resumes_mid_run(console: Console) -> None:
    job = console.finished_job()
    browser = console.signed_in()
    points = next(
        f
        for f in frames(browser.get(f"/console/jobs/{job.id}/stream").text)
        if f["event"] == "points"
    )
    last = points["id"]
    got = frames(browser.get(f"/console/jobs/{job.id}/stream?after={last - 2}").text)
    tail = next(f for f in got if f["event"] == "points")
    assert tail["data"]["step"] == [3, 4] and tail["id"] == last


def test_follow_0_sends_what_happened_so_far_and_ends(tmp_path: Any) -> None:
    from tests.console.conftest import Console as Held
    from tuneyard.core.states import JobStatus

    held = Held(tmp_path, hold=True)
    job = held.job()
    held.world.wait_for(job.id, lambda j: j.status is JobStatus.RUNNING and j.progress.step == 4)
    browser = held.signed_in()
    got = frames(browser.get(f"/console/jobs/{job.id}/stream?follow=0").text)
    assert got[-1]["event"] == "end" and got[-1]["data"]["status"] == "running"
    assert any(f["event"] == "points" for f in got)


@pytest.mark.timeout(60)
def test_an_open_stream_follows_the_job_until_it_finishes(tmp_path: Path) -> None:
    held = Console(tmp_path, hold=True)
    job = held.job()
    held.world.wait_for(job.id, lambda j: j.progress.step == 4)
    browser = held.signed_in()
    cookie = f"{session.COOKIE}={browser.cookies.get(session.COOKIE)}"
    path = f"/console/jobs/{job.id}/stream"

    async def scenario() -> str:
        call = OpenCall(held.app, "GET", path, headers={"cookie": cookie})
        assert await call.answered() == 200
        while b"event: points" not in call.body:
            await asyncio.sleep(0.05)
        assert not call.task.done()  # a running job: the stream stays open
        (_, worker) = held.world.scheduler.executor.launched[-1]  # type: ignore[attr-defined]
        worker.release()
        await asyncio.to_thread(held.world.wait_status, job.id, JobStatus.SUCCEEDED)
        await asyncio.wait_for(call.task, 20)  # the stream ends by itself
        return call.body.decode()

    body = asyncio.run(scenario())
    got = frames(body)
    assert any(f["event"] == "log" and "-> succeeded" in f["data"]["message"] for f in got)
    assert got[-1]["event"] == "end" and got[-1]["data"] == {"status": "succeeded"}
    assert [f["data"]["status"] for f in got if f["event"] == "job"][-1] == "succeeded"


def test_the_stream_is_gzipped_for_a_browser_that_accepts_it(console: Console) -> None:
    """Flushed per frame, so every frame arrives whole; and only when asked for."""
    import zlib

    job = console.finished_job()
    browser = console.signed_in()
    url = f"/console/jobs/{job.id}/stream"
    with browser.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as zipped:
        assert zipped.headers["content-encoding"] == "gzip"
        assert "accept-encoding" in zipped.headers["vary"].lower()
        raw = b"".join(zipped.iter_raw())
    plain = browser.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert zlib.decompress(raw, 31).decode() == plain.text


def test_points_are_sent_to_five_significant_digits() -> None:
    from tuneyard.api.console import stream

    assert stream._short(0.123456789) == 0.12346
    assert stream._short(1.23456789e-05) == 1.2346e-05
    assert stream._short(7) == 7 and stream._short(None) is None
