"""`JobRepository.count_by_state`: what `/metrics` reports as jobs by state and workspace."""

from __future__ import annotations

from tests.support import world
from tuneyard.core.ports import Ports
from tuneyard.core.states import JobStatus as S


def test_counts_live_jobs_per_workspace_and_status(ports: Ports) -> None:
    assert ports.jobs.count_by_state() == {}
    for i, status in enumerate([S.QUEUED, S.QUEUED, S.RUNNING, S.SUCCEEDED]):
        ports.jobs.add(world.job_record(ports, f"aaaa000{i}", status=status))
    ports.jobs.add(world.job_record(ports, "bbbb0001", workspace="other", status=S.QUEUED))
    ports.jobs.add(world.job_record(ports, "bbbb0002", workspace="other", status=S.FAILED))
    ports.jobs.mark_deleted("bbbb0002", ports.clock.now())  # deleted jobs are not counted
    assert ports.jobs.count_by_state() == {
        ("ws", S.QUEUED): 2,
        ("ws", S.RUNNING): 1,
        ("ws", S.SUCCEEDED): 1,
        ("other", S.QUEUED): 1,
    }


def test_counts_follow_transitions(ports: Ports) -> None:
    ports.jobs.add(world.job_record(ports, "aaaa0001", status=S.QUEUED))
    assert ports.jobs.transition("aaaa0001", S.QUEUED, S.CANCELLED)
    assert ports.jobs.count_by_state() == {("ws", S.CANCELLED): 1}


def test_counts_only_the_statuses_asked_for(ports: Ports) -> None:
    for i, status in enumerate([S.QUEUED, S.RUNNING, S.SUCCEEDED, S.FAILED]):
        ports.jobs.add(world.job_record(ports, f"aaaa000{i}", status=status))
    assert ports.jobs.count_by_state(frozenset({S.QUEUED, S.RUNNING, S.PAUSED})) == {
        ("ws", S.QUEUED): 1,
        ("ws", S.RUNNING): 1,
    }
    assert ports.jobs.count_by_state(frozenset()) == {}
