"""The active-job quota and output names are enforced by storage itself, atomically: under
concurrent creates exactly one wins, whatever the checks before the insert saw."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import world
from tests.support.world import EXAMPLES, World
from tuneyard import errors
from tuneyard.core.checkpoints import Checkpoint
from tuneyard.core.jobs import Job, Progress
from tuneyard.core.ports import Ports
from tuneyard.core.states import JobStatus as S
from tuneyard.scheduler.executors.fake import FakeExecutor

_THREADS = 10


_job = world.job_record


def _all_at_once(action: Callable[[], object]) -> list[object]:
    """Run `action` in `_THREADS` threads released together; each one's result or error."""
    barrier = threading.Barrier(_THREADS)
    outcomes: list[object] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        try:
            result: object = action()
        except errors.TuneyardError as exc:
            result = exc
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=run) for _ in range(_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(outcomes) == _THREADS
    return outcomes


def _slowly(read: Callable[..., object]) -> Callable[..., object]:
    """A read that takes a while, as on a busy database: every racer gets past it first."""

    def slow(*args: object, **kwargs: object) -> object:
        found = read(*args, **kwargs)
        time.sleep(0.2)
        return found

    return slow


# -- the repository ---------------------------------------------------------------------
def test_add_refuses_a_job_past_the_active_quota(ports: Ports) -> None:
    ports.jobs.add(_job(ports, "aaaa0001"), max_active=1)
    with pytest.raises(errors.Throttled):
        ports.jobs.add(_job(ports, "aaaa0002"), max_active=1)
    assert ports.jobs.get("aaaa0002") is None  # nothing stored
    ports.jobs.add(_job(ports, "bbbb0001", workspace="other"), max_active=1)  # per workspace
    ports.jobs.add(_job(ports, "aaaa0003"))  # 0: no quota
    ports.jobs.transition("aaaa0001", S.CREATED, S.CANCELLED)
    ports.jobs.mark_deleted("aaaa0003", ports.clock.now())
    ports.jobs.add(_job(ports, "aaaa0004"), max_active=1)  # finished and deleted jobs free slots
    assert ports.jobs.active_count("ws") == 1


def test_live_output_names_are_unique_per_workspace(ports: Ports) -> None:
    ports.jobs.add(_job(ports, "aaaa0001", output_name="mine"))
    with pytest.raises(errors.Conflict):
        ports.jobs.add(_job(ports, "aaaa0002", output_name="mine"))
    assert ports.jobs.get("aaaa0002") is None
    ports.jobs.add(_job(ports, "bbbb0001", workspace="other", output_name="mine"))
    ports.jobs.add(_job(ports, "aaaa0003"))  # jobs without a name never clash
    ports.jobs.add(_job(ports, "aaaa0004"))
    ports.jobs.mark_deleted("aaaa0001", ports.clock.now())
    ports.jobs.add(_job(ports, "aaaa0005", output_name="mine"))  # a deleted job frees its name
    found = ports.jobs.find_by_output_name("ws", "mine")
    assert found is not None and found.id == "aaaa0005"


# -- the service, under concurrency ------------------------------------------------------
@pytest.fixture
def world(ports: Ports, tmp_path: Path) -> World:
    return World(ports, tmp_path, FakeExecutor(hold=True), max_active=1)


def _training_file(world: World) -> str:
    data = (EXAMPLES / "clova-generation.csv").read_bytes()
    return world.service.uploads.upload("ws", "train.csv", [data], purpose="fine-tune").id


def test_concurrent_creates_respect_the_quota(
    world: World, ports: Ports, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = world.spec(training_file_id=_training_file(world))
    monkeypatch.setattr(ports.jobs, "active_count", _slowly(ports.jobs.active_count))
    outcomes = _all_at_once(lambda: world.service.submission.create(spec))
    created = [o for o in outcomes if isinstance(o, Job)]
    refused = [o for o in outcomes if isinstance(o, errors.Throttled)]
    assert (len(created), len(refused)) == (1, _THREADS - 1), outcomes
    assert refused[0].message == (
        "Too many fine-tune job in running, please retry later. "
        "(1 of 1 jobs of this workspace are waiting or running)"
    )
    assert world.service.jobs.list("ws", offset=0, limit=50).total == 1


def test_concurrent_creates_of_one_output_name_have_one_winner(
    ports: Ports, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World(ports, tmp_path, FakeExecutor(hold=True))
    spec = world.spec(training_file_id=_training_file(world), output_name="my-model")
    monkeypatch.setattr(ports.jobs, "find_by_output_name", _slowly(ports.jobs.find_by_output_name))
    outcomes = _all_at_once(lambda: world.service.submission.create(spec))
    created = [o for o in outcomes if isinstance(o, Job)]
    refused = [o for o in outcomes if isinstance(o, errors.Conflict)]
    assert (len(created), len(refused)) == (1, _THREADS - 1), outcomes
    assert {(e.param, e.message) for e in refused} == {
        ("model_name", "Model instance my-model already exists, please specify a suffix")
    }


def test_an_output_name_cannot_be_a_catalogue_model(world: World) -> None:
    spec = world.spec(training_file_id=_training_file(world), output_name="tiny-chat")
    with pytest.raises(errors.Conflict) as refused:
        world.service.submission.create(spec)
    assert refused.value.param == "model_name" and "tiny-chat" in refused.value.message
    assert world.service.jobs.list("ws", offset=0, limit=10).total == 0


def test_a_catalogue_name_always_means_the_base_model(world: World, ports: Ports) -> None:
    """A job stored with a base model's name as its output (before names were checked)
    does not take that name over."""
    ports.jobs.add(_job(ports, "aaaa0001", output_name="tiny-chat", status=S.SUCCEEDED))
    assert world.service.jobs.by_output("ws", "tiny-chat") is None
    ports.jobs.add(_job(ports, "aaaa0002", output_name="mine", status=S.SUCCEEDED))
    found = world.service.jobs.by_output("ws", "mine")
    assert found is not None and found.id == "aaaa0002"


def test_an_export_name_cannot_be_a_catalogue_model_or_another_output(
    world: World, ports: Ports, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    progress = Progress(checkpoints=[Checkpoint(step=2, epoch=1, path=str(checkpoint))])
    ports.jobs.add(_job(ports, "aaaa0001", status=S.SUCCEEDED, progress=progress))
    ports.jobs.add(_job(ports, "aaaa0002", status=S.SUCCEEDED, output_name="other-model"))
    for taken in ("tiny-chat", "other-model"):
        with pytest.raises(errors.Conflict) as refused:
            world.service.weights.name_export("ws", "aaaa0001", 2, taken)
        assert refused.value.param == "model_name"
    world.service.weights.name_export("ws", "aaaa0001", 2, "my-export")
    named = world.service.jobs.get("ws", "aaaa0001").progress.checkpoints[0]
    assert named.model_name == "my-export"
