"""The Ray executor without a cluster: its settings, its wiring, the handle's reading of a
(fake) actor — lines, exit status, and a lost actor read as a killed worker — and the node
side's refusal of a mismatched version and its scratch paths."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import tuneyard
from tuneyard import errors, runtime
from tuneyard.core import protocol
from tuneyard.core.jobs import BaseModelRef, Hyperparameters, StorageRef, TrainingSpec
from tuneyard.kinds import Method, TaskType
from tuneyard.scheduler.executors import local, node
from tuneyard.scheduler.executors import ray as ray_executor
from tuneyard.settings import Settings

# -- settings and wiring -------------------------------------------------------------------


def test_executor_and_ray_address_have_environment_twins() -> None:
    env = {"TUNEYARD_EXECUTOR": "ray", "TUNEYARD_RAY_ADDRESS": "10.0.0.1:6379"}
    settings = Settings.load(env=env)
    assert (settings.executor, settings.ray_address) == ("ray", "10.0.0.1:6379")
    assert Settings.load(env={}).executor == "local"


def test_executor_settings_are_checked() -> None:
    with pytest.raises(errors.InvalidRequest) as caught:
        Settings.load({"executor": "slurm"}, env={})
    assert "executor must be local or ray" in caught.value.message
    with pytest.raises(errors.InvalidRequest) as caught:
        Settings.load({"ray_address": "10.0.0.1:6379"}, env={})
    assert "ray-address needs executor ray" in caught.value.message


def test_runtime_builds_the_executor_the_settings_name() -> None:
    assert isinstance(runtime.executor_of(Settings()), local.LocalExecutor)
    built = runtime.executor_of(Settings(executor="ray", ray_address="10.0.0.1:6379"))
    assert isinstance(built, ray_executor.RayExecutor)
    assert built.address == "10.0.0.1:6379"
    assert ray_executor.RayExecutor(None).address == "auto"


def test_without_the_extra_the_executor_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a)
    )
    with pytest.raises(errors.InvalidRequest) as caught:
        runtime.executor_of(Settings(executor="ray"))
    assert "pip install 'tuneyard[ray]'" in caught.value.message


def test_workers_get_the_servers_storage_credentials_and_nothing_else() -> None:
    env = {
        "TUNEYARD_OBJECT_STORAGE_ACCESS_KEY": "ak",
        "TUNEYARD_OBJECT_STORAGE_SECRET_KEY": "sk",
        "AWS_SESSION_TOKEN": "token",
        "HF_HUB_OFFLINE": "1",
        "TUNEYARD_DATABASE_URL": "postgresql://secret",
        "PATH": "/server/bin",
        "HOME": "/root",
    }
    assert ray_executor.RayExecutor("x:1", env=env).env == {
        "TUNEYARD_OBJECT_STORAGE_ACCESS_KEY": "ak",
        "TUNEYARD_OBJECT_STORAGE_SECRET_KEY": "sk",
        "AWS_SESSION_TOKEN": "token",
        "HF_HUB_OFFLINE": "1",
    }


# -- the handle, over a fake Ray -----------------------------------------------------------


class RayError(Exception):
    pass


class RayActorError(RayError):
    pass


class ActorDiedError(RayActorError):
    pass


class ActorUnavailableError(RayActorError):
    pass


class GetTimeoutError(RayError, TimeoutError):
    pass


class _Exceptions:
    RayError = RayError
    RayActorError = RayActorError
    ActorDiedError = ActorDiedError
    ActorUnavailableError = ActorUnavailableError
    GetTimeoutError = GetTimeoutError


class FakeRay:
    """`ray.get` runs the call; `ray.kill` is recorded."""

    exceptions = _Exceptions

    def __init__(self) -> None:
        self.killed: list[Any] = []

    def get(self, call: Callable[[], Any], timeout: float | None = None) -> Any:
        return call()

    def kill(self, actor: Any, no_restart: bool = False) -> None:
        self.killed.append(actor)


class _Method:
    def __init__(self, run: Callable[..., Any]) -> None:
        self.run = run

    def remote(self, *args: Any) -> Callable[[], Any]:
        """Run now, as the actor would whether or not anyone waits; `ray.get` returns the
        result or raises the error."""
        try:
            result = self.run(*args)
        except Exception as exc:
            error = exc

            def fail() -> Any:
                raise error

            return fail
        return lambda: result


class FakeActor:
    """An actor whose `read` answers from a script: (lines, done) pairs or exceptions."""

    def __init__(self, reads: list[Any], status: int | None = 0) -> None:
        self.reads: Iterator[Any] = iter(reads)
        self.status = status
        self.calls: list[str] = []
        self.cursors: list[int] = []
        self.read = _Method(self._read)
        self.wait = _Method(lambda timeout: self._call("wait", self.status))
        self.log_tail = _Method(lambda: self._call("log_tail", "the log's end"))
        self.cleanup = _Method(lambda: self._call("cleanup", None))
        self.where = _Method(lambda: {"host": "node-a", "actor_pid": 7})
        self.pause = _Method(lambda: self._call("pause", None))
        self.kill = _Method(lambda: self._call("kill", None))

    def _read(self, cursor: int, timeout: float) -> Any:
        self.cursors.append(cursor)
        answer = next(self.reads)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def _call(self, name: str, value: Any) -> Any:
        self.calls.append(name)
        return value


def test_lines_come_in_order_then_the_exit_status_and_the_actor_is_released() -> None:
    fake, actor = FakeRay(), FakeActor([(["a", "b"], False), ([], False), (["c"], True)])
    worker = ray_executor.RayWorker(fake, actor, "job1")
    assert list(worker.lines()) == ["a", "b", "c"]
    assert actor.cursors == [0, 2, 2]  # each read acknowledges what came before it
    assert worker.wait(30) == 0
    assert worker.log_tail() == "the log's end"
    assert actor.calls == ["wait", "log_tail", "cleanup"] and fake.killed == [actor]
    assert worker.wait(30) == 0 and actor.calls.count("wait") == 1  # settled once


def test_a_dead_actor_ends_the_lines_and_reads_as_a_killed_worker() -> None:
    fake = FakeRay()
    actor = FakeActor([(["a"], False), ActorDiedError("The actor died: its node was lost")])
    worker = ray_executor.RayWorker(fake, actor, "job1")
    assert list(worker.lines()) == ["a"]
    assert worker.wait(30) == -signal.SIGKILL == ray_executor.LOST
    assert "node was lost" in worker.log_tail()
    assert fake.killed == [actor] and "wait" not in actor.calls


def test_a_wait_that_meets_a_dead_actor_is_a_lost_worker_too() -> None:
    fake, actor = FakeRay(), FakeActor([])

    def died(timeout: float | None) -> int:
        raise ActorDiedError("gone")

    actor.wait = _Method(died)
    assert ray_executor.RayWorker(fake, actor, "job1").wait(5) == ray_executor.LOST


def test_an_actor_unreachable_for_a_moment_is_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ray_executor.time, "sleep", lambda s: None)
    actor = FakeActor([(["a"], False), ActorUnavailableError("blip"), (["b"], True)])
    worker = ray_executor.RayWorker(FakeRay(), actor, "job1")
    assert list(worker.lines()) == ["a", "b"]
    assert worker.wait(1) == 0


def test_an_actor_unreachable_past_the_grace_is_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(range(0, 1000, 10))
    monkeypatch.setattr(ray_executor.time, "monotonic", lambda: float(next(clock)))
    monkeypatch.setattr(ray_executor.time, "sleep", lambda s: None)
    actor = FakeActor([ActorUnavailableError("partitioned")] * 10)
    worker = ray_executor.RayWorker(FakeRay(), actor, "job1")
    assert list(worker.lines()) == []
    assert worker.wait(1) == ray_executor.LOST


def test_a_still_running_worker_waits_none() -> None:
    worker = ray_executor.RayWorker(FakeRay(), FakeActor([], status=None), "job1")
    assert worker.wait(0.1) is None


def test_kill_signals_the_trainer_then_kills_an_actor_that_does_not_settle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ray_executor, "_KILL_GRACE_S", 0.01)
    fake, actor = FakeRay(), FakeActor([], status=-9)
    settled = ray_executor.RayWorker(fake, actor, "job1")
    settled.kill()
    assert settled.wait(1) == -9 and fake.killed == [actor]  # released once settled
    time.sleep(0.1)
    assert actor.calls.count("kill") == 1 and fake.killed == [actor]  # not killed again

    fake, actor = FakeRay(), FakeActor([], status=None)
    ray_executor.RayWorker(fake, actor, "job2").kill()  # its trainer never reports
    assert actor.calls == ["kill"]
    deadline = time.monotonic() + 5
    while not fake.killed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.killed == [actor]


# -- the node side, without a trainer --------------------------------------------------------


def _spec(tmp_path: Path, *, storage: StorageRef | None = None) -> TrainingSpec:
    return TrainingSpec(
        job_id="job1",
        task_type=TaskType.GENERATION,
        method=Method.LORA,
        base_model=BaseModelRef("tiny-chat", "tiny-chat", "/server/data/models/tiny-chat"),
        dataset_path="blobs/ab/cd",
        dataset_filename="train.jsonl",
        hyperparameters=Hyperparameters(),
        output_dir="/server/data/jobs/job1/output",
        work_dir="/server/data/jobs/job1",
        storage=storage,
    )


def test_on_node_moves_work_output_and_tiny_chat_to_the_scratch_folder(tmp_path: Path) -> None:
    moved = node.on_node(_spec(tmp_path), tmp_path)
    assert moved.work_dir == str(tmp_path / "jobs" / "job1")
    assert moved.output_dir == str(tmp_path / "jobs" / "job1" / "output")
    assert moved.base_model.path == str(tmp_path / "models" / "tiny-chat")
    assert moved.dataset_path == "blobs/ab/cd"  # an object key: the trainer pulls it
    other = dataclasses.replace(_spec(tmp_path), base_model=BaseModelRef("m", "path", "/models/m"))
    assert node.on_node(other, tmp_path).base_model.path == "/models/m"  # on every node


def test_a_node_of_another_version_fails_the_job_without_training(tmp_path: Path) -> None:
    spec = _spec(tmp_path, storage=StorageRef("http://s3", "bucket"))
    worker = node.NodeWorker(spec.to_dict(), env={}, version="0.0.0-other")
    lines, done = worker.read(0, 0.0)
    assert done and len(lines) == 1
    event = protocol.decode(lines[0])
    assert isinstance(event, protocol.Failed) and event.code == "train.unknown"
    assert f"runs tuneyard {tuneyard.__version__}, the server 0.0.0-other" in event.message
    assert worker.wait(0) == protocol.EXIT_FAILED
    assert worker.read(1, 0.0) == ([], True)  # acknowledged lines are forgotten
    assert worker.scratch and worker.spec.work_dir.startswith(str(node.scratch_root()))
    assert not Path(worker.spec.work_dir, "spec.json").exists()


def test_a_spec_without_storage_keeps_the_servers_paths(tmp_path: Path) -> None:
    shared = tmp_path / "data" / "jobs" / "job1"
    shared.mkdir(parents=True)
    spec = dataclasses.replace(_spec(tmp_path), work_dir=str(shared))
    worker = node.NodeWorker(spec.to_dict(), env={}, version="other")
    assert not worker.scratch and worker.spec == spec
    worker.cleanup()
    assert shared.is_dir()  # never removes the server's folder
    assert json.loads(json.dumps(worker.where()))["work_dir"] == str(shared)
