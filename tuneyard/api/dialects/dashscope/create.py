"""DashScope create request → neutral JobSpec: training types, the vendor's hyperparameter
keys and defaults (spec §2.4), the output name, and the fields echoed back as sent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from tuneyard import errors
from tuneyard.api.dialects import values
from tuneyard.api.dialects.dashscope import wire
from tuneyard.core import ids
from tuneyard.core.jobs import Hyperparameters, Job, JobSpec, Parent
from tuneyard.kinds import Method, Objective, TaskType

__all__ = ["TRAINING_TYPES", "hyperparameters", "to_spec"]

ID_STYLE = ids.IdStyle(prefix="ft-", length=4, stamp_offset=dt.timedelta(hours=8))
"""DashScope job ids: `ft-{yyyyMMddHHmm}-xxxx`, the minute in Beijing time (seed 002)."""

TRAINING_TYPES: dict[str, tuple[Method, Objective]] = {
    "sft": (Method.FULL, Objective.SFT),
    "efficient_sft": (Method.LORA, Objective.SFT),
    "dpo_full": (Method.FULL, Objective.DPO),
    "dpo_lora": (Method.LORA, Objective.DPO),
    "cpt": (Method.FULL, Objective.CPT),
}
"""`training_type` → (method, objective) (spec §2.4)."""

_SCHEDULERS = {"linear": "linear", "cosine": "cosine", "constant": "constant"}


def _one(
    ids: Sequence[str] | None, refs: Sequence[wire.DatasetRef] | None, field: str
) -> str | None:
    found = list(ids or []) or [r.file_id for r in refs or []]
    if len(found) > 1:
        raise errors.UnsupportedFeature(
            f"{field}: a job trains on one file; concatenate the {len(found)} files "
            "(JSONL lines append) and upload them as one",
            param=field,
        )
    return found[0] if found else None


def _echo_numbers(raw: dict[str, Any]) -> dict[str, Any]:
    """The client's hyper_parameters with numeric strings made numbers (spec §7)."""
    echoed: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            echoed[key] = values.number(value)
        except ValueError:
            echoed[key] = value  # words such as "cosine" stay as sent
    return echoed


def hyperparameters(raw: dict[str, Any], method: Method) -> Hyperparameters:
    """The run's hyperparameters: the client's values over DashScope's defaults (spec §2.4)."""
    hp = wire.parse_hyper(raw)
    scheduler = (hp.lr_scheduler_type or "cosine").lower()
    if scheduler not in _SCHEDULERS:
        raise errors.UnsupportedFeature(
            f"lr_scheduler_type {hp.lr_scheduler_type} is not supported; "
            "use linear, cosine or Constant",
            param="hyper_parameters.lr_scheduler_type",
        )
    strategy = (hp.save_strategy or "epoch").lower()
    if strategy not in ("epoch", "steps"):
        raise errors.InvalidRequest(
            "save_strategy must be epoch or steps", param="hyper_parameters.save_strategy"
        )
    split = 0.8 if hp.split is None else hp.split
    if not 0 < split <= 1:
        raise errors.InvalidRequest("split must be in (0, 1]", param="hyper_parameters.split")
    lora = method is Method.LORA
    defaults = Hyperparameters()
    return Hyperparameters(
        n_epochs=hp.n_epochs if hp.n_epochs is not None else 1,
        learning_rate=hp.learning_rate
        if hp.learning_rate is not None
        else (1e-4 if lora else 1e-5),
        batch_size=hp.batch_size if hp.batch_size is not None else defaults.batch_size,
        max_seq_len=hp.max_length if hp.max_length is not None else 2048,
        lr_scheduler=_SCHEDULERS[scheduler],
        warmup_ratio=hp.warmup_ratio if hp.warmup_ratio is not None else 0.05,
        weight_decay=hp.weight_decay if hp.weight_decay is not None else 0.1,
        validation_split=round(1 - split, 6),
        lora_rank=hp.lora_rank if hp.lora_rank is not None else 8,
        lora_alpha=hp.lora_alpha if hp.lora_alpha is not None else 32,
        lora_dropout=hp.lora_dropout if hp.lora_dropout is not None else 0.1,
        save_steps=0 if strategy == "epoch" else (hp.save_steps or 50),
        save_total_limit=hp.save_total_limit if hp.save_total_limit is not None else 1,
        seed=hp.seed if hp.seed is not None else defaults.seed,
    )


def to_spec(
    create: wire.CreateFineTune,
    *,
    workspace_id: str,
    parent: Job | None,
    account: str | None = None,
    actor: str | None = None,
) -> JobSpec:
    """The neutral spec of a create request by `actor` (an account or sub-account of
    `account`). `parent` is the job whose `finetuned_output` the request named as its
    `model` (continued training), None for a base model."""
    training_type = (create.training_type or "sft").lower()
    if training_type not in TRAINING_TYPES:
        raise errors.UnsupportedFeature(
            f"training_type {create.training_type} is not supported; use one of "
            + ", ".join(TRAINING_TYPES),
            param="training_type",
        )
    method, objective = TRAINING_TYPES[training_type]
    training = _one(create.training_file_ids, create.training_datasets, "training_file_ids")
    if training is None:
        raise errors.InvalidRequest("Missing training files", param="training_file_ids")
    validation = _one(create.validation_file_ids, create.validation_datasets, "validation_file_ids")
    raw = dict(create.hyper_parameters or {})
    base = parent.base_model if parent is not None else create.model
    suffix = create.finetuned_output_suffix
    output = (
        create.model_name
        or create.finetuned_output
        or (f"{base}-{suffix}-{{job_id}}" if suffix else f"{base}-{{job_id}}")
    )
    if not values.fits_name(output):
        field = next(
            (f for f in ("model_name", "finetuned_output") if getattr(create, f)),
            "finetuned_output_suffix",
        )
        raise errors.InvalidRequest(
            f"{field}: the model name would be longer than {values.NAME_MAX} characters",
            param=field,
        )
    return JobSpec(
        workspace_id=workspace_id,
        display_name=create.job_name or "",
        base_model=base,
        task_type=TaskType.GENERATION,
        method=method,
        hyperparameters=hyperparameters(raw, method),
        dialect="dashscope",
        id_style=ID_STYLE,
        training_file_id=training,
        objective=objective,
        parent=Parent(parent.id) if parent is not None else None,
        validation_file_id=validation,
        output_name=output,
        echo={
            "model": create.model,
            "training_type": training_type,
            "hyper_parameters": _echo_numbers(raw),
            "training_file_ids": [training],
            "validation_file_ids": [validation] if validation else [],
        },
        account=account,
        created_by=actor,
    )
