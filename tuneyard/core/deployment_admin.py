"""Deployment use-cases: create (reserve slots, roll out), get, list, scale, delete, and
what to run for a deployed model (the record: `deployments`).

Who moves the status: `create` itself. It stores the deployment PENDING with its slots
reserved, moves it to DEPLOYING, resolves the weights the engine will load (a bucket's
are fetched to this server's disk then), and moves it to RUNNING, or to FAILED with the
reason when the weights cannot be had. The engine loads a deployed adapter on first use
(and keeps up to --max-loaded-adapters), so a RUNNING deployment's weights are on disk and
resolvable, not necessarily in memory.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from tuneyard import errors
from tuneyard.core import deployments, ids, paging
from tuneyard.core.deployments import Deployment, DeploymentStatus
from tuneyard.core.jobs import Job
from tuneyard.core.paging import Slice
from tuneyard.core.ports import DeploymentPage, Ports
from tuneyard.core.served import Served, ServedModel
from tuneyard.kinds import Method, TaskType

__all__ = ["NAME_PATTERN", "Deployer", "Source"]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,255}$")
"""A deployment's name: what clients put in `model`, so no spaces or slashes."""

_D = DeploymentStatus


class Source:
    """The model a deployment serves: a base model (`job` None), or a job's tuned model
    (`step` None) or one of its checkpoints."""

    __slots__ = ("job", "name", "step")

    def __init__(self, name: str, job: Job | None = None, step: int | None = None) -> None:
        self.name = name
        self.job = job
        self.step = step


