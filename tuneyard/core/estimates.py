"""Estimates as use-cases: for a dataset before any job (`tuneyard estimate`, the native
endpoint), for a job at create (refused when it cannot fit or is over the server's policy)
and for a job when its validation ends (recorded on the job and in its events).

Where the dataset is known decides what is checked at create. A job whose training file is
stored (every dialect's create names it, or stores it first) and no larger than
`AT_CREATE_BYTES` gets the whole estimate at create, so a job that cannot fit is refused
there (each dialect's 400). A larger file gets only what the model and hyperparameters
alone rule out at create (the weights, their training state and the process); its whole
estimate comes when validation has counted its tokens, and a job over it then FAILS with
the reason code `estimate.exceeded` and the estimate in its message.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from tuneyard import errors
from tuneyard.core import checks, estimate
from tuneyard.core.catalog import Models
from tuneyard.core.jobs import AUTO_FIELDS, Hyperparameters, Job, JobSpec
from tuneyard.core.models import BaseModel
from tuneyard.core.ports import Ports
from tuneyard.core.uploads import Uploads
from tuneyard.kinds import Method, Objective, TaskType

__all__ = ["AT_CREATE_BYTES", "EXCEEDED", "Estimates", "Policy", "Sizing", "hyperparameters_of"]

AT_CREATE_BYTES = 8 << 20
"""Training files up to this size are estimated in full at create."""

EXCEEDED = "estimate.exceeded"
"""The failure reason of a job whose estimate does not fit, or is over the policy."""


@dataclasses.dataclass(frozen=True, slots=True)
class Policy:
    """What the server lets one job take (0: no limit besides the machine)."""

    max_job_seconds: float = 0.0
    """Longest estimated whole-job time accepted."""
    max_job_memory: int = 0
    """Largest estimated peak memory accepted (bytes)."""
    running_jobs: int = 1
    """Jobs that train at once: each worker may use its share of the machine's memory."""


@dataclasses.dataclass(frozen=True, slots=True)
class Sizing:
    """What estimating needs from outside the core: this machine's calibration and the
    base models' shapes (read from their config.json)."""

    machine: Callable[[bool], estimate.Machine | None]
    """This machine's calibration; with False, None while it is still being measured
    (measuring starts then, in the background) instead of waiting for it."""
    shape: Callable[[BaseModel], estimate.Shape]
    policy: Policy = Policy()
    precision_setting: str = "auto"
    """The workers' precision setting (`core.dtype.SETTINGS`): "fp32" forces fp32."""


_TARGET_SHARE = {Objective.SFT: 0.5, Objective.DPO: 0.4, Objective.CPT: 1.0}
"""Share of the tokens that are learnt (replies; every token of a document)."""


