"""Jobs that start from an earlier job, DPO jobs, and exports, through the service (memory
and SQLite), and the exporter fake against the real one."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tests.support.world import World, run_with_checkpoints
from tuneyard import errors
from tuneyard.core.jobs import Parent
from tuneyard.core.ports import Ports
from tuneyard.core.states import JobStatus as S
from tuneyard.core.submission import UploadSource
from tuneyard.kinds import Method, Objective, TaskType
from tuneyard.scheduler.executors.fake import FakeExecutor
from tuneyard.scheduler.export import CopyExporter, SubprocessExporter


@pytest.fixture
def executor() -> FakeExecutor:
    return FakeExecutor(script=run_with_checkpoints)


@pytest.fixture
def world(ports: Ports, tmp_path: Path, executor: FakeExecutor) -> World:
    return World(ports, tmp_path, executor, min_rows=10)


def finished_parent(world: World) -> str:
    job = world.submit_sample()
    return world.wait_status(job.id, S.SUCCEEDED).id


def sample() -> UploadSource:
    from tests.support.world import EXAMPLES

    return UploadSource("train.csv", [(EXAMPLES / "clova-generation.csv").read_bytes()])


def test_a_job_continues_from_a_checkpoint(world: World, executor: FakeExecutor) -> None:
    parent = finished_parent(world)
    child = world.service.submission.submit(world.spec(parent=Parent(parent, 2)), sample())
    assert world.service.jobs.get("ws", child.id).parent == Parent(parent, 2)
    world.wait_status(child.id, S.SUCCEEDED)
    spec, _ = executor.launched[-1]
    assert spec.start_from == str(world.service.dirs.job(parent) / "checkpoints" / "step-00000002")
    assert spec.start_from_method is Method.LORA


def test_a_job_continues_from_a_final_model(world: World, executor: FakeExecutor) -> None:
    parent = finished_parent(world)
    child = world.service.submission.submit(world.spec(parent=Parent(parent)), sample())
    world.wait_status(child.id, S.SUCCEEDED)
    spec, _ = executor.launched[-1]
    assert spec.start_from == str(world.service.dirs.job(parent) / "output")


def test_what_a_job_cannot_continue_from(world: World) -> None:
    parent = finished_parent(world)
    submit = world.service.submission.submit
    with pytest.raises(errors.CheckpointNotFound, match="has: 2, 4") as missing:
        submit(world.spec(parent=Parent(parent, 3)), sample())
    assert missing.value.param == "parent"
    with pytest.raises(errors.JobNotFound):
        submit(world.spec(parent=Parent("no-such-job", 2)), sample())
    with pytest.raises(errors.JobNotFound):  # another workspace's job is not found
        submit(world.spec("other", parent=Parent(parent, 2)), sample())
    with pytest.raises(errors.InvalidRequest, match="same base model"):
        submit(
            world.spec(
                parent=Parent(parent, 2), task_type=TaskType.CLASSIFICATION, base_model="minilm-l6"
            ),
            sample(),
        )


def test_an_unfinished_job_has_no_final_model(ports: Ports, tmp_path: Path) -> None:
    world = World(ports, tmp_path, FakeExecutor(hold=True))
    running = world.submit_sample()
    world.wait_status(running.id, S.RUNNING)
    with pytest.raises(errors.InvalidTransition, match="no final model"):
        world.service.submission.submit(world.spec(parent=Parent(running.id)), sample())


def test_dpo_needs_generation_and_preference_pairs(world: World) -> None:
    with pytest.raises(errors.UnsupportedFeature, match="DPO"):
        world.service.submission.check(
            world.spec(
                objective=Objective.DPO, task_type=TaskType.CLASSIFICATION, base_model="minilm-l6"
            )
        )
    job = world.service.submission.submit(
        world.spec(objective=Objective.DPO, dialect="openai"), sample()
    )
    failed = world.wait_status(job.id, S.FAILED)
    assert failed.error_code == "file.format" and "preference pairs" in (failed.error_message or "")


def test_a_dpo_job_reads_its_pairs(world: World, executor: FakeExecutor) -> None:
    line = {
        "input": {"messages": [{"role": "user", "content": "Help?"}]},
        "preferred_output": [{"role": "assistant", "content": "Yes, gladly."}],
        "non_preferred_output": [{"role": "assistant", "content": "No."}],
    }
    data = "".join(json.dumps(line) + "\n" for _ in range(12)).encode()
    job = world.service.submission.submit(
        world.spec(objective=Objective.DPO, dialect="openai"),
        UploadSource("pairs.jsonl", [data]),
    )
    world.wait_status(job.id, S.SUCCEEDED)
    spec, _ = executor.launched[-1]
    assert (spec.objective, spec.dataset_format) == (Objective.DPO, "openai-dpo")
    assert world.service.jobs.get("ws", job.id).objective is Objective.DPO


def test_exports_and_checkpoint_listing(world: World) -> None:
    parent = finished_parent(world)
    assert [c.step for c in world.service.weights.checkpoints("ws", parent)] == [2, 4]
    exported = world.service.weights.export("ws", parent, step=4, merged=False)
    merged = world.service.weights.export("ws", parent, step=None, merged=True)
    assert exported.path == world.service.dirs.job(parent) / "exports" / "step-4"
    assert exported.format == "peft" and merged.format == "full"
    assert (exported.path / "adapter_config.json").is_file()
    assert merged.path.name == "final-merged" and (merged.path / "config.json").is_file()
    exporter = world.ports.exporter
    assert isinstance(exporter, CopyExporter)
    world.service.weights.export("ws", parent, step=4, merged=False)
    assert len(exporter.calls) == 2  # an export already on disk is not redone
    with pytest.raises(errors.CheckpointNotFound):
        world.service.weights.export("ws", parent, step=1, merged=False)


@pytest.mark.parametrize("kind", ["fake", "real"])
def test_exporters_agree(kind: str, tmp_path: Path) -> None:
    exporter = CopyExporter() if kind == "fake" else SubprocessExporter(timeout_s=120)
    source = tmp_path / "source"
    source.mkdir()
    (source / "config.json").write_text(json.dumps({"model_type": "llama"}))
    exporter.export(source, tmp_path / "copy", merged=False)
    assert json.loads((tmp_path / "copy" / "config.json").read_text()) == {"model_type": "llama"}
    with pytest.raises(ValueError, match="no saved model"):
        exporter.export(tmp_path / "empty", tmp_path / "out", merged=True)
    assert not (tmp_path / "out").exists()


def test_the_parent_survives_a_round_trip(world: World) -> None:
    parent = finished_parent(world)
    training = world.service.uploads.upload("ws", "train.csv", [b"x"], purpose="fine-tune")
    child = world.service.submission.create(
        dataclasses.replace(world.spec(parent=Parent(parent, 4)), training_file_id=training.id)
    )
    stored = world.service.jobs.get("ws", child.id)
    assert stored.parent == Parent(parent, 4) and stored.objective is Objective.SFT
