"""`tail.follow_job`: a stream ends only once the job has been at rest, with nothing new,
on two reads a poll apart, so the line logged just after its move to rest is sent."""

from __future__ import annotations

import asyncio
import datetime as dt
import types
from typing import Any

import pytest

from tests.support.world import job_record, make_ports
from tuneyard.api import tail
from tuneyard.core.events import JobEvent
from tuneyard.core.paging import Slice
from tuneyard.core.states import JobStatus


class _Request:
    async def is_disconnected(self) -> bool:
        return False


def _event(seq: int) -> JobEvent:
    return JobEvent(
        job_id="rest0001",
        seq=seq,
        created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        level="info",
        type="message",
        message="Paused at step 4; resuming continues from there",
        data={"step": 4},
    )


def test_the_event_logged_just_after_the_move_to_rest_is_sent(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tail, "POLL_S", 0.01)
    ports = make_ports("memory", tmp_path)
    paused = job_record(ports, "rest0001", status=JobStatus.PAUSED)
    reads: list[int] = []

    def read(workspace: str, job_id: str, *, after: int, limit: int) -> Slice[JobEvent]:
        reads.append(after)  # the first read finds nothing yet, the second the line
        items = [_event(1)] if len(reads) == 2 else []
        return Slice(items=items, more=False)

    service: Any = types.SimpleNamespace(
        jobs=types.SimpleNamespace(get=lambda workspace, job_id: paused),
        events=types.SimpleNamespace(read=read),
    )

    async def collect() -> list[Any]:
        return [
            item
            async for item in tail.follow_job(
                _Request(),
                service,
                "ws",
                "rest0001",
                after=0,
                idle_s=60,  # type: ignore[arg-type]
            )
        ]

    got = asyncio.run(collect())
    sent = [e.seq for u in got if isinstance(u, tail.Update) for e in u.events]
    assert sent == [1]
    assert len(reads) == 4  # nothing, the line, then at rest twice with nothing new
