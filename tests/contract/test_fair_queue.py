"""The fair queue (`claim_next`): workspaces take turns, then priority, then age — the same
on the memory fake, SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.support import world
from tests.support.world import ManualClock
from tuneyard.core.jobs import FAIR_SHARE_WINDOW
from tuneyard.core.ports import Ports
from tuneyard.core.states import JobStatus as S

_LEASE = dt.timedelta(hours=1)


def _clock(ports: Ports) -> ManualClock:
    clock = ports.clock
    assert isinstance(clock, ManualClock)
    return clock


def _queue(ports: Ports, workspace: str, n: int, *, prefix: str, **changes: object) -> None:
    """`n` queued jobs of `workspace`, one second apart."""
    clock = _clock(ports)
    for i in range(n):
        clock.advance(1)
        job_id = f"{prefix}{i:04d}"
        ports.jobs.add(
            world.job_record(
                ports, job_id, workspace, status=S.QUEUED, queued_at=clock.now(), **changes
            )
        )


def _claim(ports: Ports, *, finish: bool) -> str:
    """Claim the next job (its workspace); with `finish`, it succeeds before the next."""
    clock = _clock(ports)
    clock.advance(1)
    now = clock.now()
    job = ports.jobs.claim_next("me", now, now + _LEASE)
    assert job is not None
    assert job.status is S.RUNNING and job.started_at == now
    if finish:
        clock.advance(5)
        assert ports.jobs.transition(job.id, S.RUNNING, S.SUCCEEDED, finished_at=clock.now())
    return job.workspace_id


@pytest.mark.parametrize("finish", [False, True], ids=["keep-running", "finish-each"])
def test_a_small_workspace_is_not_held_back_by_a_big_one(ports: Ports, finish: bool) -> None:
    """Ten jobs of `big` queued first, two of `small`: both of small's start within the
    first three claims, whether earlier jobs still run or have finished."""
    _queue(ports, "big", 10, prefix="bigg")
    _queue(ports, "small", 2, prefix="smll")
    first_three = [_claim(ports, finish=finish) for _ in range(3)]
    assert first_three.count("small") == 2
    rest = [_claim(ports, finish=finish) for _ in range(9)]
    assert rest == ["big"] * 9
    assert ports.jobs.claim_next("me", _clock(ports).now(), _clock(ports).now()) is None


def test_a_big_workspace_is_not_starved_by_one_that_keeps_submitting(ports: Ports) -> None:
    """`small` queues a new job before every claim; `big` still gets every other one."""
    _queue(ports, "big", 6, prefix="bigg")
    claimed = []
    for i in range(8):
        _queue(ports, "small", 1, prefix=f"sm{i:02d}")
        claimed.append(_claim(ports, finish=True))
    assert claimed.count("big") == 4
    for n in range(1, len(claimed) + 1):  # neither ever gets two starts ahead
        assert abs(claimed[:n].count("big") - claimed[:n].count("small")) <= 1, claimed


def test_running_jobs_count_before_recent_starts(ports: Ports) -> None:
    """A workspace whose job still runs waits behind one whose jobs all finished, even if
    that one started more jobs recently."""
    _queue(ports, "a", 5, prefix="aaaa")
    _queue(ports, "b", 2, prefix="bbbb")
    assert _claim(ports, finish=False) == "b"  # fewer waiting; b's job keeps running
    assert _claim(ports, finish=True) == "a"
    assert _claim(ports, finish=True) == "a"
    # a: 2 recent starts, none running; b: 1 recent start, 1 running
    assert _claim(ports, finish=True) == "a"


def test_old_starts_slide_out_of_the_window(ports: Ports) -> None:
    """Starts older than the fair-share window no longer count against a workspace."""
    clock = _clock(ports)
    _queue(ports, "a", 2, prefix="aaaa")
    _queue(ports, "b", 3, prefix="bbbb")
    assert [_claim(ports, finish=True) for _ in range(2)] == ["a", "b"]
    clock.advance(FAIR_SHARE_WINDOW.total_seconds() + 60)
    _queue(ports, "c", 2, prefix="cccc")
    # a has 1 waiting and nothing recent; c has 2 waiting; b 2 waiting
    assert _claim(ports, finish=True) == "a"


def test_priority_orders_a_workspace_s_own_jobs(ports: Ports) -> None:
    """Within a workspace the highest priority goes first, then the oldest."""
    _queue(ports, "ws", 1, prefix="low0", priority=-5)
    _queue(ports, "ws", 1, prefix="mid0")
    _queue(ports, "ws", 1, prefix="high", priority=7)
    _queue(ports, "ws", 1, prefix="mid1")
    order = []
    for _ in range(4):
        now = _clock(ports).now()
        job = ports.jobs.claim_next("me", now, now + _LEASE)
        assert job is not None
        order.append((job.id, job.priority))
    assert order == [("high0000", 7), ("mid00000", 0), ("mid10000", 0), ("low00000", -5)]


def test_priority_does_not_jump_the_fair_share(ports: Ports) -> None:
    """A high priority orders its own workspace's jobs only: a workspace that already
    runs a job waits behind one that runs none, whatever their priorities."""
    _queue(ports, "a", 2, prefix="aaaa", priority=100)
    _queue(ports, "b", 2, prefix="bbbb", priority=-100)
    assert _claim(ports, finish=False) == "a"  # a tie on every share: a's priority
    assert _claim(ports, finish=False) == "b"
    assert _claim(ports, finish=False) == "a"
