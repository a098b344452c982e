"""Several schedulers over one database: every move one makes is fenced on the job's
lease, so a scheduler acting on a stale read, or one that lost a job to another after its
lease lapsed, never moves the job under its new owner, and no job runs twice."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import pytest

from tests.support.world import ManualClock, World
from tuneyard.core import protocol
from tuneyard.core.jobs import Job
from tuneyard.core.ports import Fence, Ports
from tuneyard.core.states import JobStatus as S
from tuneyard.scheduler.executors.fake import FakeExecutor
from tuneyard.scheduler.scheduler import Scheduler

FAR = 3600.0


@pytest.fixture
def world(ports: Ports, tmp_path: Path) -> World:
    """A service and scheduler whose scheduler only ticks when a test says."""
    return World(ports, tmp_path, FakeExecutor())


def _job(ports: Ports, job_id: str) -> Job:
    job = ports.jobs.get(job_id)
    assert job is not None
    return job


def _clock(ports: Ports) -> ManualClock:
    clock = ports.clock
    assert isinstance(clock, ManualClock)
    return clock


def _queued(world: World) -> Job:
    """A job validated and queued without a scheduler tick."""
    job = world.submit_sample()
    world.lifecycle.validate(job)
    return _job(world.ports, job.id)


def _running_under(ports: Ports, owner: str, *, lease_s: float) -> Job:
    """Claim the oldest queued job for `owner` with a lease of `lease_s` seconds."""
    now = ports.clock.now()
    job = ports.jobs.claim_next(owner, now, now + dt.timedelta(seconds=lease_s))
    assert job is not None
    return job


def test_a_stale_reaper_leaves_a_job_that_was_taken_over_alone(world: World) -> None:
    """Schedulers B and C both saw the job's lease lapsed; C reaped it first and D claimed
    it. B's reap of its stale copy must not requeue D's run (two workers would follow)."""
    ports = world.ports
    _queued(world)
    job = _running_under(ports, "dead", lease_s=0)
    _clock(ports).advance(1)
    stale = ports.jobs.expired_leases(ports.clock.now())
    assert [j.id for j in stale] == [job.id]
    world.lifecycle.reap(stale[0], ports.clock.now())  # C
    assert _job(ports, job.id).status is S.QUEUED
    _running_under(ports, "d", lease_s=FAR)
    world.lifecycle.reap(stale[0], ports.clock.now())  # B, late
    now = _job(ports, job.id)
    assert now.status is S.RUNNING and now.attempts == 1
    assert ports.jobs.renew_lease(job.id, "d", ports.clock.now())  # still D's


def test_a_scheduler_that_lost_its_lease_cannot_settle_the_job(world: World) -> None:
    """A stalled past its lease; the job was reaped and claimed by C. A's worker exiting
    later must not finish C's run."""
    ports = world.ports
    _queued(world)
    job = _running_under(ports, "a", lease_s=0)
    _clock(ports).advance(1)
    world.lifecycle.reap(_job(ports, job.id), ports.clock.now())
    _running_under(ports, "c", lease_s=FAR)
    done = protocol.Succeeded(trained_tokens=10, train_loss=0.1)
    world.lifecycle.finish(job.id, done, 0, "", shutting_down=False, owner="a")
    world.lifecycle.finish(job.id, None, -9, "", shutting_down=False, owner="a")
    assert _job(ports, job.id).status is S.RUNNING
    world.lifecycle.finish(job.id, done, 0, "", shutting_down=False, owner="c")
    assert _job(ports, job.id).status is S.SUCCEEDED


def test_a_scheduler_kills_the_worker_of_a_job_another_took_over(
    ports: Ports, tmp_path: Path
) -> None:
    """The heartbeat that finds the lease gone kills the worker, and records nothing of it."""
    executor = FakeExecutor(hold=True)
    world = World(ports, tmp_path, executor)
    job = world.submit_sample()
    world.wait_status(job.id, S.RUNNING)
    (_, worker), *_ = executor.launched
    # Another scheduler reaped the job (this one's lease lapsed) and runs it now.
    assert ports.jobs.transition(job.id, S.RUNNING, S.QUEUED, lease_owner=None)
    _running_under(ports, "other", lease_s=FAR)
    world.scheduler._renewed_at = -float("inf")  # the next tick renews
    world.scheduler.tick()
    assert worker.killed
    deadline = time.monotonic() + 5
    while world.scheduler.running_jobs() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not world.scheduler.running_jobs()
    taken = _job(ports, job.id)
    assert taken.status is S.RUNNING and taken.attempts == 0
    assert ports.jobs.renew_lease(job.id, "other", ports.clock.now())