class Estimates:
    """Peak memory, time and tokens of a job before it runs; refusal of what cannot run."""

    def __init__(
        self, ports: Ports, *, models: Models, uploads: Uploads, sizing: Sizing | None
    ) -> None:
        self.ports = ports
        self.models = models
        self.uploads = uploads
        self.sizing = sizing
        """None: estimates are off (nothing is refused for its size)."""

    def _sizing(self) -> Sizing:
        if self.sizing is None:
            raise errors.UnsupportedFeature("estimates are not enabled on this server")
        return self.sizing

    def memory_available(self, machine: estimate.Machine) -> int:
        """Memory one worker may use: its share of the machine, at most the policy's."""
        policy = self._sizing().policy
        share = machine.memory_bytes // max(1, policy.running_jobs)
        return min(share, policy.max_job_memory) if policy.max_job_memory else share

    def of_lengths(
        self,
        model: BaseModel,
        *,
        task_type: TaskType,
        method: Method,
        objective: Objective,
        hp: Hyperparameters,
        lengths: Sequence[int],
        labels: int = 2,
        machine: estimate.Machine | None = None,
    ) -> estimate.Estimate:
        """The estimate of a job over examples of these token counts (validation's), on
        `machine` (default: this one, measured now if it must be)."""
        sizing = self._sizing()
        try:
            shape = sizing.shape(model)
        except (OSError, ValueError, TypeError) as exc:
            raise errors.UnsupportedFeature(
                f"no estimate for {model.name}: its config cannot be read ({exc})", param="model"
            ) from exc
        if not (shape.hidden and shape.layers and shape.vocab):
            raise errors.UnsupportedFeature(
                f"no estimate for {model.name}: its config gives no transformer shape",
                param="model",
            )
        machine = machine or sizing.machine(True)
        assert machine is not None
        features = estimate.features(lengths, objective, task_type, hp.max_seq_len)
        train, valid = estimate.split(features, hp.validation_split, hp.seed)
        hp = hp.resolve_auto(len(train), method, objective)
        classify = task_type is TaskType.CLASSIFICATION
        work = estimate.Work(
            shape=shape,
            method=method,
            objective=objective,
            task_type=task_type,
            hp=hp,
            train=train,
            valid=valid,
            targets=1.0 if classify else _TARGET_SHARE[objective],
            labels=max(2, labels),
            packed=not classify and not shape.encoder,
            precision=machine.precision(shape, sizing.precision_setting),
        )
        return estimate.estimate(work, machine, memory_available=self.memory_available(machine))

    def of_check(
        self,
        check: checks.DatasetCheck,
        model: BaseModel,
        spec: JobSpec | Job,
        *,
        wait: bool = True,
    ) -> estimate.Estimate | None:
        """The estimate of `spec` over a checked dataset (None when its tokens were not
        counted: a file too big to profile, or a model without a fast tokenizer; and
        without `wait`, while this machine is still being calibrated)."""
        if self.sizing is None or not check.lengths:
            return None
        machine = self.sizing.machine(wait)
        if machine is None:
            return None
        return self.of_lengths(
            model,
            task_type=spec.task_type,
            method=spec.method,
            objective=spec.objective,
            hp=spec.hyperparameters,
            lengths=check.lengths,
            labels=len(check.report.labels or ()),
            machine=machine,
        )

    def of_file(
        self, spec: JobSpec, *, wait: bool = True
    ) -> tuple[checks.DatasetCheck, estimate.Estimate | None]:
        """The dataset check and estimate of a job spec whose training file is stored."""
        check = self.uploads.check_for_job(
            spec.workspace_id,
            spec.training_file_id or "",
            model_name=spec.base_model,
            task_type=spec.task_type,
            objective=spec.objective,
            dialect=spec.dialect,
        )
        return check, self.of_check(check, self.models.get(spec.base_model), spec, wait=wait)

    def of_upload(
        self, spec: JobSpec, filename: str, chunks: Iterable[bytes]
    ) -> tuple[checks.DatasetCheck, estimate.Estimate | None]:
        """The dataset check and estimate of a job spec over a file sent with the request
        (not kept)."""
        check = self.uploads.check_upload(
            filename,
            chunks,
            fmt=None,
            model_name=spec.base_model,
            task_type=spec.task_type,
            max_issues=100,
        )
        return check, self.of_check(check, self.models.get(spec.base_model), spec)

    def warm(self) -> None:
        """Start calibrating this machine in the background if it is not yet."""
        if self.sizing is not None:
            self.sizing.machine(False)

    def refusal(self, found: estimate.Estimate) -> str | None:
        """Why a job with this estimate may not run (None when it may)."""
        policy = self._sizing().policy
        if not found.fits:
            limit = "the memory a worker may use"
            if policy.max_job_memory and found.memory_available_bytes == policy.max_job_memory:
                limit = "--max-job-memory"
            return f"the job does not fit: {found.describe()} ({limit})"
        if policy.max_job_seconds and found.job_seconds > policy.max_job_seconds:
            return (
                f"the job is over --max-job-seconds ({policy.max_job_seconds:.0f} s): "
                f"{found.describe()}"
            )
        return None

    def check(self, spec: JobSpec) -> None:
        """Refuse at create (EstimateExceeded) a job that cannot fit or is over the policy:
        in full when its training file is stored and small, else from the model alone.
        Nothing is refused while this machine is still being calibrated (validation
        estimates the job then)."""
        if self.sizing is None:
            return
        machine = self.sizing.machine(False)
        if machine is None:
            return
        try:
            found = self._at_create(spec, machine)
        except errors.UnsupportedFeature:  # a model whose shape is unknown: no estimate
            return
        reason = self.refusal(found)
        if reason is not None:
            raise errors.EstimateExceeded(reason, param="hyperparameters")

    def _at_create(self, spec: JobSpec, machine: estimate.Machine) -> estimate.Estimate:
        """The whole estimate when the training file is stored and small, else the model's."""
        model = self.models.get(spec.base_model)
        stored = self.ports.files.get(spec.training_file_id) if spec.training_file_id else None
        found: estimate.Estimate | None = None
        if stored is not None and stored.bytes <= AT_CREATE_BYTES:
            try:
                check, found = self.of_file(spec, wait=False)
            except errors.UnsupportedFeature:
                raise
            except errors.InvalidRequest:  # a file that cannot serve the job: validation
                check, found = None, None  # fails it with the file's own reason
            if check is not None and not check.ok:
                found = None
        if found is None:  # what the model and hyperparameters alone take
            found = self.of_lengths(
                model,
                task_type=spec.task_type,
                method=spec.method,
                objective=spec.objective,
                hp=dataclasses.replace(spec.hyperparameters, auto=()),
                lengths=[],
                machine=machine,
            )
        return found


def hyperparameters_of(raw: Mapping[str, Any]) -> Hyperparameters:
    """Hyperparameters as a request sends them (field names of `Hyperparameters`; "auto"
    for the fields that may be left to the data), every problem reported at once."""
    names = {f.name for f in dataclasses.fields(Hyperparameters)} - {"auto"}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise errors.InvalidRequest(
            f"unknown hyperparameters: {', '.join(unknown)}", param="hyperparameters"
        )
    defaults = Hyperparameters()
    values: dict[str, Any] = {}
    auto: list[str] = []
    problems: list[str] = []
    for name, value in raw.items():
        if value == "auto" and name in AUTO_FIELDS:
            auto.append(name)
            continue
        kind = type(getattr(defaults, name))
        if (
            kind is tuple
            and isinstance(value, list | tuple)
            and all(isinstance(v, str) for v in value)
        ):
            values[name] = tuple(value)
        elif kind is float and isinstance(value, int | float) and not isinstance(value, bool):
            values[name] = float(value)
        elif (kind is int and isinstance(value, int) and not isinstance(value, bool)) or (
            kind is str and isinstance(value, str)
        ):
            values[name] = value
        else:
            problems.append(f"{name} must be a {kind.__name__}")
    if problems:
        raise errors.InvalidRequest("; ".join(problems), param="hyperparameters")
    hp = dataclasses.replace(defaults, auto=tuple(auto), **values)
    problems = hp.problems()
    if problems:
        raise errors.InvalidRequest("; ".join(problems), param="hyperparameters")
    return hp
