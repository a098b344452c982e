"""Job group use-cases: create, get, list, delete (with their jobs), list a group's jobs
(the record: `groups`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tuneyard import errors
from tuneyard.core import groups, ids, paging
from tuneyard.core.control import Control
from tuneyard.core.jobs import Job
from tuneyard.core.paging import Slice
from tuneyard.core.ports import Ports
from tuneyard.core.queries import Jobs
from tuneyard.kinds import Objective, TaskType

__all__ = ["Groups"]

_MAX_NAME = 256
_MAX_DESCRIPTION = 4096


class Groups:
    """Use-cases of job groups: create, get, list, delete (with their jobs), list jobs."""

    def __init__(self, ports: Ports, jobs: Jobs, control: Control) -> None:
        self._ports = ports
        self._jobs = jobs
        self._control = control

    def create(
        self,
        workspace_id: str,
        *,
        name: str,
        description: str,
        base_model: str,
        objective: Objective,
        created_by: str | None = None,
        echo: Mapping[str, Any] | None = None,
    ) -> groups.JobGroup:
        """Store a new group; the base model must be a generation model of the catalogue."""
        if not 1 <= len(name) <= _MAX_NAME:
            raise errors.InvalidRequest(f"name must be 1-{_MAX_NAME} characters", param="name")
        if len(description) > _MAX_DESCRIPTION:
            raise errors.InvalidRequest(
                f"description must be at most {_MAX_DESCRIPTION} characters", param="description"
            )
        model = self._ports.catalog.get(base_model)
        if model is None:
            raise errors.ModelNotFound(f"model {base_model} not found", param="model")
        if TaskType.GENERATION not in model.task_types:
            raise errors.UnsupportedFeature(
                f"job groups hold generation runs; {model.name} is a classification model",
                param="model",
            )
        group = groups.JobGroup(
            id=ids.new_group_id(),
            workspace_id=workspace_id,
            name=name,
            description=description,
            base_model=model.name,
            objective=objective,
            created_at=self._ports.clock.now(),
            created_by=created_by,
            echo=dict(echo or {}),
        )
        self._ports.groups.add(group)
        return group

    def get(self, workspace_id: str, group_id: str, *, param: str | None = None) -> groups.JobGroup:
        """A live group of the workspace; raises GroupNotFound."""
        group = self._ports.groups.get(group_id)
        if group is None or group.deleted or group.workspace_id != workspace_id:
            message = f"job {group_id} not found" if param else None
            raise errors.GroupNotFound(message, param=param)
        return group

    def list(
        self,
        workspace_id: str,
        *,
        marker: str | None,
        limit: int,
        oldest_first: bool = False,
        base_model: str | None = None,
        objective: Objective | None = None,
    ) -> Slice[groups.JobGroup]:
        """The workspace's groups after the one named `marker` (exclusive), newest first."""
        after = (
            paging.cursor_at(marker, self._ports.groups.get(marker), workspace_id)
            if marker
            else None
        )
        return self._ports.groups.slice(
            workspace_id,
            after=after,
            limit=limit,
            oldest_first=oldest_first,
            base_model=base_model,
            objective=objective,
        )

    def jobs(
        self,
        group: groups.JobGroup,
        *,
        marker: str | None,
        limit: int,
        oldest_first: bool = False,
    ) -> Slice[Job]:
        """A group's jobs (the group as `get` returned it) after the one named `marker`
        (exclusive), newest first."""
        return self._jobs.list_after(
            group.workspace_id,
            marker=marker,
            limit=limit,
            oldest_first=oldest_first,
            group_id=group.id,
        )

    def delete(
        self, workspace_id: str, group_id: str, *, by: str | None = None, param: str | None = None
    ) -> None:
        """Delete a group and every job in it (jobs still running are cancelled first);
        GroupNotFound as `get` raises it."""
        group = self.get(workspace_id, group_id, param=param)
        while True:
            batch = self._ports.jobs.slice(workspace_id, after=None, limit=100, group_id=group.id)
            for job in batch.items:
                self._control.delete(workspace_id, job.id, by=by)
            if not batch.more:
                break
        self._ports.groups.mark_deleted(group.id)