def test_a_failed_validation_never_fails_a_job_another_scheduler_validates(
    world: World,
) -> None:
    """A's validation raised after B (which reaped A's lapsed lease) took the job: A's
    error path must not fail B's validation."""
    ports = world.ports
    job = world.submit_sample()
    lease = ports.clock.now() + dt.timedelta(seconds=FAR)

    def taken_then_broken(job: Job, **_: object) -> None:
        ports.jobs.transition(
            job.id, S.CREATED, S.VALIDATING, lease_owner="b", lease_expires_at=lease
        )
        raise OSError("disk gone")

    world.lifecycle.validate = taken_then_broken  # type: ignore[method-assign]
    world.scheduler._validate(job)
    assert _job(ports, job.id).status is S.VALIDATING


def test_validation_by_two_schedulers_at_once_has_one_winner(ports: Ports, tmp_path: Path) -> None:
    first = World(ports, tmp_path, FakeExecutor())
    second = Scheduler(first.lifecycle, FakeExecutor())
    job = first.submit_sample()
    moves: list[bool] = []
    barrier = threading.Barrier(2)

    def validate(owner: str) -> None:
        fresh = _job(ports, job.id)  # both read it CREATED
        barrier.wait()
        moves.append(first.lifecycle.transitions.move(fresh, S.VALIDATING, lease_owner=owner))

    threads = [
        threading.Thread(target=validate, args=(o,)) for o in (first.scheduler.owner, second.owner)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(moves) == [False, True]
    assert first.scheduler.owner != second.owner


def test_reaping_a_pausing_job_twice_pauses_it_once(world: World) -> None:
    ports = world.ports
    _queued(world)
    job = _running_under(ports, "dead", lease_s=0)
    assert world.lifecycle.transitions.move(job, S.PAUSING)
    _clock(ports).advance(1)
    stale = _job(ports, job.id)
    world.lifecycle.reap(stale, ports.clock.now())
    world.lifecycle.reap(stale, ports.clock.now())
    assert _job(ports, job.id).status is S.PAUSED
    paused = [e for e in ports.events.list(job.id) if e.message.startswith("Paused")]
    assert len(paused) == 1


def test_a_deleted_job_whose_scheduler_died_has_its_folder_removed(world: World) -> None:
    ports = world.ports
    _queued(world)
    job = _running_under(ports, "dead", lease_s=0)
    folder = world.lifecycle.dirs.job(job.id)
    (folder / "checkpoints").mkdir(parents=True)
    world.service.control.delete("ws", job.id)
    assert _job(ports, job.id).status is S.CANCELLING and folder.exists()
    _clock(ports).advance(1)
    world.lifecycle.reap(_job(ports, job.id), ports.clock.now())
    assert _job(ports, job.id).status is S.CANCELLED
    assert not folder.exists()


def test_a_fence_compares_the_owner_and_the_expiry(ports: Ports) -> None:
    now = ports.clock.now()
    assert Fence(held_by="a").admits("a", now)
    assert not Fence(held_by="a").admits("b", now)
    assert not Fence(held_by="a").admits(None, None)
    assert Fence(lapsed_by=now).admits("a", now)
    assert Fence(lapsed_by=now).admits("a", None)
    assert not Fence(lapsed_by=now).admits("a", now + dt.timedelta(seconds=1))


def test_three_schedulers_run_each_job_once(ports: Ports, tmp_path: Path) -> None:
    """Three schedulers ticking at once over one database: every job launched once."""
    world = World(ports, tmp_path, FakeExecutor())
    executors = [FakeExecutor() for _ in range(3)]
    schedulers = [
        Scheduler(world.lifecycle, e, max_running=2, poll_seconds=0.01) for e in executors
    ]
    jobs = [world.submit_sample().id for _ in range(9)]
    for scheduler in schedulers:
        scheduler.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all(_job(ports, j).status is S.SUCCEEDED for j in jobs):
                break
            time.sleep(0.05)
    finally:
        for scheduler in schedulers:
            scheduler.stop(timeout=5)
    assert [_job(ports, j).status for j in jobs] == [S.SUCCEEDED] * len(jobs)
    launched = sorted(spec.job_id for e in executors for spec, _ in e.launched)
    assert launched == sorted(jobs)
