"""One mover for every status change (the claim included) and one timeline reader, on
every backend."""

from __future__ import annotations

import pytest

from tests.support import world
from tuneyard import errors
from tuneyard.core.ports import Ports
from tuneyard.core.queries import Jobs
from tuneyard.core.states import JobStatus as S
from tuneyard.core.timeline import Timeline
from tuneyard.core.transitions import Transitions


def _statuses(ports: Ports, job_id: str) -> list[dict[str, object]]:
    return [e.data or {} for e in ports.events.list(job_id) if e.type == "status"]


def test_the_claim_goes_through_the_mover_and_logs_its_attempt(ports: Ports) -> None:
    now = ports.clock.now()
    ports.jobs.add(world.job_record(ports, "aaaa0001", status=S.QUEUED, queued_at=now, attempts=1))
    claimed = Transitions(ports).claim("me", now.replace(minute=30))
    assert claimed is not None and claimed.id == "aaaa0001" and claimed.status is S.RUNNING
    assert _statuses(ports, "aaaa0001") == [{"from": "queued", "to": "running", "attempt": 2}]
    assert Transitions(ports).claim("me", now) is None  # nothing queued: nothing logged
    assert len(_statuses(ports, "aaaa0001")) == 1


def test_a_move_checks_the_table_compares_and_sets_and_logs(ports: Ports) -> None:
    ports.jobs.add(world.job_record(ports, "aaaa0001"))
    job = ports.jobs.get("aaaa0001")
    assert job is not None
    mover = Transitions(ports)
    with pytest.raises(errors.InvalidTransition):
        mover.move(job, S.RUNNING)  # CREATED -> RUNNING is not in the table
    assert mover.move(job, S.VALIDATING)
    assert not mover.move(job, S.VALIDATING)  # stale: the status moved meanwhile
    assert _statuses(ports, "aaaa0001") == [{"from": "created", "to": "validating"}]


def test_one_reader_pages_both_ways_and_scopes_to_the_workspace(ports: Ports) -> None:
    ports.jobs.add(world.job_record(ports, "aaaa0001"))
    for n in range(5):
        ports.events.append(
            "aaaa0001", created_at=ports.clock.now(), level="info", type="message", message=str(n)
        )
    events = Timeline(ports, Jobs(ports))
    first = events.read("ws", "aaaa0001", limit=2)
    assert [e.message for e in first.items] == ["0", "1"] and first.more
    rest = events.read("ws", "aaaa0001", after=first.items[-1].seq, limit=10)
    assert [e.message for e in rest.items] == ["2", "3", "4"] and not rest.more
    newest = events.read("ws", "aaaa0001", limit=2, newest_first=True)
    assert [e.message for e in newest.items] == ["4", "3"] and newest.more
    older = events.read("ws", "aaaa0001", before=newest.items[-1].seq, newest_first=True)
    assert [e.message for e in older.items] == ["2", "1", "0"] and not older.more
    assert events.count("ws", "aaaa0001") == 5
    job = ports.jobs.get("aaaa0001")
    assert job is not None and [e.message for e in events.each(job)] == list("01234")
    with pytest.raises(errors.JobNotFound):
        events.read("other", "aaaa0001")
