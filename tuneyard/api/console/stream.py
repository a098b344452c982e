"""`GET /console/jobs/{job_id}/stream`: one job's live updates as server-sent events, the
only stream the console opens per job (the job page's charts, log and header).

Frames (each `data` one JSON object):
- `points` (id: the seq of its last event): consecutive progress events of the timeline
  as columns `step`, `loss` (the worker's smoothed loss), `raw_loss`, `accuracy`, `lr`
  (null where a step did not report one; values to 5 significant digits, what a chart and
  its hover show), and `latest`: the last event's `tokens_per_s`, `remaining_s` and
  `elapsed_s` (the header's throughput and ETA), so that replaying a 10,000-step run is a
  few frames and the chart is redrawn per frame;
- `log` (id: its seq): any other timeline event — status changes, dataset issues,
  checkpoints (`data` is the checkpoint, so the page marks it and plots its validation
  loss), the evaluation;
- `job` (no id): the job's summary (`views.summary`) whenever it changed;
- `end`: the job is at rest (finished or paused) and everything is sent, or
  `follow=0` asked only for what happened so far; the client closes (a browser's
  EventSource would otherwise reconnect);
- `gone`: the job was deleted meanwhile.

A browser that accepts gzip gets the stream gzipped, flushed at every frame (a replayed
10,000-step run is about 5 times smaller on the wire; nothing is held back).

A reconnecting EventSource sends `Last-Event-ID`, and the stream resumes after that
event (`?after=N` does the same for a first connection), so a reconnect misses nothing.
Streams share the workspace's cap (--max-streams-per-workspace) with the dialects'
streams and follow the job as DashScope's stream does (`tail.follow_job`): they end
after --stream-idle-seconds without news and send a comment every 15 s.

The signed-in session opens it; so does a Qianfan display token naming this job (the
read-only page), with no session.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator, Sequence
from pathlib import PurePath
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from tuneyard import errors
from tuneyard.api import params, streams, tail
from tuneyard.api.console import session, views
from tuneyard.api.deps import ServiceDep
from tuneyard.core import sharing
from tuneyard.core.events import JobEvent
from tuneyard.core.jobs import Job
from tuneyard.core.service import Service

__all__ = ["POINT_FIELDS", "frames", "router", "viewer_job"]

router = APIRouter(tags=["console"])

POINT_FIELDS = ("step", "loss", "raw_loss", "accuracy", "lr")
"""The columns of a `points` frame (from each progress event's data)."""
LATEST_FIELDS = ("tokens_per_s", "remaining_s", "elapsed_s")
"""What a `points` frame says of its last event only."""


def _short(value: Any) -> Any:
    """A float to 5 significant digits (what the charts show); anything else as it is."""
    return float(f"{value:.5g}") if isinstance(value, float) else value


def _frame(kind: str, data: Any, seq: int | None = None) -> str:
    head = f"id: {seq}\n" if seq is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _log(event: JobEvent) -> dict[str, Any]:
    """A timeline event as a `log` frame; a folder on the server's disk (a checkpoint's,
    the tuned model's) is shown by its last part only."""
    data = event.data
    if data and isinstance(data.get("path"), str):
        data = {**data, "path": PurePath(data["path"]).name}
    return {
        "seq": event.seq,
        "time": views.when(event.created_at),
        "level": event.level,
        "type": event.type,
        "message": event.message,
        "data": data,
    }


def encode(events: Sequence[JobEvent]) -> list[str]:
    """The frames of a run of timeline events: progress events grouped into `points`."""
    out: list[str] = []
    columns: dict[str, list[Any]] = {}
    latest: dict[str, Any] = {}
    last = 0

    def flush() -> None:
        if columns.get("step"):
            out.append(_frame("points", {**columns, "latest": dict(latest)}, last))
        columns.clear()

    for event in events:
        data = event.data or {}
        if event.type == "metrics" and isinstance(data.get("step"), int):
            if not columns:
                columns.update({name: [] for name in POINT_FIELDS})
            for name in POINT_FIELDS:
                columns[name].append(_short(data.get(name)))
            latest.update({name: data.get(name) for name in LATEST_FIELDS})
            last = event.seq
        else:
            flush()
            out.append(_frame("log", _log(event), event.seq))
    flush()
    return out


async def frames(
    request: Request,
    service: Service,
    workspace: str,
    job_id: str,
    *,
    after: int,
    follow: bool,
    idle_s: float,
) -> AsyncIterator[str]:
    """The stream's frames from after the event `after` until it ends (see above)."""
    yield "retry: 3000\n\n"
    changed: dict[str, Any] | None = None
    last: tail.Update | None = None
    try:
        async for item in tail.follow_job(
            request, service, workspace, job_id, after=after, idle_s=idle_s, follow=follow
        ):
            if isinstance(item, str):  # a keep-alive, or the idle stream's last word
                last = None
                yield item
                continue
            last = item
            summary = views.summary(item.job, service.ports.clock.now())
            if {**summary, "eta_s": None} != changed:  # the ETA alone moves every read
                changed = {**summary, "eta_s": None}
                yield _frame("job", summary)
            for text in encode(item.events):
                yield text
    except errors.NotFound:
        yield _frame("gone", {"id": job_id})
        return
    if last is None or last.more:  # idle, or the client went away
        return
    if not follow or (tail.at_rest(last.job) and not last.events):
        yield _frame("end", {"status": last.job.status.value})


async def viewer_job(
    request: Request, service: Service, job_id: str, token: str | None
) -> tuple[str, Job]:
    """The workspace and job a page or stream shows: through a display token (which must
    open this very job), else the signed-in user's job; JobNotFound otherwise."""
    if token:
        job = await run_in_threadpool(sharing.shared_job, service.ports.sealer, service.jobs, token)
        if job.id != job_id:
            raise errors.JobNotFound("This link is not valid.")
        return job.workspace_id, job
    user = await session.current_user(request)
    job = await run_in_threadpool(service.jobs.get, user.workspace_id, job_id)
    return user.workspace_id, job


def _resume_point(request: Request, after: str) -> int:
    header = request.headers.get("last-event-id")
    if header:
        return params.whole(header.strip(), "Last-Event-ID", default=0)
    return params.whole(after, "after", default=0)


@router.get("/console/jobs/{job_id}/stream", include_in_schema=False)
async def job_stream(
    job_id: str,
    request: Request,
    service: ServiceDep,
    after: str = "",
    follow: str = "1",
    displayToken: str = "",
) -> Response:
    """The job's event stream, from after `Last-Event-ID` (or `after`)."""
    workspace, _ = await viewer_job(request, service, job_id, displayToken or None)
    start = _resume_point(request, after)
    open_streams: streams.OpenStreams = request.app.state.streams
    idle_s: float = request.app.state.settings.stream_idle_seconds
    body = frames(
        request, service, workspace, job_id, after=start, follow=follow != "0", idle_s=idle_s
    )
    zipped = "gzip" in request.headers.get("accept-encoding", "").lower()
    response = open_streams.response(workspace, _gzipped(body) if zipped else body)
    response.headers["cache-control"] = "no-store"
    response.headers["x-accel-buffering"] = "no"
    response.headers["vary"] = "Accept-Encoding"
    if zipped:
        response.headers["content-encoding"] = "gzip"
    return response


async def _gzipped(frames: AsyncIterator[str]) -> AsyncIterator[bytes]:
    """`frames` as one gzip stream, flushed after each frame so none is held back."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: the gzip wrapper
    try:
        async for text in frames:
            yield packer.compress(text.encode()) + packer.flush(zlib.Z_SYNC_FLUSH)
        yield packer.flush()
    finally:  # closed with the response: the frames' generator ends its follow now
        close = getattr(frames, "aclose", None)
        if close is not None:
            await close()
