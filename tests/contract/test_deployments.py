"""Deployments on every backend: the record (names per workspace, paging, compare-and-set
statuses), the slot ledger (never past the total, even under concurrent creates; freed by
failure, scale-down and delete), the use-cases (roll-out to RUNNING or FAILED, scale,
delete, what a deployed model runs) and the refusal to delete a deployed job's model."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest

from tests.support.world import ManualClock, job_record
from tuneyard import errors
from tuneyard.core.checkpoints import Checkpoint
from tuneyard.core.deployment_admin import Source
from tuneyard.core.deployments import Deployment, DeploymentStatus
from tuneyard.core.jobs import Progress
from tuneyard.core.ports import Ports
from tuneyard.core.service import Service
from tuneyard.core.states import JobStatus
from tuneyard.datasets.report import Limits

_D = DeploymentStatus
TOTAL = 10


@pytest.fixture
def service(ports: Ports, tmp_path: Path) -> Service:
    return Service(
        ports,
        data_dir=tmp_path,
        limits=Limits(max_bytes=10_000, min_rows=1),
        inference_slots=TOTAL,
    )


def _record(ports: Ports, id: str, name: str, *, workspace: str = "ws", capacity: int = 1):  # type: ignore[no-untyped-def]
    clock = ports.clock
    assert isinstance(clock, ManualClock)
    clock.advance(1)
    now = clock.now()
    return Deployment(
        id=id,
        workspace_id=workspace,
        name=name,
        model="tiny-chat",
        base_model="tiny-chat",
        capacity=capacity,
        status=_D.PENDING,
        dialect="dashscope",
        created_at=now,
        updated_at=now,
        attributes={"plan": "lora", "suffix": "x"},
    )


def _succeeded(ports: Ports, root: Path, job_id: str, *, output_name: str) -> str:
    """A succeeded LoRA job with its output and a checkpoint at step 2 on disk."""
    output, ckpt = root / job_id / "output", root / job_id / "ckpt-2"
    output.mkdir(parents=True)
    ckpt.mkdir(parents=True)
    clock = ports.clock
    assert isinstance(clock, ManualClock)
    clock.advance(1)
    ports.jobs.add(job_record(ports, job_id, output_name=output_name))
    ports.jobs.transition(
        job_id, JobStatus.CREATED, JobStatus.SUCCEEDED, output_path=str(output),
        finished_at=clock.now(),
    )  # fmt: skip
    checkpoint = Checkpoint(step=2, epoch=1, path=str(ckpt), model_name=f"{output_name}-ck2")
    ports.jobs.save_progress(job_id, Progress(checkpoints=[checkpoint]), clock.now())
    return job_id


# -- the repository ---------------------------------------------------------------------
def test_a_deployment_reads_back_as_stored(ports: Ports) -> None:
    stored = _record(ports, "dep-1", "tiny-chat-x", capacity=3)
    ports.deployments.add(stored, total_slots=TOTAL)
    assert ports.deployments.get("dep-1") == stored
    assert ports.deployments.find("ws", "tiny-chat-x") == stored
    assert ports.deployments.find("other", "tiny-chat-x") is None
    assert ports.deployments.get("dep-nope") is None
    assert ports.deployments.reserved() == 3


def test_names_are_unique_per_workspace(ports: Ports) -> None:
    ports.deployments.add(_record(ports, "dep-1", "m"), total_slots=TOTAL)
    with pytest.raises(errors.DeploymentNameTaken, match="already exists"):
        ports.deployments.add(_record(ports, "dep-2", "m"), total_slots=TOTAL)
    assert ports.deployments.reserved() == 1  # the refused one reserved nothing
    ports.deployments.add(_record(ports, "dep-3", "m", workspace="other"), total_slots=TOTAL)
    ports.deployments.remove("dep-1")
    ports.deployments.add(_record(ports, "dep-4", "m"), total_slots=TOTAL)  # freed by delete


def test_pages_and_slices_in_the_stable_order(ports: Ports) -> None:
    for i in range(5):
        ports.deployments.add(_record(ports, f"dep-{i}", f"m{i}"), total_slots=TOTAL)
    ports.deployments.add(_record(ports, "dep-x", "mx", workspace="other"), total_slots=TOTAL)
    page = ports.deployments.page("ws", offset=1, limit=2)
    assert [d.name for d in page.items] == ["m3", "m2"] and page.total == 5
    first = ports.deployments.slice("ws", after=None, limit=3)
    assert [d.name for d in first.items] == ["m4", "m3", "m2"] and first.more
    last = first.items[-1]
    from tuneyard.core.paging import Cursor

    rest = ports.deployments.slice("ws", after=Cursor(last.created_at, last.id), limit=3)
    assert [d.name for d in rest.items] == ["m1", "m0"] and not rest.more


def test_the_total_is_never_passed(ports: Ports) -> None:
    ports.deployments.add(_record(ports, "dep-1", "a", capacity=6), total_slots=TOTAL)
    with pytest.raises(errors.CapacityExceeded, match="4 of its 10"):
        ports.deployments.add(_record(ports, "dep-2", "b", capacity=5), total_slots=TOTAL)
    assert ports.deployments.find("ws", "b") is None
    ports.deployments.add(_record(ports, "dep-3", "c", capacity=4), total_slots=TOTAL)
    assert ports.deployments.reserved() == TOTAL


def test_statuses_move_by_compare_and_set_and_failure_frees_the_slots(ports: Ports) -> None:
    ports.deployments.add(_record(ports, "dep-1", "a", capacity=4), total_slots=TOTAL)
    now = ports.clock.now()
    assert not ports.deployments.transition("dep-1", _D.DEPLOYING, _D.RUNNING, now)
    assert ports.deployments.transition("dep-1", _D.PENDING, _D.DEPLOYING, now)
    with pytest.raises(errors.InvalidTransition):
        ports.deployments.transition("dep-1", _D.DELETING, _D.RUNNING, now)
    assert ports.deployments.transition("dep-1", _D.DEPLOYING, _D.FAILED, now, error="gone")
    found = ports.deployments.get("dep-1")
    assert found is not None and (found.status, found.error) == (_D.FAILED, "gone")
    assert ports.deployments.reserved() == 0
    assert ports.deployments.scale("dep-1", 2, now, total_slots=TOTAL) is None  # not live
    assert not ports.deployments.transition("dep-nope", _D.PENDING, _D.DEPLOYING, now)


def test_scale_reserves_the_difference(ports: Ports) -> None:
    ports.deployments.add(_record(ports, "dep-1", "a", capacity=4), total_slots=TOTAL)
    ports.deployments.add(_record(ports, "dep-2", "b", capacity=4), total_slots=TOTAL)
    now = ports.clock.now()
    with pytest.raises(errors.CapacityExceeded, match="6 of its 10"):
        ports.deployments.scale("dep-1", 7, now, total_slots=TOTAL)
    scaled = ports.deployments.scale("dep-1", 6, now, total_slots=TOTAL)
    assert scaled is not None and scaled.capacity == 6
    assert ports.deployments.reserved() == TOTAL
    ports.deployments.scale("dep-2", 1, now, total_slots=TOTAL)
    assert ports.deployments.reserved() == 7
    assert ports.deployments.remove("dep-1") and not ports.deployments.remove("dep-1")
    assert ports.deployments.reserved() == 1
    assert ports.deployments.scale("dep-1", 1, now, total_slots=TOTAL) is None


def test_concurrent_creates_never_pass_the_total(ports: Ports) -> None:
    """Twelve creates of 3 slots race for 10: exactly three win, on every backend."""
    records = [_record(ports, f"dep-{i}", f"m{i}", capacity=3) for i in range(12)]
    won, refused = [], []
    start = threading.Barrier(len(records))

    def create(record: Deployment) -> None:
        start.wait()
        try:
            ports.deployments.add(record, total_slots=TOTAL)
            won.append(record.id)
        except errors.CapacityExceeded:
            refused.append(record.id)

    threads = [threading.Thread(target=create, args=(r,)) for r in records]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (len(won), len(refused)) == (3, 9)
    assert ports.deployments.reserved() == 9
    assert ports.deployments.page("ws", offset=0, limit=20).total == 3


# -- the use-cases ----------------------------------------------------------------------
def test_a_tuned_model_rolls_out_to_running(service: Service, ports: Ports, tmp_path: Path) -> None:
    _succeeded(ports, tmp_path, "job1", output_name="tiny-ft")
    source = service.deployments.source("ws", "tiny-ft")
    assert source.job is not None and (source.job.id, source.step) == ("job1", None)
    made = service.deployments.create(
        "ws", name="tiny-ft-a", source=source, capacity=2, dialect="dashscope"
    )
    assert (made.status, made.job_id, made.adapter, made.base_model) == (
        _D.RUNNING, "job1", True, "tiny-chat"
    )  # fmt: skip
    deployment, model = service.deployments.serve("ws", "tiny-ft-a") or (None, None)
    assert deployment == made and model is not None
    assert model.adapter == str(tmp_path / "job1" / "output")
    assert service.deployments.serve("other", "tiny-ft-a") is None  # another workspace's
    checkpoint = service.deployments.source("ws", "tiny-ft-ck2")
    assert (checkpoint.job and checkpoint.job.id, checkpoint.step) == ("job1", 2)
    base = service.deployments.source("ws", "tiny-chat")
    assert base.job is None
    with pytest.raises(errors.ServedModelNotFound):
        service.deployments.source("other", "tiny-ft")


def test_weights_that_are_gone_leave_it_failed_and_free(
    service: Service, ports: Ports, tmp_path: Path
) -> None:
    _succeeded(ports, tmp_path, "job1", output_name="tiny-ft")
    source = service.deployments.source("ws", "tiny-ft")
    (tmp_path / "job1" / "output").rename(tmp_path / "elsewhere")
    made = service.deployments.create(
        "ws", name="d", source=source, capacity=5, dialect="dashscope"
    )
    assert made.status is _D.FAILED and "gone" in (made.error or "")
    assert ports.deployments.reserved() == 0
    with pytest.raises(errors.ModelNotReady, match="FAILED"):
        service.deployments.serve("ws", "d")
    with pytest.raises(errors.InvalidTransition):
        service.deployments.scale("ws", "d", 1)


def test_capacity_is_checked_and_refused_with_the_reason(service: Service) -> None:
    base = service.deployments.source("ws", "tiny-chat")
    for capacity, error in ((0, errors.InvalidRequest), (TOTAL + 1, errors.CapacityExceeded)):
        with pytest.raises(error, match="capacity"):
            service.deployments.create(
                "ws", name="d", source=base, capacity=capacity, dialect="dashscope"
            )
    service.deployments.create("ws", name="d", source=base, capacity=8, dialect="dashscope")
    with pytest.raises(errors.CapacityExceeded, match="2 of its 10"):
        service.deployments.create("ws", name="e", source=base, capacity=3, dialect="dashscope")
    with pytest.raises(errors.DeploymentNameTaken):
        service.deployments.create("ws", name="d", source=base, capacity=1, dialect="dashscope")
    with pytest.raises(errors.InvalidRequest, match="not a deployment name"):
        service.deployments.create("ws", name="a b", source=base, capacity=1, dialect="x")
    assert service.deployments.scale("ws", "d", 10).capacity == 10
    with pytest.raises(errors.DeploymentNotFound):
        service.deployments.scale("other", "d", 1)


def test_delete_answers_deleting_then_it_is_gone(service: Service, ports: Ports) -> None:
    base = service.deployments.source("ws", "tiny-chat")
    service.deployments.create("ws", name="d", source=base, capacity=4, dialect="dashscope")
    with pytest.raises(errors.DeploymentNotFound):
        service.deployments.delete("other", "d")
    gone = service.deployments.delete("ws", "d")
    assert gone.status is _D.DELETING and ports.deployments.reserved() == 0
    with pytest.raises(errors.DeploymentNotFound):
        service.deployments.get("ws", "d")


def test_a_deployed_model_or_its_job_cannot_be_deleted(
    service: Service, ports: Ports, tmp_path: Path
) -> None:
    _succeeded(ports, tmp_path, "job1", output_name="tiny-ft")
    source = service.deployments.source("ws", "tiny-ft-ck2")
    service.deployments.create("ws", name="d", source=source, capacity=1, dialect="dashscope")
    with pytest.raises(errors.ModelDeployed, match="deployed as d"):
        service.served.delete("ws", "job1", name="tiny-ft")
    with pytest.raises(errors.ModelDeployed):
        service.control.delete("ws", "job1")
    service.deployments.delete("ws", "d")
    service.served.delete("ws", "job1", name="tiny-ft")
    job = ports.jobs.get("job1")
    assert job is not None and job.model_deleted_at is not None


def test_listing_pages_after_a_marker(service: Service) -> None:
    base = service.deployments.source("ws", "tiny-chat")
    clock = service.ports.clock
    assert isinstance(clock, ManualClock)
    for name in ("a", "b", "c"):
        clock.advance(1)
        service.deployments.create("ws", name=name, source=base, capacity=1, dialect="q")
    after = service.deployments.list_after("ws", marker="c", limit=5)
    assert [d.name for d in after.items] == ["b", "a"]
    with pytest.raises(errors.InvalidRequest):
        service.deployments.list_after("other", marker="c", limit=5)
    page = service.deployments.page("ws", offset=0, limit=2)
    assert [d.name for d in page.items] == ["c", "b"] and page.total == 3
    assert dataclasses.replace(page.items[0], capacity=1) == page.items[0]


def test_sources_are_what_they_name(service: Service) -> None:
    with pytest.raises(errors.ServedModelNotFound, match="not found"):
        service.deployments.source("ws", "no-such-model")
    assert isinstance(service.deployments.source("ws", "tiny-chat"), Source)


class _Recording:
    """The repository, with every status move it makes recorded."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.moves: list[tuple[str, str]] = []

    def transition(self, deployment_id: str, old: _D, new: _D, *args: object, **kw: object) -> bool:
        moved = bool(self.inner.transition(deployment_id, old, new, *args, **kw))  # type: ignore[attr-defined]
        if moved:
            self.moves.append((old.value, new.value))
        return moved

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_create_moves_pending_deploying_running(ports: Ports, tmp_path: Path) -> None:
    """The create call itself moves the record through every status, by compare-and-set;
    a delete moves it to DELETING before it is removed."""
    recording = _Recording(ports.deployments)
    watched = dataclasses.replace(ports, deployments=recording)  # type: ignore[arg-type]
    service = Service(
        watched,
        data_dir=tmp_path,
        limits=Limits(max_bytes=10_000, min_rows=1),
        inference_slots=TOTAL,
    )
    _succeeded(ports, tmp_path, "job1", output_name="tiny-ft")
    made = service.deployments.create(
        "ws", name="d", source=service.deployments.source("ws", "tiny-ft"), capacity=1, dialect="x"
    )
    assert made.status is _D.RUNNING
    assert recording.moves == [("PENDING", "DEPLOYING"), ("DEPLOYING", "RUNNING")]
    service.deployments.delete("ws", "d")
    assert recording.moves[-1] == ("RUNNING", "DELETING")
