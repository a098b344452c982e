"""Published models and their versions: every backend keeps the same contract (names
unique per workspace, versions numbered per model even under concurrent adds, removal
takes the versions along), and the use-case publishes only a workspace's succeeded jobs
and keeps a served version until its deployment is gone."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest

from tests.support import world
from tuneyard import errors
from tuneyard.core import ids
from tuneyard.core.checkpoints import Checkpoint
from tuneyard.core.deployment_admin import Source
from tuneyard.core.jobs import Progress
from tuneyard.core.paging import Cursor
from tuneyard.core.ports import Ports
from tuneyard.core.published import PublishedModel, PublishedVersion
from tuneyard.core.service import Service
from tuneyard.core.states import JobStatus
from tuneyard.datasets.report import Limits

SETS = ids.IdStyle(prefix="am-", length=12)
VERSIONS = ids.IdStyle(prefix="amv-", length=12)


def _model(ports: Ports, model_id: str, name: str, workspace: str = "ws") -> PublishedModel:
    now = ports.clock.now()
    return PublishedModel(
        id=model_id,
        workspace_id=workspace,
        name=name,
        kind="Text2Text",
        dialect="qianfan",
        created_at=now,
        updated_at=now,
        description="d",
        labels=("a", "b"),
        attributes={"x": 1},
    )


def _version(
    ports: Ports, version_id: str, model_id: str, step: int | None = None
) -> PublishedVersion:
    return PublishedVersion(
        id=version_id,
        model_id=model_id,
        workspace_id="ws",
        job_id="job00001",
        created_at=ports.clock.now(),
        step=step,
    )


def test_a_model_round_trips_and_its_name_is_unique_per_workspace(ports: Ports) -> None:
    model = _model(ports, "am-1", "greeter")
    ports.published.add_model(model)
    assert ports.published.get_model("am-1") == model
    assert ports.published.find_model("ws", "greeter") == model
    assert ports.published.find_model("other", "greeter") is None
    with pytest.raises(errors.PublishedNameTaken):
        ports.published.add_model(_model(ports, "am-2", "greeter"))
    ports.published.add_model(_model(ports, "am-3", "greeter", workspace="other"))
    assert ports.published.get_model("missing") is None


def test_models_list_newest_first_after_a_cursor(ports: Ports) -> None:
    clock = ports.clock
    assert isinstance(clock, world.ManualClock)
    for i in range(3):
        clock.advance(1)
        ports.published.add_model(_model(ports, f"am-{i}", f"m{i}"))
    ports.published.add_model(_model(ports, "am-x", "theirs", workspace="other"))
    page = ports.published.slice_models("ws", after=None, limit=2)
    assert [m.id for m in page.items] == ["am-2", "am-1"] and page.more
    last = page.items[-1]
    rest = ports.published.slice_models("ws", after=Cursor(last.created_at, last.id), limit=2)
    assert [m.id for m in rest.items] == ["am-0"] and not rest.more
    oldest = ports.published.slice_models("ws", after=None, limit=5, oldest_first=True)
    assert [m.id for m in oldest.items] == ["am-0", "am-1", "am-2"]


def test_versions_are_numbered_per_model_and_go_with_it(ports: Ports) -> None:
    ports.published.add_model(_model(ports, "am-1", "a"))
    ports.published.add_model(_model(ports, "am-2", "b"))
    later = ports.clock.now() + dt.timedelta(seconds=5)
    first = ports.published.add_version(_version(ports, "amv-1", "am-1"), later)
    assert first is not None and first.number == 1
    second = ports.published.add_version(_version(ports, "amv-2", "am-1", step=2), later)
    assert second is not None and (second.number, second.step) == (2, 2)
    other = ports.published.add_version(_version(ports, "amv-3", "am-2"), later)
    assert other is not None and other.number == 1
    assert ports.published.get_version("amv-2") == second
    assert [v.id for v in ports.published.versions("am-1")] == ["amv-1", "amv-2"]
    touched = ports.published.get_model("am-1")
    assert touched is not None and touched.updated_at == later
    assert ports.published.remove_version("amv-1", later)
    assert not ports.published.remove_version("amv-1", later)
    third = ports.published.add_version(_version(ports, "amv-4", "am-1"), later)
    assert third is not None and third.number == 3  # a number is never reused
    assert ports.published.remove_model("am-1")
    assert not ports.published.remove_model("am-1")
    assert ports.published.get_version("amv-2") is None and ports.published.versions("am-1") == []
    assert ports.published.add_version(_version(ports, "amv-5", "am-1"), later) is None
    assert ports.published.get_version("amv-3") == other


def test_concurrent_versions_get_distinct_numbers(ports: Ports) -> None:
    ports.published.add_model(_model(ports, "am-1", "a"))
    numbers: list[int] = []
    lock = threading.Lock()

    def add(i: int) -> None:
        made = ports.published.add_version(_version(ports, f"amv-{i}", "am-1"), ports.clock.now())
        assert made is not None
        with lock:
            numbers.append(made.number)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(numbers) == [1, 2, 3, 4, 5, 6]


def _service(ports: Ports, root: Path) -> Service:
    return Service(ports, data_dir=root, limits=Limits(max_bytes=1 << 20, min_rows=1))


def _succeeded(ports: Ports, root: Path, job_id: str, workspace: str = "ws") -> None:
    """A job stored as the scheduler leaves a succeeded LoRA one: its output and a
    checkpoint at step 2 on disk."""
    output = root / "jobs" / job_id / "output"
    kept = root / "jobs" / job_id / "checkpoints" / "step-00000002"
    for folder in (output, kept):
        folder.mkdir(parents=True)
        (folder / "adapter_config.json").write_text("{}")
    now = ports.clock.now()
    ports.jobs.add(world.job_record(ports, job_id, workspace))
    ports.jobs.transition(
        job_id, JobStatus.CREATED, JobStatus.SUCCEEDED, output_path=str(output), finished_at=now
    )
    progress = Progress(checkpoints=[Checkpoint(step=2, epoch=1, path=str(kept))])
    ports.jobs.save_progress(job_id, progress, now)


def test_publishing_takes_a_workspaces_succeeded_job_only(ports: Ports, tmp_path: Path) -> None:
    service = _service(ports, tmp_path)
    _succeeded(ports, tmp_path, "done0001")
    _succeeded(ports, tmp_path, "them0001", workspace="other")
    ports.jobs.add(world.job_record(ports, "queued01"))
    publishing = service.publishing
    model = publishing.create(
        "ws", name="greeter", kind="Text2Text", dialect="qianfan", id_style=SETS
    )
    assert SETS.pattern.match(model.id)
    version = publishing.publish("ws", model.id, job_id="done0001", step=None, id_style=VERSIONS)
    assert VERSIONS.pattern.match(version.id) and version.number == 1
    at_two = publishing.publish("ws", model.id, job_id="done0001", step=2, id_style=VERSIONS)
    assert publishing.weights(at_two).step == 2
    with pytest.raises(errors.CheckpointNotFound):
        publishing.publish("ws", model.id, job_id="done0001", step=3, id_style=VERSIONS)
    with pytest.raises(errors.InvalidTransition):
        publishing.publish("ws", model.id, job_id="queued01", step=None, id_style=VERSIONS)
    with pytest.raises(errors.JobNotFound):
        publishing.publish("ws", model.id, job_id="them0001", step=None, id_style=VERSIONS)
    with pytest.raises(errors.PublishedNotFound):
        publishing.get("other", model.id)
    with pytest.raises(errors.PublishedNotFound):
        publishing.version("other", version.id)
    with pytest.raises(errors.PublishedNameTaken):
        publishing.create("ws", name="greeter", kind="Text2Text", dialect="qianfan", id_style=SETS)
    listed = publishing.list("ws", marker=None, limit=10)
    assert [m.id for m in listed.items] == [model.id]
    with pytest.raises(errors.InvalidRequest):
        publishing.list("other", marker=model.id, limit=10)  # another's id is no marker


def test_a_served_version_is_kept_until_its_deployment_goes(ports: Ports, tmp_path: Path) -> None:
    service = _service(ports, tmp_path)
    _succeeded(ports, tmp_path, "done0001")
    publishing = service.publishing
    model = publishing.create(
        "ws", name="greeter", kind="Text2Text", dialect="qianfan", id_style=SETS
    )
    version = publishing.publish("ws", model.id, job_id="done0001", step=None, id_style=VERSIONS)
    job = service.served.job("ws", "done0001", name=version.id)
    deployment = service.deployments.create(
        "ws", name="greeter-v1", source=Source(version.id, job), capacity=1, dialect="qianfan"
    )
    assert deployment.status.value == "RUNNING", deployment.error
    with pytest.raises(errors.ModelDeployed):
        publishing.delete_version("ws", version.id)
    with pytest.raises(errors.ModelDeployed):
        publishing.delete("ws", model.id)
    service.deployments.delete("ws", "greeter-v1")
    publishing.delete_version("ws", version.id)
    publishing.delete("ws", model.id)
    with pytest.raises(errors.PublishedNotFound):
        publishing.get("ws", model.id)
    assert service.jobs.get("ws", "done0001").status is JobStatus.SUCCEEDED  # the job stays
