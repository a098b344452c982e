"""Recovery after a crash: no job is stranded in a non-terminal status without a live owner,
and only a lost worker is charged as an attempt (a clean stop, a pause or a requeue is not).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.world import ManualClock, World
from tuneyard.core import checks
from tuneyard.core.jobs import Job
from tuneyard.core.ports import Ports
from tuneyard.core.states import TERMINAL
from tuneyard.core.states import JobStatus as S
from tuneyard.scheduler.executors.fake import FakeExecutor


def _job(ports: Ports, job_id: str) -> Job:
    job = ports.jobs.get(job_id)
    assert job is not None
    return job


def _started_attempts(ports: Ports, job_id: str) -> list[int]:
    """The attempt number each start of the job logged."""
    return [
        int(e.data["attempt"])
        for e in ports.events.list(job_id, limit=1000)
        if e.type == "status" and e.data and e.data.get("to") == "running"
    ]


def test_a_job_left_validating_without_a_lease_is_validated_again(
    ports: Ports, tmp_path: Path
) -> None:
    """What a server killed while validating left behind before validation held a lease."""
    world = World(ports, tmp_path, FakeExecutor())
    job = world.submit_sample()
    assert world.service.transitions.move(job, S.VALIDATING)  # ... and then the server died
    assert ports.jobs.active_count("ws") == 1
    restarted = World(ports, tmp_path, FakeExecutor())
    done = restarted.wait_status(job.id, S.SUCCEEDED)
    assert done.attempts == 0 and done.progress.data_rows == 128
    assert ports.jobs.active_count("ws") == 0  # it no longer holds a slot of the quota
    messages = [e.message for e in ports.events.list(job.id, limit=1000)]
    assert any("checking the dataset again" in m for m in messages)


def test_validation_holds_a_lease_that_a_dead_server_loses(
    ports: Ports, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ports.clock
    assert isinstance(clock, ManualClock)
    dead = threading.Event()
    calls: list[int] = []
    real = checks.check_dataset

    def check_dataset(*args: Any, **kwargs: Any) -> checks.DatasetCheck:
        calls.append(1)
        if len(calls) == 1:  # the first server hangs here, then "dies"
            dead.wait(30)
            raise RuntimeError("the first server is gone")
        return real(*args, **kwargs)

    monkeypatch.setattr(checks, "check_dataset", check_dataset)
    first = World(ports, tmp_path, FakeExecutor())
    job = first.submit_sample()
    try:
        first.wait_status(job.id, S.VALIDATING)
        first.wait_for(job.id, lambda _: bool(calls))
        # renewed while it validates: 20 s after the move, 10 s after the renewal
        clock.advance(10)
        first.scheduler._renewed_at = -float("inf")
        first.scheduler.tick()
        clock.advance(10)
        assert ports.jobs.expired_leases(clock.now()) == []
        second = World(ports, tmp_path, FakeExecutor())  # a server beside it
        for _ in range(3):
            second.scheduler.tick()
        assert _job(ports, job.id).status is S.VALIDATING  # its owner is alive: left alone
        clock.advance(16)  # the first server stopped ticking: its lease lapses
        assert [j.id for j in ports.jobs.expired_leases(clock.now())] == [job.id]
        done = second.wait_status(job.id, S.SUCCEEDED)
        assert done.progress.data_rows == 128 and len(calls) == 2
    finally:
        dead.set()
    first.scheduler.stop(timeout=5)
    assert _job(ports, job.id).status is S.SUCCEEDED  # the dead server's thread changed nothing


@pytest.mark.parametrize(
    ("status", "settled"),
    [(S.RUNNING, S.SUCCEEDED), (S.CANCELLING, S.CANCELLED), (S.PAUSING, S.PAUSED)],
)
def test_a_lease_without_an_expiry_does_not_strand_the_job(
    ports: Ports, tmp_path: Path, status: S, settled: S
) -> None:
    world = World(ports, tmp_path, FakeExecutor())
    job = world.submit_sample()
    world.lifecycle.validate(job)  # queued, not ticked
    assert ports.jobs.transition(
        job.id, S.QUEUED, S.RUNNING, lease_owner="gone", lease_expires_at=None
    )
    if status is not S.RUNNING:
        assert ports.jobs.transition(job.id, S.RUNNING, status)
    restarted = World(ports, tmp_path, FakeExecutor())
    restarted.wait_status(job.id, settled)


def test_every_unfinished_status_is_picked_up_after_a_crash(ports: Ports, tmp_path: Path) -> None:
    """A job in any status but PAUSED (which waits for its user) reaches a final status
    once a fresh server ticks after the old one died, whatever it was doing."""
    world = World(ports, tmp_path, FakeExecutor())
    clock = ports.clock
    assert isinstance(clock, ManualClock)
    left: dict[S, str] = {}
    for status in (S.CREATED, S.VALIDATING, S.QUEUED, S.RUNNING, S.CANCELLING, S.PAUSING):
        job = world.submit_sample()
        left[status] = job.id
        if status is S.CREATED:
            continue
        now = clock.now()
        assert ports.jobs.transition(
            job.id, S.CREATED, S.VALIDATING, lease_owner="dead", lease_expires_at=now
        )
        if status is S.VALIDATING:
            continue
        assert ports.jobs.transition(job.id, S.VALIDATING, S.QUEUED, queued_at=now)
        if status is S.QUEUED:
            continue
        assert ports.jobs.transition(
            job.id, S.QUEUED, S.RUNNING, lease_owner="dead", lease_expires_at=now
        )
        if status is not S.RUNNING:
            assert ports.jobs.transition(job.id, S.RUNNING, status)
    clock.advance(1)
    restarted = World(ports, tmp_path, FakeExecutor(), max_running=3)
    for status, job_id in left.items():
        done = restarted.wait_for(job_id, lambda j: j.status in TERMINAL or j.status is S.PAUSED)
        expected = {S.CANCELLING: S.CANCELLED, S.PAUSING: S.PAUSED}.get(status, S.SUCCEEDED)
        assert done.status is expected, (status, done)


def test_clean_restarts_and_pauses_are_not_attempts(ports: Ports, tmp_path: Path) -> None:
    """Two clean stops, a pause and resume, then one lost worker: the job still runs."""
    world = World(ports, tmp_path, FakeExecutor(hold=True))
    job = world.submit_sample()
    for _ in range(2):
        world.wait_status(job.id, S.RUNNING)
        world.scheduler.stop(timeout=5)  # a clean shutdown requeues it
        assert _job(ports, job.id).status is S.QUEUED
        world = World(ports, tmp_path, FakeExecutor(hold=True))
    executor = FakeExecutor(hold=True)
    world = World(ports, tmp_path, executor)
    world.wait_status(job.id, S.RUNNING)
    world.service.control.pause("ws", job.id)
    world.wait_status(job.id, S.PAUSED)
    world.service.control.resume("ws", job.id)
    world.wait_for(job.id, lambda j: j.status is S.RUNNING and len(executor.launched) == 2)
    assert _job(ports, job.id).attempts == 0
    executor.launched[-1][1].kill()  # the worker is lost: this one counts
    world.wait_for(job.id, lambda j: j.status is S.RUNNING and len(executor.launched) == 3)
    executor.launched[-1][1].release()
    done = world.wait_status(job.id, S.SUCCEEDED)
    assert done.attempts == 1
    assert _started_attempts(ports, job.id) == [1, 1, 1, 1, 2]


def test_three_lost_workers_fail_the_job_after_clean_restarts(ports: Ports, tmp_path: Path) -> None:
    world = World(ports, tmp_path, FakeExecutor(hold=True))
    job = world.submit_sample()
    world.wait_status(job.id, S.RUNNING)
    world.scheduler.stop(timeout=5)
    executor = FakeExecutor(hold=True)
    world = World(ports, tmp_path, executor)

    def launched(count: int) -> Callable[[Job], bool]:
        return lambda _: len(executor.launched) == count

    for lost in range(1, 4):
        world.wait_for(job.id, launched(lost))
        executor.launched[-1][1].kill()
    done = world.wait_status(job.id, S.FAILED)
    assert done.attempts == 3 and "gave up after 3 attempts" in (done.error_message or "")
    assert _started_attempts(ports, job.id) == [1, 1, 2, 3]
