"""Service + lifecycle + scheduler with the scripted executor, over memory and SQLite."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.support.world import EXAMPLES, World
from tuneyard import errors
from tuneyard.core.jobs import TrainingSpec
from tuneyard.core.ports import Ports
from tuneyard.core.states import JobStatus as S
from tuneyard.core.submission import ObjectSource, UploadSource
from tuneyard.kinds import TaskType
from tuneyard.scheduler.executors.fake import KILLED, FakeExecutor, successful_run
from tuneyard.storage import secrets


@pytest.fixture
def executor() -> FakeExecutor:
    return FakeExecutor()


@pytest.fixture
def world(ports: Ports, tmp_path: Path, executor: FakeExecutor) -> World:
    return World(ports, tmp_path, executor)


def test_a_job_runs_to_success_with_live_progress(world: World, executor: FakeExecutor) -> None:
    job = world.submit_sample()
    assert job.status is S.CREATED
    done = world.wait_status(job.id, S.SUCCEEDED)
    spec, _ = executor.launched[0]
    assert Path(spec.work_dir, "spec.json").is_file()
    assert (
        TrainingSpec.from_dict(
            __import__("json").loads(Path(spec.work_dir, "spec.json").read_text())
        )
        == spec
    )
    p = done.progress
    assert p.data_rows == 128  # from the validator, before any worker ran
    assert (p.step, p.total_steps, p.epoch, p.total_epochs) == (4, 4, 2, 2)
    # numOfTokens is the validator's count with tiny-chat's tokenizer, not the worker's 5000
    assert p.num_tokens == 8270 and p.weights_saved is True and p.train_loss == 0.1
    assert done.finished_at is not None and done.output_path
    kinds = [e.type for e in world.ports.events.list(job.id, limit=1000)]
    assert "metrics" in kinds and "status" in kinds


def test_one_job_at_a_time_fifo(ports: Ports, tmp_path: Path) -> None:
    executor = FakeExecutor(hold=True)
    world = World(ports, tmp_path, executor)
    first = world.submit_sample()
    world.wait_status(first.id, S.RUNNING)
    second = world.submit_sample()
    world.wait_status(second.id, S.QUEUED)
    for _ in range(5):
        world.scheduler.tick()
    assert len(executor.launched) == 1
    executor.launched[0][1].release()
    world.wait_status(first.id, S.SUCCEEDED)
    world.wait_status(second.id, S.RUNNING)
    executor.launched[1][1].release()
    world.wait_status(second.id, S.SUCCEEDED)


def test_cancel_stops_the_worker(ports: Ports, tmp_path: Path) -> None:
    executor = FakeExecutor(hold=True)
    world = World(ports, tmp_path, executor)
    job = world.submit_sample()
    world.wait_status(job.id, S.RUNNING)
    assert world.service.control.cancel("ws", job.id).status is S.CANCELLING
    again = world.service.control.cancel("ws", job.id)  # a second stop while it is stopping
    assert again.status is S.CANCELLING  # not CANCELLED while the worker still runs
    world.wait_status(job.id, S.CANCELLED)
    assert executor.launched[0][1].terminated
    with pytest.raises(errors.InvalidTransition):
        world.service.control.cancel("ws", job.id)


def test_cancel_before_running_never_launches(world: World, executor: FakeExecutor) -> None:
    job = world.submit_sample()
    assert world.service.control.cancel("ws", job.id).status is S.CANCELLED
    for _ in range(5):
        world.scheduler.tick()
    assert executor.launched == []


def test_delete_of_a_running_job_cancels_and_purges(ports: Ports, tmp_path: Path) -> None:
    executor = FakeExecutor(hold=True)
    world = World(ports, tmp_path, executor)
    job = world.submit_sample()
    world.wait_status(job.id, S.RUNNING)
    world.service.control.delete("ws", job.id)
    with pytest.raises(errors.JobNotFound):
        world.service.jobs.get("ws", job.id)
    world.wait_status(job.id, S.CANCELLED)
    world.scheduler.stop(timeout=2)
    assert not world.service.dirs.job(job.id).exists()


def test_a_worker_that_dies_silently_fails_the_job(ports: Ports, tmp_path: Path) -> None:
    def crash(spec: TrainingSpec) -> list[dict[str, Any]]:
        return successful_run(spec)[:3]

    world = World(ports, tmp_path, FakeExecutor(crash))
    job = world.submit_sample()
    done = world.wait_status(job.id, S.FAILED)
    assert done.error_code == "train.unknown"
    assert "exited with status 0" in (done.error_message or "")
    assert done.progress.weights_saved is False


def test_a_worker_failure_keeps_its_reason(ports: Ports, tmp_path: Path) -> None:
    def fail(spec: TrainingSpec) -> list[dict[str, Any]]:
        return [{"event": "failed", "code": "train.unknown", "message": "CUDA out of memory"}]

    world = World(ports, tmp_path, FakeExecutor(fail))
    done = world.wait_status(world.submit_sample().id, S.FAILED)
    assert (done.error_code, done.error_message) == ("train.unknown", "CUDA out of memory")


def test_stop_requeues_running_jobs(ports: Ports, tmp_path: Path) -> None:
    executor = FakeExecutor(hold=True)
    world = World(ports, tmp_path, executor)
    job = world.submit_sample()
    world.wait_status(job.id, S.RUNNING)
    world.scheduler.stop(timeout=5)
    stopped = world.ports.jobs.get(job.id)
    assert stopped is not None and stopped.status is S.QUEUED
    restarted = World(ports, tmp_path, FakeExecutor())
    restarted.wait_status(job.id, S.SUCCEEDED)


def test_expired_leases_are_requeued_then_failed(ports: Ports, tmp_path: Path) -> None:
    world = World(ports, tmp_path, FakeExecutor())
    job = world.submit_sample()
    world.lifecycle.validate(job)  # queue it without ticking (a tick would claim it)
    clock = ports.clock
    for attempt in range(1, 4):
        now = clock.now()
        claimed = ports.jobs.claim_next("dead-scheduler", now, now)  # lease already over
        assert claimed is not None and claimed.attempts == attempt - 1  # workers lost so far
        clock.advance(1)  # type: ignore[attr-defined]
        world.scheduler._reap()
    failed = ports.jobs.get(job.id)
    assert failed is not None and failed.status is S.FAILED
    assert "gave up after 3 attempts" in (failed.error_message or "")


def test_a_bad_dataset_fails_before_any_compute(world: World, executor: FakeExecutor) -> None:
    bad = b"System_Prompt,C_ID,T_ID,Text\nhi,0,0,hello\n"
    job = world.service.submission.submit(world.spec(), UploadSource("bad.csv", [bad]))
    done = world.wait_status(job.id, S.FAILED)
    assert done.error_code == "file.format"
    assert (done.error_message or "").startswith(
        "Invalid dataset: required field empty. Completion"
    )
    assert executor.launched == []
    issues = [
        e for e in world.ports.events.list(job.id) if e.level == "error" and e.type == "message"
    ]
    assert len(issues) >= 2  # missing column and too few rows, both listed


def test_missing_object_storage_file_fails_the_task(world: World) -> None:
    source = ObjectSource(bucket="b", path="no/such.csv", access_key="a", secret_key="s")
    job = world.service.submission.submit(world.spec(), source)
    assert job.status is S.FAILED and job.error_code == "File not found"


def test_object_storage_dataset_is_imported(world: World, tmp_path: Path) -> None:
    data = (Path(__file__).parents[2] / "examples/clova-generation.csv").read_bytes()
    ak, sk = world.make_bucket("bucket", {"data/train.csv": data})
    source = ObjectSource(bucket="bucket", path="data/train.csv", access_key=ak, secret_key=sk)
    job = world.service.submission.submit(world.spec(), source)
    world.wait_status(job.id, S.SUCCEEDED)


def test_object_storage_path_cannot_escape(world: World, tmp_path: Path) -> None:
    (tmp_path / "secret.csv").write_text("x")
    ak, sk = world.make_bucket("bucket", {})
    source = ObjectSource(bucket="bucket", path="../../secret.csv", access_key=ak, secret_key=sk)
    assert world.service.submission.submit(world.spec(), source).error_code == "File not found"


def test_workspaces_are_isolated(world: World) -> None:
    job = world.submit_sample("ws")
    with pytest.raises(errors.JobNotFound):
        world.service.jobs.get("other", job.id)
    with pytest.raises(errors.JobNotFound):
        world.service.control.delete("other", job.id)
    assert world.service.jobs.list("other", offset=0, limit=10).total == 0


def test_unknown_model_and_wrong_task_type_are_refused(world: World) -> None:
    source = UploadSource("x.csv", [b""])
    with pytest.raises(errors.ModelNotFound):
        world.service.submission.submit(world.spec(base_model="HCX-003"), source)
    with pytest.raises(errors.UnsupportedFeature, match="GENERATION, not CLASSIFICATION"):
        world.service.submission.submit(world.spec(task_type=TaskType.CLASSIFICATION), source)


def test_keys_authenticate_to_their_workspace(world: World) -> None:
    key = world.service.credentials.create_key("team-a")
    assert world.service.credentials.authenticate(key) == "team-a"
    with pytest.raises(errors.InvalidCredentials):
        world.service.credentials.authenticate(key + "0")
    with pytest.raises(errors.Unauthenticated):
        world.service.credentials.authenticate(None)


def test_running_leases_are_renewed(ports: Ports, tmp_path: Path) -> None:
    executor = FakeExecutor(hold=True)
    world = World(ports, tmp_path, executor)
    job = world.submit_sample()
    world.wait_status(job.id, S.RUNNING)
    clock = ports.clock
    clock.advance(10)  # type: ignore[attr-defined]
    world.scheduler._renewed_at = -float("inf")  # a third of the lease has passed
    world.scheduler.tick()
    clock.advance(10)  # type: ignore[attr-defined]  # 20 s after the claim, 10 s after renewal
    assert ports.jobs.expired_leases(clock.now()) == []
    executor.launched[0][1].release()
    world.wait_status(job.id, S.SUCCEEDED)


def test_rows_and_tokens_are_known_before_the_job_queues(world: World) -> None:
    job = world.submit_sample()
    world.lifecycle.validate(job)
    queued = world.ports.jobs.get(job.id)
    assert queued is not None and queued.status is S.QUEUED
    assert (queued.progress.data_rows, queued.progress.num_tokens) == (128, 8270)


def test_a_killed_worker_runs_again(ports: Ports, tmp_path: Path) -> None:
    launches: list[int] = []

    def killed_once(spec: TrainingSpec) -> list[dict[str, Any]]:
        launches.append(1)
        run = successful_run(spec)
        return [*run[:3], {"event": KILLED}] if len(launches) == 1 else run

    world = World(ports, tmp_path, FakeExecutor(killed_once))
    job = world.submit_sample()
    done = world.wait_status(job.id, S.SUCCEEDED)
    assert len(launches) == 2 and done.attempts == 1  # one worker lost
    messages = [e.message for e in world.service.events.read("ws", job.id).items]
    assert any("killed (signal 9)" in m for m in messages)


def test_a_worker_killed_every_time_fails_after_three_attempts(
    ports: Ports, tmp_path: Path
) -> None:
    def always_killed(spec: TrainingSpec) -> list[dict[str, Any]]:
        return [*successful_run(spec)[:2], {"event": KILLED}]

    world = World(ports, tmp_path, FakeExecutor(always_killed))
    done = world.wait_status(world.submit_sample().id, S.FAILED)
    assert done.error_code == "train.unknown" and done.attempts == 3
    assert "gave up after 3 attempts" in (done.error_message or "")


def test_a_validation_file_is_checked_and_reaches_the_worker(
    world: World, executor: FakeExecutor
) -> None:
    chat = (EXAMPLES / "chat.jsonl").read_bytes()
    training = world.service.uploads.upload("ws", "train.jsonl", [chat], purpose="fine-tune")
    held_out = world.service.uploads.upload(
        "ws", "valid.jsonl", [b"\n".join(chat.splitlines()[:10]) + b"\n"], purpose="fine-tune"
    )
    spec = world.spec(dialect="dashscope", training_file_id=training.id)
    job = world.service.submission.create(replace(spec, validation_file_id=held_out.id))
    world.wait_status(job.id, S.SUCCEEDED)
    launched, _ = executor.launched[0]
    assert launched.validation_path == str(world.ports.blobs.path(held_out.blob_key))
    assert (launched.validation_filename, launched.validation_format) == (
        "valid.jsonl",
        "openai-chat",
    )

    broken = world.service.uploads.upload(
        "ws", "bad.jsonl", [b'{"messages": []}\n'], purpose="fine-tune"
    )
    failing = world.service.submission.create(replace(spec, validation_file_id=broken.id))
    done = world.wait_status(failing.id, S.FAILED)
    assert (done.error_message or "").startswith("validation: ")
    with pytest.raises(errors.FileNotFound):
        world.service.submission.create(replace(spec, validation_file_id="file-nope"))


def test_access_key_pairs_keep_the_secret_sealed(world: World, tmp_path: Path) -> None:
    access_key, secret_key = world.service.credentials.create_access_key(
        "qf", account="1396993924585947", workspaces=["qf-2"]
    )
    assert len(access_key) == len(secret_key) == 32 and access_key != secret_key
    assert world.service.credentials.access_secret(access_key) == secret_key
    assert world.service.credentials.access_secret("0" * 32) is None
    stored = world.ports.keys.find_by_access_key(access_key)
    assert stored is not None and stored.secret_sealed and secret_key not in stored.secret_sealed
    caller = world.service.credentials.caller_by_access_key(access_key, "qf-2")
    assert (caller.workspace_id, caller.account) == ("qf-2", "1396993924585947")
    with pytest.raises(errors.Forbidden):
        world.service.credentials.caller_by_access_key(access_key, "elsewhere")
    with pytest.raises(errors.InvalidCredentials):  # a secret key is not a bearer key
        world.service.credentials.authenticate(secret_key)
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    with pytest.raises(errors.StorageError):  # sealed under another key file
        secrets.FernetSealer(tmp_path / "other.key").open(stored.secret_sealed)


def test_pause_saves_and_frees_the_worker_then_resume_runs_again(
    ports: Ports, tmp_path: Path
) -> None:
    executor = FakeExecutor(hold=True)
    world = World(ports, tmp_path, executor)
    job = world.submit_sample()
    with pytest.raises(errors.InvalidTransition):
        world.service.control.pause("ws", job.id)  # not running yet
    world.wait_status(job.id, S.RUNNING)
    assert world.service.control.pause("ws", job.id).status is S.PAUSING
    assert world.service.control.pause("ws", job.id).status is S.PAUSING  # asked twice: the same
    with pytest.raises(errors.Conflict):
        world.service.control.resume("ws", job.id)  # still pausing
    paused = world.wait_status(job.id, S.PAUSED)
    assert executor.launched[0][1].paused and ports.jobs.running_count() == 0
    assert paused.finished_at is None
    # the event follows the move to PAUSED (a fenced move is made first, then logged)
    deadline = time.monotonic() + 5
    while not any(e.message.startswith("Paused at step") for e in ports.events.list(job.id)):
        assert time.monotonic() < deadline, [e.message for e in ports.events.list(job.id)]
        time.sleep(0.01)
    assert world.service.control.resume("ws", job.id).status is S.QUEUED
    world.wait_status(job.id, S.RUNNING)
    assert len(executor.launched) == 2
    executor.launched[1][1].release()
    world.wait_status(job.id, S.SUCCEEDED)
    with pytest.raises(errors.InvalidTransition):
        world.service.control.resume("ws", job.id)


def test_a_paused_job_cancels_at_once_and_a_pausing_one_stops(ports: Ports, tmp_path: Path) -> None:
    executor = FakeExecutor(hold=True)
    world = World(ports, tmp_path, executor)
    job = world.submit_sample()
    world.wait_status(job.id, S.RUNNING)
    world.service.control.pause("ws", job.id)
    world.wait_status(job.id, S.PAUSED)
    assert world.service.control.cancel("ws", job.id).status is S.CANCELLED
    other = world.submit_sample()
    world.wait_status(other.id, S.RUNNING)
    world.service.control.pause("ws", other.id)
    assert world.service.control.cancel("ws", other.id).status is S.CANCELLING  # before it paused
    world.wait_status(other.id, S.CANCELLED)


def test_a_lost_pausing_worker_leaves_the_job_paused(world: World) -> None:
    job = world.submit_sample()  # moved by hand below: no scheduler tick runs it
    world.service.transitions.move(job, S.VALIDATING)
    world.service.transitions.move(world.service.jobs.get("ws", job.id), S.QUEUED)
    now = world.ports.clock.now()
    world.ports.jobs.claim_next("gone", now, now)  # a scheduler that died holding it
    running = world.service.jobs.get("ws", job.id)
    world.service.transitions.move(running, S.PAUSING)
    world.lifecycle.reap(world.service.jobs.get("ws", job.id))
    assert world.service.jobs.get("ws", job.id).status is S.PAUSED