class Deployer:
    """Create, read, scale and delete deployments; resolve a deployed model to weights."""

    def __init__(self, ports: Ports, served: Served, *, total_slots: int) -> None:
        self.ports = ports
        self.served = served
        self.total_slots = total_slots
        """The machine's concurrent decoding slots (the engine's running-sequence limit):
        live deployments' capacities add up to this at most."""

    # -- what to deploy ----------------------------------------------------------------
    def source(self, workspace_id: str, name: str) -> Source:
        """The model called `name` for the workspace: a base model of the catalogue, a
        job's published tuned model, or a checkpoint exported under that name;
        ServedModelNotFound (ModelNotReady for a job not succeeded) otherwise."""
        if self.served.base_model(name) is not None:
            self.served.base(name)  # a bare encoder has nothing to serve
            return Source(name)
        job = self.ports.jobs.find_by_output_name(workspace_id, name)
        if job is not None:
            return Source(name, self.served.job(workspace_id, job.id, name=name))
        for tuned in self.served.tuned_jobs(workspace_id):
            for kept in tuned.progress.checkpoints:
                if kept.model_name == name:
                    return Source(name, tuned, kept.step)
        raise errors.ServedModelNotFound(
            f"Model: {name} not found! It is neither a base model nor a tuned model of "
            "this workspace.",
            param="model_name",
        )

    def deployable(self, workspace_id: str) -> list[str]:
        """The names `source` accepts for the workspace: the catalogue's generation base
        models with weights, then its tuned models and exported checkpoints (newest
        job first)."""
        names = [
            m.name for m in self.served.bases() if m.path and TaskType.GENERATION in m.task_types
        ]
        for job in self.served.tuned_jobs(workspace_id):
            if job.output_name:
                names.append(job.output_name)
            names += [c.model_name for c in job.progress.checkpoints if c.model_name]
        return names

    # -- use-cases ---------------------------------------------------------------------
    def create(
        self,
        workspace_id: str,
        *,
        name: str,
        source: Source,
        capacity: int,
        dialect: str,
        created_by: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> Deployment:
        """Deploy `source` as `name` with `capacity` slots reserved, and roll it out:
        DeploymentNameTaken (409) for a name the workspace has, CapacityExceeded (400) for
        more slots than are free; the deployment returned is RUNNING, or FAILED with why."""
        self._check_name(name)
        self._check_capacity(capacity)
        now = self.ports.clock.now()
        job = source.job
        deployment = Deployment(
            id=ids.new_deployment_id(),
            workspace_id=workspace_id,
            name=name,
            model=source.name,
            base_model=job.base_model if job is not None else source.name,
            capacity=capacity,
            status=_D.PENDING,
            dialect=dialect,
            created_at=now,
            updated_at=now,
            job_id=job.id if job is not None else None,
            step=source.step,
            adapter=job is not None and job.method is Method.LORA,
            created_by=created_by,
            attributes=dict(attributes or {}),
        )
        self.ports.deployments.add(deployment, total_slots=self.total_slots)
        self._roll_out(deployment)
        return self._reread(deployment)

    def get(self, workspace_id: str, name: str) -> Deployment:
        """The workspace's deployment called `name`; DeploymentNotFound otherwise."""
        found = self.ports.deployments.find(workspace_id, name)
        if found is None:
            raise errors.DeploymentNotFound(f"Model: {name} not found!", param="deployed_model")
        return found

    def page(self, workspace_id: str, *, offset: int, limit: int) -> DeploymentPage:
        """A page of the workspace's deployments, newest first, and how many it has."""
        return self.ports.deployments.page(workspace_id, offset=offset, limit=limit)

    def list_after(self, workspace_id: str, *, marker: str | None, limit: int) -> Slice[Deployment]:
        """Up to `limit` of the workspace's deployments after the one called `marker`."""
        after = None
        if marker:
            found = self.ports.deployments.find(workspace_id, marker)
            after = paging.cursor_at(marker, found, workspace_id)
        return self.ports.deployments.slice(workspace_id, after=after, limit=limit)

    def scale(self, workspace_id: str, name: str, capacity: int) -> Deployment:
        """Set a live deployment's capacity: CapacityExceeded past the free slots,
        InvalidTransition for a FAILED or DELETING one."""
        found = self.get(workspace_id, name)
        self._check_capacity(capacity, own=found.slots)
        scaled = self.ports.deployments.scale(
            found.id, capacity, self.ports.clock.now(), total_slots=self.total_slots
        )
        if scaled is None:
            now = self.ports.deployments.get(found.id)
            if now is None:
                raise errors.DeploymentNotFound(f"Model: {name} not found!", param="deployed_model")
            raise errors.InvalidTransition(f"a {now.status.value} deployment cannot be scaled")
        return scaled

    def delete(self, workspace_id: str, name: str) -> Deployment:
        """Take the deployment down: DELETING (its slots freed), then gone; returns it as
        DELETING."""
        found = self.get(workspace_id, name)
        while found.status is not _D.DELETING:
            if self.ports.deployments.transition(
                found.id, found.status, _D.DELETING, self.ports.clock.now()
            ):
                break
            found = self.get(workspace_id, name)  # it moved under us (rolled out, failed)
        deleting = self._reread(found)
        self.ports.deployments.remove(found.id)
        return deleting

    def retarget(
        self,
        workspace_id: str,
        name: str,
        source: Source,
        *,
        attributes: Mapping[str, Any] | None = None,
    ) -> Deployment:
        """Serve `source` under a RUNNING deployment's name, capacity and id (its weights
        are resolved first: nothing changes when they cannot be had); `attributes` are
        merged into its vendor fields. InvalidTransition unless it is RUNNING."""
        found = self.get(workspace_id, name)
        if found.status is not _D.RUNNING:
            raise errors.InvalidTransition(
                f"a {found.status.value} deployment cannot change the model it serves"
            )
        job = source.job
        changed = dataclasses.replace(
            found,
            model=source.name,
            base_model=job.base_model if job is not None else source.name,
            job_id=job.id if job is not None else None,
            step=source.step,
            adapter=job is not None and job.method is Method.LORA,
            attributes={**found.attributes, **(attributes or {})},
            updated_at=self.ports.clock.now(),
        )
        self._weights(changed)
        saved = self.ports.deployments.retarget(changed)
        if saved is None:
            raise errors.InvalidTransition(f"the deployment {name} is no longer RUNNING")
        return saved

    def serve(self, workspace_id: str, name: str) -> tuple[Deployment, ServedModel] | None:
        """The workspace's deployment called `name` and the weights to run for it; None
        when it has none of that name; ModelNotReady while it is not RUNNING."""
        found = self.ports.deployments.find(workspace_id, name)
        if found is None:
            return None
        if found.status is not _D.RUNNING:
            raise errors.ModelNotReady(
                f"The deployment {name} is {found.status.value}, not RUNNING.", param="model"
            )
        return found, self._weights(found)

    def generator(
        self, workspace_id: str, name: str, *, missing: str
    ) -> tuple[Deployment | None, ServedModel]:
        """What generates text for a model named `name`: the workspace's deployment of
        that name (ModelNotReady while it is not RUNNING), or a base model of the catalogue
        (no deployment); ServedModelNotFound with the message `missing` otherwise, and
        InvalidRequest for a classification model (it has labels, not text)."""
        deployment: Deployment | None
        found = self.serve(workspace_id, name)
        if found is not None:
            deployment, model = found
        elif self.served.base_model(name) is not None:
            deployment, model = None, self.served.base(name)
        else:
            raise errors.ServedModelNotFound(missing, param="model")
        if model.task_type is not TaskType.GENERATION:
            raise errors.InvalidRequest(
                f"The model {name} is a classification model; it does not generate text.",
                param="model",
            )
        return deployment, model

    # -- internals ---------------------------------------------------------------------
    def _roll_out(self, deployment: Deployment) -> None:
        if not self.ports.deployments.transition(
            deployment.id, _D.PENDING, _D.DEPLOYING, self.ports.clock.now()
        ):
            return  # deleted before it started
        try:
            self._weights(deployment)
        except errors.TuneyardError as exc:
            self.ports.deployments.transition(
                deployment.id, _D.DEPLOYING, _D.FAILED, self.ports.clock.now(), error=exc.message
            )
            return
        self.ports.deployments.transition(
            deployment.id, _D.DEPLOYING, _D.RUNNING, self.ports.clock.now()
        )

    def _weights(self, deployment: Deployment) -> ServedModel:
        if deployment.job_id is None:
            return self.served.base(deployment.model)
        return self.served.tuned(
            deployment.workspace_id, deployment.job_id, step=deployment.step, name=deployment.name
        )

    def _reread(self, deployment: Deployment) -> Deployment:
        return self.ports.deployments.get(deployment.id) or deployment

    def _check_name(self, name: str) -> None:
        if not NAME_PATTERN.match(name):
            raise errors.InvalidRequest(
                f"{name!r} is not a deployment name: 1-256 letters, digits and . _ : - "
                "(starting with a letter or digit)",
                param="name",
            )

    def _check_capacity(self, capacity: int, *, own: int = 0) -> None:
        """Refuse a capacity below 1, or past the whole machine (`own`: what the
        deployment holds already, when it is scaled)."""
        if capacity < 1:
            raise errors.InvalidRequest("capacity must be at least 1", param="capacity")
        if capacity > self.total_slots:
            free = self.total_slots - self.ports.deployments.reserved() + own
            raise deployments.capacity_refused(capacity, free=free, total=self.total_slots)
