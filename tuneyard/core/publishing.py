"""Publishing tuned models under a name, in numbered versions (`core.published`): create,
read, list and delete published models; add a version from a succeeded job's output or
checkpoint; resolve a version to the weights to run.

Another workspace's model or version is not-found, the same as one that never existed.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from tuneyard import errors
from tuneyard.core import ids
from tuneyard.core.paging import Cursor, Slice, cursor_at
from tuneyard.core.ports import Ports
from tuneyard.core.published import PublishedModel, PublishedVersion
from tuneyard.core.queries import Jobs
from tuneyard.core.served import Served, ServedModel
from tuneyard.core.states import JobStatus

__all__ = ["Publishing"]


class Publishing:
    """Published models and their versions, for the workspace that owns them."""

    def __init__(self, ports: Ports, jobs: Jobs, served: Served) -> None:
        self.ports = ports
        self.jobs = jobs
        self.served = served

    # -- models ------------------------------------------------------------------------
    def create(
        self,
        workspace_id: str,
        *,
        name: str,
        kind: str,
        dialect: str,
        id_style: ids.IdStyle,
        description: str = "",
        labels: Sequence[str] = (),
        created_by: str | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> PublishedModel:
        """A new published model with no versions: PublishedNameTaken when the workspace
        has one of that name."""
        now = self.ports.clock.now()
        model = PublishedModel(
            id=id_style.mint(now),
            workspace_id=workspace_id,
            name=name,
            kind=kind,
            dialect=dialect,
            created_at=now,
            updated_at=now,
            description=description,
            labels=tuple(labels),
            created_by=created_by,
            attributes=dict(attributes or {}),
        )
        self.ports.published.add_model(model)
        return model

    def get(self, workspace_id: str, model_id: str, *, param: str = "model") -> PublishedModel:
        """The workspace's published model; PublishedNotFound otherwise."""
        found = self.ports.published.get_model(model_id)
        if found is None or found.workspace_id != workspace_id:
            raise errors.PublishedNotFound(f"model {model_id} does not exist", param=param)
        return found

    def find(self, workspace_id: str, name: str, *, param: str = "name") -> PublishedModel:
        """The workspace's published model called `name`; PublishedNotFound otherwise."""
        found = self.ports.published.find_model(workspace_id, name)
        if found is None:
            raise errors.PublishedNotFound(f"model {name} does not exist", param=param)
        return found

    def list(
        self, workspace_id: str, *, marker: str | None, limit: int, oldest_first: bool = False
    ) -> Slice[PublishedModel]:
        """A page of the workspace's published models after the one named `marker`
        (exclusive; newest first unless `oldest_first`)."""
        after: Cursor | None = None
        if marker:
            after = cursor_at(marker, self.ports.published.get_model(marker), workspace_id)
        return self.ports.published.slice_models(
            workspace_id, after=after, limit=limit, oldest_first=oldest_first
        )

    def delete(self, workspace_id: str, model_id: str, *, param: str = "model") -> None:
        """Delete a published model and its versions (the jobs and weights stay):
        ModelDeployed while a deployment (of any status) serves one of its versions."""
        model = self.get(workspace_id, model_id, param=param)
        for version in self.ports.published.versions(model.id):
            self._check_unserved(version)
        if not self.ports.published.remove_model(model.id):
            raise errors.PublishedNotFound(f"model {model_id} does not exist", param=param)

    # -- versions ----------------------------------------------------------------------
    def publish(
        self,
        workspace_id: str,
        model_id: str,
        *,
        job_id: str,
        step: int | None,
        id_style: ids.IdStyle,
        description: str = "",
        created_by: str | None = None,
        attributes: dict[str, Any] | None = None,
        params: tuple[str, str, str] = ("model", "job", "step"),
    ) -> PublishedVersion:
        """Add the next version of a published model from the workspace's succeeded job:
        its final model (step None) or a kept checkpoint. `params` name the model, job and
        step fields in the caller's dialect, for the errors."""
        model_param, job_param, step_param = params
        model = self.get(workspace_id, model_id, param=model_param)
        self._check_job(workspace_id, job_id, step, job_param, step_param)
        now = self.ports.clock.now()
        version = PublishedVersion(
            id=id_style.mint(now),
            model_id=model.id,
            workspace_id=workspace_id,
            job_id=job_id,
            created_at=now,
            step=step,
            description=description,
            created_by=created_by,
            attributes=dict(attributes or {}),
        )
        numbered = self.ports.published.add_version(version, now)
        if numbered is None:  # the model was deleted meanwhile
            raise errors.PublishedNotFound(f"model {model_id} does not exist", param=model_param)
        return numbered

    def version(
        self, workspace_id: str, version_id: str, *, param: str = "version"
    ) -> PublishedVersion:
        """The workspace's published version; PublishedNotFound otherwise."""
        found = self.ports.published.get_version(version_id)
        if found is None or found.workspace_id != workspace_id:
            raise errors.PublishedNotFound(
                f"model version {version_id} does not exist", param=param
            )
        return found

    def versions(self, model: PublishedModel) -> builtins.list[PublishedVersion]:
        """The model's versions, by number."""
        return self.ports.published.versions(model.id)

    def delete_version(self, workspace_id: str, version_id: str, *, param: str = "version") -> None:
        """Delete one version (its job and weights stay): ModelDeployed while a deployment
        (of any status) serves it."""
        version = self.version(workspace_id, version_id, param=param)
        self._check_unserved(version)
        if not self.ports.published.remove_version(version.id, self.ports.clock.now()):
            raise errors.PublishedNotFound(
                f"model version {version_id} does not exist", param=param
            )

    def weights(self, version: PublishedVersion) -> ServedModel:
        """What to run for a version: its job's output or checkpoint (the errors of
        `Served.tuned` when the job's model is gone)."""
        return self.served.tuned(
            version.workspace_id, version.job_id, step=version.step, name=version.id
        )

    # -- checks ------------------------------------------------------------------------
    def _check_job(
        self, workspace_id: str, job_id: str, step: int | None, job_param: str, step_param: str
    ) -> None:
        try:
            job = self.jobs.get(workspace_id, job_id)
        except errors.JobNotFound:
            raise errors.JobNotFound(f"task {job_id} does not exist", param=job_param) from None
        if job.model_deleted_at is not None:
            raise errors.ServedModelNotFound(
                f"the model of task {job_id} has been deleted", param=job_param
            )
        if job.status is not JobStatus.SUCCEEDED:
            raise errors.InvalidTransition(
                f"task {job_id} is {job.status.value}; only a succeeded task can be published",
                param=job_param,
            )
        if step is not None and not any(c.step == step for c in job.progress.checkpoints):
            kept = ", ".join(str(c.step) for c in job.progress.checkpoints) or "none"
            raise errors.CheckpointNotFound(
                f"task {job_id} keeps no checkpoint at step {step} (kept: {kept})",
                param=step_param,
            )

    def _check_unserved(self, version: PublishedVersion) -> None:
        serving = [
            d for d in self.ports.deployments.serving(version.job_id) if d.model == version.id
        ]
        if serving:
            names = ", ".join(d.name for d in serving)
            raise errors.ModelDeployed(
                f"model version {version.id} is served by {names}; delete that first"
            )
