"""What the browser tests' server starts with, written before it starts (keys and jobs
through the ports, the curve's events in one insert into the storage tables):
two workspaces' keys, a finished job with a 10,000-step loss curve, and a job of the other
workspace (for the isolation checks)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from pathlib import Path

import sqlalchemy as sa

from bench import fixtures
from tuneyard import runtime
from tuneyard.core import protocol, sharing
from tuneyard.core.jobs import Job, Progress
from tuneyard.settings import Settings
from tuneyard.storage import tables

WORKSPACE = "console-a"
SECOND_WORKSPACE = "console-a2"
"""A workspace key A may switch to."""
OTHER_WORKSPACE = "console-b"
LONG_CURVE_STEPS = 10_000


@dataclasses.dataclass(frozen=True)
class Seeded:
    """The keys and job ids the tests use."""

    key: str
    """Works in WORKSPACE (its default) and SECOND_WORKSPACE."""
    other_key: str
    """Works in OTHER_WORKSPACE only."""
    long_job: str
    """WORKSPACE's finished job with LONG_CURVE_STEPS metrics events."""
    other_job: str
    """OTHER_WORKSPACE's job: every page and action of WORKSPACE must refuse it."""
    display_token: str
    """Opens long_job's read-only page (what a Qianfan task's `vdlLink` carries)."""


def _job(job_id: str, workspace: str, name: str, when: dt.datetime, steps: int) -> Job:
    """A finished LoRA job of `steps` steps (the bench's job record, with its run)."""
    return dataclasses.replace(
        fixtures.job(job_id, workspace, when),
        display_name=name,
        progress=Progress(step=steps, total_steps=steps, epoch=1, total_epochs=1, train_loss=0.5),
        started_at=when,
        finished_at=when + dt.timedelta(hours=1),
    )


def _curve(engine: sa.Engine, job_id: str, steps: int, start: dt.datetime) -> None:
    """One `metrics` event per step, as the recorder logs a worker's progress (its
    message and data, `protocol.fields` of a `Step`), inserted in one transaction: the
    ports' one-by-one `append` takes seconds for 10,000."""
    rows = []
    for step in range(1, steps + 1):
        loss = 0.4 + 2.0 * math.exp(-step / 1500) + 0.05 * math.sin(step / 7)
        event = protocol.Step(
            step=step,
            total_steps=steps,
            epoch=1,
            total_epochs=1,
            loss=round(loss, 5),
            accuracy=round(min(0.99, 0.3 + step / (steps * 1.5)), 5),
            tokens_per_s=1234.5,
            trained_tokens=step * 512,
            elapsed_s=step * 0.36,
            remaining_s=(steps - step) * 0.36,
            raw_loss=round(loss + 0.2 * math.sin(step * 1.3), 5),
            lr=1e-4 * (1 - step / steps),
        )
        rows.append(
            {
                "job_id": job_id,
                "seq": step,
                "created_at": start + dt.timedelta(seconds=step * 0.36),
                "level": "info",
                "type": "metrics",
                "message": f"Step {step}/{steps}: loss={event.loss}",
                "data": protocol.fields(event),
            }
        )
    with engine.begin() as connection:
        connection.execute(tables.job_events.insert(), rows)


def seed(data_dir: Path) -> Seeded:
    """Migrate the data dir's database and write the keys and jobs (before the server runs)."""
    live = runtime.build(Settings.load({"data_dir": data_dir}))
    service = live.service
    key = service.credentials.create_key(WORKSPACE, workspaces=[SECOND_WORKSPACE])
    other_key = service.credentials.create_key(OTHER_WORKSPACE)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    long_job = _job("curve10k", WORKSPACE, "ten-thousand-steps", start, LONG_CURVE_STEPS)
    service.ports.jobs.add(long_job)
    engine: sa.Engine = service.ports.jobs.engine  # type: ignore[attr-defined]
    _curve(engine, long_job.id, LONG_CURVE_STEPS, start)
    service.ports.jobs.add(_job("otherws1", OTHER_WORKSPACE, "not-yours", start, 3))
    _curve(engine, "otherws1", 3, start)
    engine.dispose()
    display_token = sharing.token(service.ports.sealer, long_job)
    return Seeded(
        key=key,
        other_key=other_key,
        long_job=long_job.id,
        other_job="otherws1",
        display_token=display_token,
    )
