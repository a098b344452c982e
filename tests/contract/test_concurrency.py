"""Storage under concurrent writers (threads over one repository): the quota is never
exceeded and no job is claimed twice — on the memory fake, SQLite and PostgreSQL (where
claims run as one `FOR UPDATE SKIP LOCKED` statement and quota checks take an advisory
lock)."""

from __future__ import annotations

import collections
import datetime as dt
import threading
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from tests.support import world
from tests.support.world import ManualClock
from tuneyard import errors
from tuneyard.core.ports import Ports
from tuneyard.core.states import JobStatus as S
from tuneyard.storage import tables

_THREADS = 8


def _together(work: Callable[[int], None]) -> None:
    """Run `work(i)` in `_THREADS` threads released at once; re-raise the first error."""
    barrier = threading.Barrier(_THREADS)
    failures: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            work(i)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(t.is_alive() for t in threads)
    if failures:
        raise failures[0]


def test_concurrent_adds_never_pass_the_quota(ports: Ports) -> None:
    """Eight threads each try to add five jobs to one workspace allowed three."""
    stored: list[str] = []
    refused = collections.Counter[int]()

    def add(i: int) -> None:
        for k in range(5):
            job_id = f"t{i:02d}k{k:04d}"
            try:
                ports.jobs.add(world.job_record(ports, job_id), max_active=3)
            except errors.Throttled:
                refused[i] += 1
            else:
                stored.append(job_id)

    _together(add)
    assert len(stored) == 3
    assert sum(refused.values()) == _THREADS * 5 - 3
    assert ports.jobs.active_count("ws") == 3


def test_concurrent_claims_take_each_job_once(ports: Ports) -> None:
    """Eight claimers drain 40 queued jobs of four workspaces: every job is claimed by
    exactly one of them, and none is left queued."""
    clock = ports.clock
    assert isinstance(clock, ManualClock)
    for n in range(40):
        clock.advance(1)
        job = world.job_record(
            ports, f"job{n:05d}", f"ws{n % 4}", status=S.QUEUED, queued_at=clock.now()
        )
        ports.jobs.add(job)
    now = clock.now()
    claimed: list[tuple[str, str]] = []

    def claim(i: int) -> None:
        owner = f"claimer-{i}"
        while (job := ports.jobs.claim_next(owner, now, now + dt.timedelta(hours=1))) is not None:
            claimed.append((job.id, owner))

    _together(claim)
    ids = [job_id for job_id, _ in claimed]
    assert len(ids) == 40 and len(set(ids)) == 40
    for job_id, owner in claimed:
        job = ports.jobs.get(job_id)
        assert job is not None and job.status is S.RUNNING
        assert ports.jobs.renew_lease(job_id, owner, now + dt.timedelta(hours=2))
    assert ports.jobs.with_status(S.QUEUED) == []


def test_a_claim_skips_a_row_another_claimer_holds(ports: Ports, backend: str) -> None:
    """PostgreSQL: while another transaction holds the next job's row, a claim takes the
    one after it at once instead of waiting (`FOR UPDATE SKIP LOCKED`)."""
    if backend != "postgres":
        pytest.skip("row locks are PostgreSQL's")
    clock = ports.clock
    assert isinstance(clock, ManualClock)
    for n in range(2):
        clock.advance(1)
        ports.jobs.add(
            world.job_record(ports, f"job{n:05d}", status=S.QUEUED, queued_at=clock.now())
        )
    engine = ports.jobs.engine  # type: ignore[attr-defined]
    jobs = tables.jobs
    now = clock.now()
    with engine.connect() as other:
        other.execute(sa.select(jobs.c.id).where(jobs.c.id == "job00000").with_for_update()).all()
        got: list[str | None] = []
        claimer = threading.Thread(
            target=lambda: got.append(
                getattr(ports.jobs.claim_next("me", now, now + dt.timedelta(hours=1)), "id", None)
            ),
            daemon=True,
        )
        claimer.start()
        claimer.join(10)
        assert got == ["job00001"], "the claim waited for the locked row"
        other.rollback()
    job = ports.jobs.claim_next("me", now, now + dt.timedelta(hours=1))
    assert job is not None and job.id == "job00000"
