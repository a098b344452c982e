"""A RUNNING deployment can be pointed at another model (Qianfan's ModifyService) and keeps
its id, name, capacity and slots; a deployment that is not RUNNING cannot, on every
backend."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.contract.test_published import _service, _succeeded
from tuneyard import errors
from tuneyard.core.deployment_admin import Source
from tuneyard.core.deployments import DeploymentStatus
from tuneyard.core.ports import Ports


def test_retarget_keeps_the_deployment_and_changes_its_model(ports: Ports, tmp_path: Path) -> None:
    service = _service(ports, tmp_path)
    _succeeded(ports, tmp_path, "done0001")
    deployer = service.deployments
    first = deployer.create(
        "ws", name="svc", source=Source("tiny-chat"), capacity=2, dialect="qianfan"
    )
    assert first.status is DeploymentStatus.RUNNING and first.job_id is None
    job = service.served.job("ws", "done0001", name="v2")
    moved = deployer.retarget("ws", "svc", Source("v2", job, 2), attributes={"modelId": "v2"})
    assert (moved.id, moved.name, moved.capacity) == (first.id, "svc", 2)
    assert (moved.model, moved.job_id, moved.step, moved.adapter) == ("v2", "done0001", 2, True)
    assert moved.attributes["modelId"] == "v2" and ports.deployments.reserved() == 2
    _, weights = deployer.serve("ws", "svc") or (None, None)
    assert weights is not None and weights.step == 2
    with pytest.raises(errors.ServedModelNotFound):  # weights that are not there: no change
        deployer.retarget("ws", "svc", Source("v3", job, 9))
    assert ports.deployments.get(first.id) == moved
    failed = dataclasses.replace(moved, id="dep-failed", name="failed")
    ports.deployments.add(failed, total_slots=64)
    ports.deployments.transition(
        "dep-failed", DeploymentStatus.RUNNING, DeploymentStatus.DELETING, moved.updated_at
    )
    assert ports.deployments.retarget(failed) is None
    with pytest.raises(errors.InvalidTransition):
        deployer.retarget("ws", "failed", Source("v2", job, 2))
