"""Deployments in a dict: the same contract as `sql_deployments`, one lock for atomicity."""

from __future__ import annotations

import builtins
import copy
import dataclasses
import threading
from datetime import datetime

from tuneyard import errors
from tuneyard.core import deployments
from tuneyard.core.deployments import LIVE, Deployment, DeploymentStatus, check_transition
from tuneyard.core.paging import Cursor, Slice
from tuneyard.core.ports import DeploymentPage

__all__ = ["MemoryDeployments"]


def _order(items: list[Deployment]) -> list[Deployment]:
    return sorted(items, key=lambda d: (d.created_at, d.id), reverse=True)


class MemoryDeployments:
    """Deployment records and the slots they hold, under one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, Deployment] = {}

    def _held(self) -> int:
        return sum(d.slots for d in self._items.values())

    def add(self, deployment: Deployment, *, total_slots: int) -> None:
        """Insert it and reserve its capacity."""
        with self._lock:
            held = self._held()
            if held + deployment.slots > total_slots:
                raise deployments.capacity_refused(
                    deployment.capacity, free=total_slots - held, total=total_slots
                )
            if any(
                d.workspace_id == deployment.workspace_id and d.name == deployment.name
                for d in self._items.values()
            ):
                raise errors.DeploymentNameTaken(
                    f"Model instance {deployment.name} already exists, please specify a suffix",
                    param="name",
                )
            if deployment.id in self._items:
                raise ValueError(f"duplicate deployment id {deployment.id}")
            self._items[deployment.id] = copy.deepcopy(deployment)

    def get(self, deployment_id: str) -> Deployment | None:
        """A copy of the deployment, or None."""
        with self._lock:
            return copy.deepcopy(self._items.get(deployment_id))

    def find(self, workspace_id: str, name: str) -> Deployment | None:
        """The workspace's deployment called `name`, or None."""
        with self._lock:
            for d in self._items.values():
                if d.workspace_id == workspace_id and d.name == name:
                    return copy.deepcopy(d)
            return None

    def page(self, workspace_id: str, *, offset: int, limit: int) -> DeploymentPage:
        """A page in the stable order, and the workspace's count."""
        with self._lock:
            mine = _order([d for d in self._items.values() if d.workspace_id == workspace_id])
            return DeploymentPage(copy.deepcopy(mine[offset : offset + limit]), len(mine))

    def slice(self, workspace_id: str, *, after: Cursor | None, limit: int) -> Slice[Deployment]:
        """The workspace's deployments after the cursor."""
        with self._lock:
            mine = _order([d for d in self._items.values() if d.workspace_id == workspace_id])
        if after is not None:
            mine = [d for d in mine if (d.created_at, d.id) < (after.created_at, after.id)]
        return Slice(copy.deepcopy(mine[:limit]), len(mine) > limit)

    def serving(self, job_id: str) -> builtins.list[Deployment]:
        """The deployments of the job's tuned model or checkpoints."""
        with self._lock:
            found = [d for d in self._items.values() if d.job_id == job_id]
        return copy.deepcopy(sorted(found, key=lambda d: (d.created_at, d.id)))

    def transition(
        self,
        deployment_id: str,
        old: DeploymentStatus,
        new: DeploymentStatus,
        updated_at: datetime,
        *,
        error: str | None = None,
    ) -> bool:
        """`old` → `new` by compare-and-set (slots follow the status)."""
        check_transition(old, new)
        with self._lock:
            found = self._items.get(deployment_id)
            if found is None or found.status is not old:
                return False
            self._items[deployment_id] = dataclasses.replace(
                found, status=new, updated_at=updated_at, error=error
            )
            return True

    def scale(
        self, deployment_id: str, capacity: int, updated_at: datetime, *, total_slots: int
    ) -> Deployment | None:
        """Set a live deployment's capacity if the machine has the slots."""
        with self._lock:
            found = self._items.get(deployment_id)
            if found is None or found.status not in LIVE:
                return None
            held = self._held()
            if held - found.capacity + capacity > total_slots:
                raise deployments.capacity_refused(
                    capacity, free=total_slots - held + found.capacity, total=total_slots
                )
            scaled = dataclasses.replace(found, capacity=capacity, updated_at=updated_at)
            self._items[deployment_id] = scaled
            return copy.deepcopy(scaled)

    def remove(self, deployment_id: str) -> bool:
        """Forget it."""
        with self._lock:
            return self._items.pop(deployment_id, None) is not None

    def reserved(self) -> int:
        """Slots the live deployments hold."""
        with self._lock:
            return self._held()

    def retarget(self, deployment: Deployment) -> Deployment | None:
        """Serve another model, if it is still RUNNING."""
        with self._lock:
            found = self._items.get(deployment.id)
            if found is None or found.status is not DeploymentStatus.RUNNING:
                return None
            changed = dataclasses.replace(
                found,
                model=deployment.model,
                base_model=deployment.base_model,
                job_id=deployment.job_id,
                step=deployment.step,
                adapter=deployment.adapter,
                attributes=dict(deployment.attributes),
                updated_at=deployment.updated_at,
            )
            self._items[deployment.id] = changed
            return copy.deepcopy(changed)
