"""The models a workspace can run, on both backends: resolution to the weights a worker
loads (base, LoRA, full, checkpoint), the refusals (not succeeded, another workspace's,
deleted, unknown, weights gone), the listing, and deleting a tuned model (the job stays),
down to the repository's compare-and-set and migration 0009."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from tests.support.world import ManualClock, job_record
from tuneyard import errors
from tuneyard.core.checkpoints import Checkpoint
from tuneyard.core.jobs import Progress
from tuneyard.core.ports import Ports
from tuneyard.core.served import MANIFEST
from tuneyard.core.service import Service
from tuneyard.core.states import JobStatus
from tuneyard.datasets.report import Limits
from tuneyard.kinds import Method, TaskType
from tuneyard.storage import database, sql, tables


@pytest.fixture
def service(ports: Ports, tmp_path: Path) -> Service:
    return Service(ports, data_dir=tmp_path, limits=Limits(max_bytes=10_000, min_rows=1))


def _folder(root: Path, name: str, weights_base: str | None = None) -> str:
    folder = root / name
    folder.mkdir(parents=True)
    if weights_base is not None:
        (folder / MANIFEST).write_text(json.dumps({"weights_base": weights_base}))
    return str(folder)


def _succeeded(
    ports: Ports,
    root: Path,
    job_id: str,
    *,
    output_path: str | None = None,
    deleted: bool = False,
    **changes: object,
) -> str:
    """A job stored as the scheduler leaves a succeeded one: its output (with a manifest)
    and a checkpoint at step 2 on disk."""
    ckpt = _folder(root, f"{job_id}/ckpt-2", weights_base="/weights/of/ckpt")
    clock = ports.clock
    assert isinstance(clock, ManualClock)
    clock.advance(1)
    ports.jobs.add(job_record(ports, job_id, **changes))
    output = output_path or _folder(root, f"{job_id}/output", weights_base="/weights/base")
    ports.jobs.transition(
        job_id, JobStatus.CREATED, JobStatus.SUCCEEDED, output_path=output,
        finished_at=clock.now(),
    )  # fmt: skip
    progress = Progress(checkpoints=[Checkpoint(step=2, epoch=1, path=ckpt)])
    ports.jobs.save_progress(job_id, progress, clock.now())
    if deleted:
        ports.jobs.mark_deleted(job_id, clock.now())
    return job_id


def test_base_models_resolve_to_their_folder(service: Service) -> None:
    tiny = service.served.base("tiny-chat")
    catalogued = service.ports.catalog.get("tiny-chat")
    assert catalogued is not None
    assert (tiny.base, tiny.adapter, tiny.task_type) == (
        catalogued.path, None, TaskType.GENERATION
    )  # fmt: skip
    assert tiny.job is None and tiny.base_model == "tiny-chat"
    with pytest.raises(errors.InvalidRequest, match="without labels"):
        service.served.base("minilm-l6")  # a bare encoder: nothing to label with
    with pytest.raises(errors.ServedModelNotFound, match="`gpt-5` does not exist"):
        service.served.base("gpt-5")
    assert [m.name for m in service.served.bases()] == ["minilm-l6", "tiny-chat"]


def test_a_lora_result_is_its_adapter_on_the_recorded_weights(
    service: Service, ports: Ports, tmp_path: Path
) -> None:
    _succeeded(ports, tmp_path, "lora1")
    final = service.served.tuned("ws", "lora1", name="m")
    assert final.base == "/weights/base" and final.adapter == str(tmp_path / "lora1/output")
    assert final.job is not None and final.job.id == "lora1" and final.step is None
    step = service.served.tuned("ws", "lora1", step=2, name="m")
    assert (step.base, step.adapter) == ("/weights/of/ckpt", str(tmp_path / "lora1/ckpt-2"))
    assert step.step == 2
    with pytest.raises(errors.ServedModelNotFound, match="checkpoints at steps 2"):
        service.served.tuned("ws", "lora1", step=3, name="m")


def test_without_a_manifest_the_adapter_sits_on_the_base_model(
    service: Service, ports: Ports, tmp_path: Path
) -> None:
    _succeeded(ports, tmp_path, "bare1", output_path=_folder(tmp_path, "bare-output"))
    catalogued = service.ports.catalog.get("tiny-chat")
    assert catalogued is not None
    assert service.served.tuned("ws", "bare1", name="m").base == catalogued.path


def test_a_full_result_is_its_own_base(service: Service, ports: Ports, tmp_path: Path) -> None:
    _succeeded(ports, tmp_path, "full1", method=Method.FULL, task_type=TaskType.CLASSIFICATION)
    model = service.served.tuned("ws", "full1", name="m")
    assert (model.base, model.adapter) == (str(tmp_path / "full1/output"), None)
    assert model.task_type is TaskType.CLASSIFICATION


def test_what_cannot_be_served(service: Service, ports: Ports, tmp_path: Path) -> None:
    _succeeded(ports, tmp_path, "mine1")
    ports.jobs.add(job_record(ports, "running1", status=JobStatus.RUNNING))
    _succeeded(ports, tmp_path, "theirs1", workspace="other")
    _succeeded(ports, tmp_path, "gone1", deleted=True)
    _succeeded(ports, tmp_path, "wiped1", output_path=str(tmp_path / "nothing-here"))
    tuned = service.served.tuned
    with pytest.raises(errors.ModelNotReady, match=r"`m` is not ready: .* running"):
        tuned("ws", "running1", name="m")
    for job_id in ("theirs1", "gone1", "no-such-job"):
        with pytest.raises(errors.ServedModelNotFound, match="does not exist") as caught:
            tuned("ws", job_id, name="m")
        assert not isinstance(caught.value, errors.ModelNotReady)
        assert caught.value.param == "model"
    with pytest.raises(errors.ServedModelNotFound, match="weights of the model `m` are gone"):
        tuned("ws", "wiped1", name="m")
    assert tuned("ws", "mine1", name="m").job is not None


def test_deleting_a_tuned_model_keeps_its_job(
    service: Service, ports: Ports, tmp_path: Path
) -> None:
    older = _succeeded(ports, tmp_path, "older1")
    newer = _succeeded(ports, tmp_path, "newer1")
    ports.jobs.add(job_record(ports, "running1", status=JobStatus.RUNNING))
    assert [j.id for j in service.served.tuned_jobs("ws")] == [newer, older]
    assert service.served.tuned_jobs("other") == []
    deleted = service.served.delete("ws", older, name="m")
    assert deleted.model_deleted_at == ports.clock.now()
    assert [j.id for j in service.served.tuned_jobs("ws")] == [newer]
    job = service.jobs.get("ws", older)  # the job stays, with its history
    assert job.status is JobStatus.SUCCEEDED and not job.deleted
    for step in (None, 2):  # its checkpoints go with it
        with pytest.raises(errors.ServedModelNotFound, match="has been deleted"):
            service.served.tuned("ws", older, step=step, name="m")
    with pytest.raises(errors.ServedModelNotFound, match="has been deleted"):
        service.served.delete("ws", older, name="m")
    with pytest.raises(errors.ModelNotReady):
        service.served.delete("ws", "running1", name="m")
    with pytest.raises(errors.ServedModelNotFound):
        service.served.delete("other", newer, name="m")


def test_the_repository_deletes_a_model_once(ports: Ports) -> None:
    ports.jobs.add(job_record(ports, "j1", status=JobStatus.SUCCEEDED))
    stored = ports.jobs.get("j1")
    assert stored is not None and stored.model_deleted_at is None
    when = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
    assert ports.jobs.delete_model("j1", when) is True
    assert ports.jobs.delete_model("j1", when + dt.timedelta(hours=1)) is False
    stored = ports.jobs.get("j1")
    assert stored is not None and stored.model_deleted_at == when and stored.updated_at == when
    assert ports.jobs.delete_model("no-such-job", when) is False


def test_migration_0009_leaves_existing_models_live(tmp_path: Path) -> None:
    engine = database.connect(f"sqlite:///{tmp_path / 'm.db'}")
    config = Config()
    config.set_main_option("script_location", str(database._MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0008")
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    row = {
        "id": "old1", "workspace_id": "ws", "display_name": "old1", "base_model": "tiny-chat",
        "task_type": "generation", "method": "lora", "hyperparameters": {},
        "dialect": "openai", "created_via": "API", "status": "succeeded", "progress": {},
        "created_at": when, "updated_at": when, "attempts": 0, "deleted": False,
    }  # fmt: skip
    with engine.begin() as conn:
        conn.execute(sa.insert(tables.jobs).values(**row))
    database.migrate(engine)
    job = sql.SqlJobs(engine).get("old1")
    assert job is not None and job.model_deleted_at is None
