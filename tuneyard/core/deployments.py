"""A deployment: a model (base, or a job's tuned output or checkpoint) served under a name
that clients call, with decoding slots reserved for it (the record; use-cases:
`deployment_admin`).

Notes for the dialects that build on it (deployments, services, the console):
- One record for every vendor shape. `name` is what clients call (a dialect's deployed
  model name, or a service's name or URL suffix); it is unique among a workspace's
  deployments (`errors.DeploymentNameTaken`, 409). Names are per workspace, so a
  clash never tells one workspace about another's deployments.
- `model` is the served model's name as the creating dialect spelled it; `job_id`/`step`
  say which job's output (step None) or checkpoint it is (both None: a base model), and
  `adapter` whether it is a LoRA adapter on `base_model` or whole weights.
- `capacity` is concurrent decoding slots reserved for it out of the machine's total
  (`Settings.inference_slots`, which is also the engine's running-sequence limit): the
  sum over live deployments never passes it, checked atomically in storage
  (`errors.CapacityExceeded`, 400, at create and scale).
- Status: `DeploymentStatus` and `TRANSITIONS` below; moved only by
  `DeploymentRepository.transition` (compare-and-set). `deployment_admin.Deployer.create`
  records PENDING, then rolls out in the same call: DEPLOYING while it resolves the
  weights (fetching them from a bucket if need be), RUNNING once they are on disk, FAILED
  (slots released, reason in `error`) if they cannot be. Delete moves to DELETING, frees
  the slots and removes the record in one step (the response shows DELETING; a later get
  is not-found).
- Vendor extras (a plan, a suffix, a service's own fields) go in `attributes`, kept as
  sent; `dialect` says who created it.
- A job's tuned model (or the job) cannot be deleted while a deployment of it exists,
  whatever its status (`errors.ModelDeployed`, 409): delete the deployment first.
- Use-cases (`service.deployments`): `source(ws, model name)` → what to deploy; `create`,
  `get`, `page` (offset) / `list_after` (marker), `scale`, `delete`; `serve(ws, name)` →
  (deployment, weights) for a chat route, None when the workspace has no deployment of
  that name. A chat route holds one of the deployment's slots per request while it
  decodes (`tuneyard.api.slots`, `app.state.deployment_slots`): past `capacity` it is
  Throttled (429).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tuneyard import errors

__all__ = [
    "LIVE",
    "TRANSITIONS",
    "Deployment",
    "DeploymentStatus",
    "capacity_refused",
    "check_transition",
    "refuse_if_serving",
]


class DeploymentStatus(enum.StrEnum):
    """The neutral deployment states; each dialect renders them its own way."""

    PENDING = "PENDING"
    DEPLOYING = "DEPLOYING"
    RUNNING = "RUNNING"
    DELETING = "DELETING"
    FAILED = "FAILED"


_D = DeploymentStatus
TRANSITIONS: dict[DeploymentStatus, frozenset[DeploymentStatus]] = {
    _D.PENDING: frozenset({_D.DEPLOYING, _D.FAILED, _D.DELETING}),
    _D.DEPLOYING: frozenset({_D.RUNNING, _D.FAILED, _D.DELETING}),
    _D.RUNNING: frozenset({_D.DELETING}),
    _D.FAILED: frozenset({_D.DELETING}),
    _D.DELETING: frozenset(),
}
"""Which status may follow which; anything else raises InvalidTransition."""

LIVE = frozenset({_D.PENDING, _D.DEPLOYING, _D.RUNNING})
"""Statuses that hold reserved slots (a FAILED deployment keeps its name, not its slots)."""


def check_transition(current: DeploymentStatus, new: DeploymentStatus) -> None:
    """Raise InvalidTransition unless `new` may follow `current`."""
    if new not in TRANSITIONS[current]:
        raise errors.InvalidTransition(f"a {current.value} deployment cannot become {new.value}")


def capacity_refused(asked: int, *, free: int, total: int) -> errors.CapacityExceeded:
    """The refusal of `asked` slots when only `free` of the machine's `total` are left."""
    return errors.CapacityExceeded(
        f"capacity {asked} is more than this machine can reserve: {free} of its {total} "
        "concurrent decoding slots are free",
        param="capacity",
    )


def refuse_if_serving(job_id: str, serving: Sequence[Deployment]) -> None:
    """Refuse (ModelDeployed) to delete a job or its tuned model while deployments of it
    (or of its checkpoints) exist: `serving` is what the repository says serves it."""
    if serving:
        names = ", ".join(d.name for d in serving)
        raise errors.ModelDeployed(
            f"The model of job {job_id} is deployed as {names}; delete the deployment first."
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Deployment:
    """A model served under a name with reserved decoding slots, in one workspace."""

    id: str
    workspace_id: str
    name: str
    """The deployed model's name, what clients put in `model` (unique per workspace)."""
    model: str
    """The served model's name as the creating dialect spelled it."""
    base_model: str
    """The catalogue base model it is (or was tuned from)."""
    capacity: int
    """Concurrent decoding slots reserved for it in the engine."""
    status: DeploymentStatus
    dialect: str
    created_at: datetime
    updated_at: datetime
    job_id: str | None = None
    """The job whose tuned model it serves; None for a base model."""
    step: int | None = None
    """The checkpoint's step; None for a job's final model (or a base model)."""
    adapter: bool = False
    """Whether it serves a LoRA adapter on its base (else whole weights)."""
    created_by: str | None = None
    error: str | None = None
    """Why it FAILED; None otherwise."""
    attributes: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Vendor fields kept as sent (a plan, a name suffix, a service's own fields)."""

    @property
    def slots(self) -> int:
        """The slots it holds now: its capacity while live, none once FAILED or DELETING."""
        return self.capacity if self.status in LIVE else 0
