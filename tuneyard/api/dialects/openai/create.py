"""OpenAI create request → neutral JobSpec (spec §4.4): supervised or DPO on LoRA, "auto"
hyperparameters resolved by the worker from the data, the `ft:` output name, `ft:` models
(and their checkpoints) as a starting point."""

from __future__ import annotations

from typing import Any

from tuneyard import errors
from tuneyard.api.dialects import values
from tuneyard.api.dialects.openai import names, wire
from tuneyard.core import ids
from tuneyard.core.jobs import Hyperparameters, JobSpec, Parent
from tuneyard.kinds import Method, Objective, TaskType

__all__ = ["BASE_LEARNING_RATE", "MAX_METADATA", "to_spec"]

ID_STYLE = ids.SHORT
"""Job ids: 8 lowercase alphanumerics (wrapped as `ftjob-…` on the wire)."""

BASE_LEARNING_RATE = {Objective.SFT: 1e-4, Objective.DPO: 5e-5}
"""The learning rate a `learning_rate_multiplier` of 1 stands for (LoRA adapters)."""
MAX_METADATA = 16
_DEFAULT_BETA = 0.1


def _hyper(
    block: wire.Hyperparameters | None, objective: Objective, seed: int | None
) -> Hyperparameters:
    block = block or wire.Hyperparameters()
    auto = [
        field
        for field, value in (
            ("n_epochs", block.n_epochs),
            ("batch_size", block.batch_size),
            ("learning_rate", block.learning_rate_multiplier),
        )
        if value in (None, "auto")
    ]
    defaults = Hyperparameters()
    beta = getattr(block, "beta", None)
    multiplier = block.learning_rate_multiplier
    if isinstance(multiplier, float | int) and multiplier <= 0:
        raise errors.InvalidRequest(
            "learning_rate_multiplier must be above 0", param="hyperparameters"
        )
    return Hyperparameters(
        n_epochs=block.n_epochs if isinstance(block.n_epochs, int) else defaults.n_epochs,
        batch_size=block.batch_size if isinstance(block.batch_size, int) else defaults.batch_size,
        learning_rate=(
            BASE_LEARNING_RATE[objective] * multiplier
            if isinstance(multiplier, float | int)
            else BASE_LEARNING_RATE[objective]
        ),
        dpo_beta=beta if isinstance(beta, float | int) else _DEFAULT_BETA,
        seed=seed if seed is not None else defaults.seed,
        auto=tuple(auto),
    )


def _method(create: wire.CreateJob) -> tuple[Objective, wire.Hyperparameters | None]:
    method = create.method
    if method is None or method.type == "supervised":
        nested = method.supervised.hyperparameters if method and method.supervised else None
        if nested is not None and create.hyperparameters is not None:
            raise errors.InvalidRequest(
                "send hyperparameters in method.supervised only, not also at the top level",
                param="hyperparameters",
            )
        return Objective.SFT, nested or create.hyperparameters
    if create.hyperparameters is not None:
        raise errors.InvalidRequest(
            "the top-level hyperparameters are for supervised jobs; use "
            f"method.{method.type}.hyperparameters",
            param="hyperparameters",
        )
    if method.type == "dpo":
        return Objective.DPO, method.dpo.hyperparameters if method.dpo else None
    raise errors.UnsupportedFeature(
        "method.type reinforcement is not supported; tuneyard trains supervised and dpo",
        param="method.type",
    )


def to_spec(
    create: wire.CreateJob,
    *,
    workspace_id: str,
    organization: str,
    parent: Parent | None,
    base_model: str,
    account: str,
    actor: str,
) -> JobSpec:
    """The neutral spec of a create request. `parent`/`base_model` come from `model`: a base
    model, or an `ft:` name (optionally `:ckpt-step-N`) of an earlier job of the workspace."""
    if create.integrations:
        raise errors.UnsupportedFeature(
            "integrations are not supported (tuneyard reaches no outside service); "
            "read metrics from the job's events or result_files",
            param="integrations",
        )
    metadata = dict(create.metadata or {})
    if len(metadata) > MAX_METADATA or any(
        len(k) > 64 or len(v) > 512 for k, v in metadata.items()
    ):
        raise errors.InvalidRequest(
            "metadata takes at most 16 pairs, keys up to 64 and values up to 512 characters",
            param="metadata",
        )
    output_name = names.fine_tuned_model(base_model, organization, create.suffix, "{job_id}")
    if not values.fits_name(output_name):
        raise errors.InvalidRequest(
            f"suffix: the model name {output_name} would be longer than {values.NAME_MAX} "
            "characters; use a shorter suffix",
            param="suffix",
        )
    objective, block = _method(create)
    echo: dict[str, Any] = {"model": create.model, "method": objective.value}
    if create.suffix:
        echo["suffix"] = create.suffix
    if block is not None:
        echo["hyperparameters"] = block.model_dump(exclude_none=True)
    return JobSpec(
        workspace_id=workspace_id,
        display_name="",
        base_model=base_model,
        task_type=TaskType.GENERATION,
        method=Method.LORA,
        hyperparameters=_hyper(block, objective, create.seed),
        dialect="openai",
        id_style=ID_STYLE,
        training_file_id=create.training_file,
        objective=objective,
        parent=parent,
        validation_file_id=create.validation_file,
        output_name=output_name,
        echo=echo,
        account=account,
        created_by=actor,
        metadata=metadata or None,
    )
