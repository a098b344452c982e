"""`JobStore.get_many`: many jobs by id in one read, on every backend: what `get` gives
for each id that exists (deleted ones included), nothing for the others."""

from __future__ import annotations

import threading

from tests.support import world
from tuneyard.core.ports import Ports

_job = world.job_record


def test_get_many_is_get_for_each_id_that_exists(ports: Ports) -> None:
    for job_id, workspace in (("many0001", "ws"), ("many0002", "ws"), ("many0003", "other")):
        ports.jobs.add(_job(ports, job_id, workspace))
    ports.jobs.add(_job(ports, "many0004", "ws", deleted=True))
    asked = ["many0001", "many0003", "missing1", "many0004", "many0001"]
    found = ports.jobs.get_many(asked)
    assert set(found) == {"many0001", "many0003", "many0004"}
    for job_id, job in found.items():
        assert job == ports.jobs.get(job_id)
    assert found["many0004"].deleted


def test_get_many_of_one_and_of_none(ports: Ports) -> None:
    ports.jobs.add(_job(ports, "many0001"))
    assert ports.jobs.get_many([]) == {}
    assert ports.jobs.get_many(["missing1"]) == {}
    assert ports.jobs.get_many(["many0001"]) == {"many0001": ports.jobs.get("many0001")}


def test_a_read_sees_every_write_finished_before_it_on_any_thread(ports: Ports) -> None:
    """The SQLite read keeps a connection per thread: a write made elsewhere since its
    last read is still seen by its next one."""
    ports.jobs.add(_job(ports, "many0001"))
    assert ports.jobs.get("many0001") is not None
    writer = threading.Thread(target=lambda: ports.jobs.add(_job(ports, "many0002")))
    writer.start()
    writer.join()
    assert ports.jobs.get("many0002") is not None
    assert set(ports.jobs.get_many(["many0001", "many0002"])) == {"many0001", "many0002"}
