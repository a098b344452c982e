"""One set of scheduler scenarios, played by the fake executor and by the local executor.

The local executor starts real `python -m` subprocesses (a scripted worker instead of the
trainer, so nothing trains): pipes, signals and exit statuses take the real path, and
both executors must settle every job the same way.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.support.world import World
from tuneyard.core.jobs import TrainingSpec
from tuneyard.core.ports import WorkerHandle
from tuneyard.core.service import Ports
from tuneyard.core.states import JobStatus as S
from tuneyard.scheduler.executors.fake import KILLED, FakeExecutor, FakeWorker, successful_run
from tuneyard.scheduler.executors.local import LocalExecutor

Script = Callable[[TrainingSpec], Sequence[dict[str, Any]]]
_ROOT = Path(__file__).resolve().parents[2]


class ScriptedLocalExecutor:
    """The local executor running `tests.support.scripted_worker` on a fake's script."""

    def __init__(self, script: Script = successful_run, *, hold: bool = False) -> None:
        self.script = script
        self.hold = hold
        env = {**os.environ, "PYTHONPATH": str(_ROOT)}
        self.inner = LocalExecutor(env=env, module="tests.support.scripted_worker")
        self.launched: list[tuple[TrainingSpec, WorkerHandle]] = []

    def launch(self, spec: TrainingSpec) -> WorkerHandle:
        """Write the script beside the spec, then start the worker as the trainer starts."""
        script = {"events": list(self.script(spec)), "hold": self.hold}
        Path(spec.work_dir, "script.json").write_text(json.dumps(script))
        Path(spec.work_dir, "release").unlink(missing_ok=True)
        worker = self.inner.launch(spec)
        self.launched.append((spec, worker))
        return worker


Make = Callable[..., FakeExecutor | ScriptedLocalExecutor]


@pytest.fixture(params=["fake", "local"])
def make(request: pytest.FixtureRequest) -> Iterator[Make]:
    """Builds an executor of the parametrised kind from a script (and `hold`)."""
    made: list[ScriptedLocalExecutor] = []

    def build(script: Script = successful_run, *, hold: bool = False) -> Any:
        if request.param == "fake":
            return FakeExecutor(script, hold=hold)
        executor = ScriptedLocalExecutor(script, hold=hold)
        made.append(executor)
        return executor

    yield build
    for executor in made:  # nothing outlives the test
        for _, worker in executor.launched:
            worker.kill()
            worker.wait(5)


def _started(executor: FakeExecutor | ScriptedLocalExecutor, index: int = 0) -> None:
    """Wait until the worker listens for signals (a real process takes a moment)."""
    spec, worker = executor.launched[index]
    if isinstance(worker, FakeWorker):
        return
    deadline = time.monotonic() + 10
    log = Path(spec.work_dir, "worker.log")
    while not (log.is_file() and "scripted worker started" in log.read_text()):
        assert time.monotonic() < deadline, "the scripted worker never started"
        time.sleep(0.02)


def _release(executor: FakeExecutor | ScriptedLocalExecutor, index: int = 0) -> None:
    spec, worker = executor.launched[index]
    if isinstance(worker, FakeWorker):
        worker.release()
    else:
        Path(spec.work_dir, "release").touch()


def test_a_job_runs_to_success(ports: Ports, tmp_path: Path, make: Make) -> None:
    world = World(ports, tmp_path, make())
    done = world.wait_status(world.submit_sample().id, S.SUCCEEDED)
    assert (done.progress.step, done.progress.total_steps) == (4, 4)
    assert done.attempts == 0 and done.output_path


def test_a_failure_keeps_its_reason(ports: Ports, tmp_path: Path, make: Make) -> None:
    def fail(spec: TrainingSpec) -> list[dict[str, Any]]:
        return [{"event": "failed", "code": "train.unknown", "message": "out of memory"}]

    world = World(ports, tmp_path, make(fail))
    done = world.wait_status(world.submit_sample().id, S.FAILED)
    assert (done.error_code, done.error_message) == ("train.unknown", "out of memory")


def test_a_killed_worker_costs_one_attempt(ports: Ports, tmp_path: Path, make: Make) -> None:
    launches: list[int] = []

    def killed_once(spec: TrainingSpec) -> list[dict[str, Any]]:
        launches.append(1)
        run = successful_run(spec)
        return [*run[:3], {"event": KILLED}] if len(launches) == 1 else run

    world = World(ports, tmp_path, make(killed_once))
    done = world.wait_status(world.submit_sample().id, S.SUCCEEDED)
    assert len(launches) == 2 and done.attempts == 1


def test_cancel_stops_the_worker(ports: Ports, tmp_path: Path, make: Make) -> None:
    executor = make(hold=True)
    world = World(ports, tmp_path, executor)
    job = world.submit_sample()
    world.wait_status(job.id, S.RUNNING)
    _started(executor)
    world.service.control.cancel("ws", job.id)
    world.wait_status(job.id, S.CANCELLED)
    assert executor.launched[0][1].wait(5) == 3  # it stopped on SIGTERM, as asked


def test_pause_saves_and_frees_the_slot(ports: Ports, tmp_path: Path, make: Make) -> None:
    executor = make(hold=True)
    world = World(ports, tmp_path, executor)
    job = world.submit_sample()
    world.wait_status(job.id, S.RUNNING)
    _started(executor)
    world.service.control.pause("ws", job.id)
    world.wait_status(job.id, S.PAUSED)
    assert executor.launched[0][1].wait(5) == 4
    world.service.control.resume("ws", job.id)
    world.wait_status(job.id, S.RUNNING)
    _release(executor, 1)
    done = world.wait_status(job.id, S.SUCCEEDED)
    assert done.attempts == 0  # a pause is not an attempt


def test_a_clean_stop_requeues_without_an_attempt(ports: Ports, tmp_path: Path, make: Make) -> None:
    executor = make(hold=True)
    world = World(ports, tmp_path, executor)
    job = world.submit_sample()
    world.wait_status(job.id, S.RUNNING)
    _started(executor)
    world.scheduler.stop(timeout=5)
    stopped = world.ports.jobs.get(job.id)
    assert stopped is not None and stopped.status is S.QUEUED and stopped.attempts == 0
    restarted = World(ports, tmp_path, make())
    assert restarted.wait_status(job.id, S.SUCCEEDED).attempts == 0
