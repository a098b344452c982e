"""Qianfan create requests → neutral terms: a job (group) from `CreateFineTuningJob`, a run
(JobSpec) from `CreateFineTuningTask` with the vendor's camelCase hyperparameters, checked
against the ranges `DescribeFineTuningSupportModels` advertises (spec §3.2)."""

from __future__ import annotations

import dataclasses
from typing import Any

from tuneyard import errors
from tuneyard.api.dialects.qianfan import catalogue, wire
from tuneyard.core import buckets, ids
from tuneyard.core.credentials import Caller
from tuneyard.core.groups import JobGroup
from tuneyard.core.jobs import Hyperparameters, JobSpec, Parent
from tuneyard.core.models import BaseModel
from tuneyard.core.submission import ObjectSource
from tuneyard.kinds import Method, Objective, TaskType

__all__ = ["DatasetSource", "GroupFields", "group_fields", "task_spec", "training_source"]

ID_STYLE = ids.IdStyle(prefix="task-", length=12)
"""Qianfan task ids: `task-` and 12 lowercase alphanumerics (spec §3.3)."""

_SCHEDULERS = {"linear": "linear", "cosine": "cosine", "constant": "constant"}
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no", ""}


@dataclasses.dataclass(frozen=True, slots=True)
class GroupFields:
    """A `CreateFineTuningJob` in neutral terms."""

    name: str
    description: str
    base_model: str
    objective: Objective
    echo: dict[str, Any]


DatasetSource = str | ObjectSource
"""A run's training data: a tuneyard file id, or an object in the S3-compatible store."""


def group_fields(create: wire.CreateJob) -> GroupFields:
    """Check a `CreateFineTuningJob` body: name 2-20 characters, description at most 500,
    a train mode tuneyard trains (SFT, PostPretrain, DPO)."""
    if not 2 <= len(create.name) <= 20:
        raise errors.InvalidRequest("name must be 2-20 characters", param="name")
    if len(create.description) > 500:
        raise errors.InvalidRequest(
            "description must be at most 500 characters", param="description"
        )
    echo: dict[str, Any] = {"trainMode": catalogue.train_mode_name(create.trainMode)}
    if create.parameterScale is not None:
        echo["parameterScale"] = catalogue.scale_name(create.parameterScale)
    if create.hyperParameterConfig:
        echo["hyperParameterConfig"] = dict(create.hyperParameterConfig)
    return GroupFields(
        name=create.name,
        description=create.description,
        base_model=create.model,
        objective=catalogue.objective(create.trainMode),
        echo=echo,
    )


def training_source(config: wire.DatasetConfig) -> DatasetSource:
    """Where a run's training data is: `versions[0].versionId` (a tuneyard file, sourceType
    Platform) or `storagePath`/`versionBosUri` (`bos://bucket/key`, sourceType Bos)."""
    if not config.versions:
        raise errors.InvalidRequest(
            "datasetConfig.versions must name the training data", param="datasetConfig.versions"
        )
    if len(config.versions) > 1:
        raise errors.UnsupportedFeature(
            f"datasetConfig.versions: a run trains on one dataset; concatenate the "
            f"{len(config.versions)} files (JSONL lines append) and upload them as one",
            param="datasetConfig.versions",
        )
    version = config.versions[0]
    if version.samplingRate is not None and version.samplingRate != 1:
        raise errors.UnsupportedFeature(
            "datasetConfig.versions[0].samplingRate: tuneyard trains on every example once "
            "per epoch; only 1 is supported",
            param="datasetConfig.versions",
        )
    source = config.sourceType.strip().lower()
    if source == "platform":
        if not version.versionId:
            raise errors.InvalidRequest(
                "datasetConfig.versions[0].versionId must name an uploaded file",
                param="datasetConfig.versions",
            )
        return version.versionId
    if source == "bos":
        location = version.storagePath or version.versionBosUri
        if not location:
            raise errors.InvalidRequest(
                "datasetConfig.versions[0].storagePath must be bos://bucket/path",
                param="datasetConfig.versions",
            )
        return _bos(location)
    raise errors.UnsupportedFeature(
        f"datasetConfig.sourceType {config.sourceType} is not supported; use Platform or Bos",
        param="datasetConfig.sourceType",
    )


def _bos(location: str) -> ObjectSource:
    """`bos://bucket/key`, `bos:/bucket/key` or `/bucket/key` → the object to read."""
    rest = location.strip()
    for scheme in ("bos://", "bos:/", "/"):
        if rest.lower().startswith(scheme):
            rest = rest[len(scheme) :]
            break
    bucket, _, key = rest.partition("/")
    if not bucket or not key or key.endswith("/"):
        raise errors.InvalidRequest(
            f"storagePath {location} must name one object: bos://bucket/path/file.jsonl",
            param="datasetConfig.versions",
        )
    buckets.check_path(bucket, param="datasetConfig.versions", what="bucket name")
    buckets.check_path(key, param="datasetConfig.versions")
    # No keys: the caller's workspace must own the bucket, which is read with its own pair.
    return ObjectSource(bucket=bucket, path=key, access_key=None, secret_key=None)


def _flag(value: bool | str | None, key: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = value.strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise errors.InvalidRequest(f"{key} must be true or false", param=f"hyperParameterConfig.{key}")


def _targets(
    modules: list[str] | str | None, all_linear: bool | None, model: BaseModel
) -> tuple[str, ...]:
    """The modules LoRA wraps: every linear layer unless `loraTargetModules` names some
    (a list or a comma-separated string) and `loraAllLinear` is not true. Each name must
    be one of the model's layers (when the catalogue knows them); none at all is refused."""
    if modules is None:
        return ("all-linear",)
    names = tuple(n.strip() for n in (modules.split(",") if isinstance(modules, str) else modules))
    param = "hyperParameterConfig.loraTargetModules"
    if not names or not all(names):
        raise errors.InvalidRequest(
            "loraTargetModules must name one or more modules (or send loraAllLinear: true)",
            param=param,
        )
    known = set(model.lora_modules)
    unknown = [n for n in names if known and n != "all-linear" and n not in known]
    if unknown:
        raise errors.InvalidRequest(
            f"loraTargetModules: {model.name} has no module {', '.join(unknown)}; "
            f"its layers are {', '.join(model.lora_modules)}",
            param=param,
        )
    return ("all-linear",) if all_linear else names


def hyperparameters(
    raw: dict[str, Any],
    *,
    method: Method,
    objective: Objective,
    split_ratio: int,
    model: BaseModel,
) -> Hyperparameters:
    """The run's hyperparameters: the client's values over the vendor's defaults, each
    checked against the catalogue's range or choices for this scale and train mode, and
    LoRA's target modules against the model's layers."""
    hp = wire.parse(wire.HyperParameterConfig, raw, "hyperParameterConfig.")
    sent = hp.model_dump(exclude_none=True, by_alias=True)
    table = {row["key"]: row for row in catalogue.hyperparameters(method, objective)}
    for key, given in sent.items():
        row = table.get(key)
        if row is not None and not catalogue.allowed(row, given):
            raise errors.InvalidRequest(
                f"{key} {raw.get(key, given)} is outside {catalogue.describe_check(row)}",
                param=f"hyperParameterConfig.{key}",
            )
    if method is not Method.LORA:
        lora_keys = sorted(k for k in sent if k.startswith("lora"))
        if lora_keys:
            raise errors.InvalidRequest(
                f"{', '.join(lora_keys)} apply to parameterScale LoRA only",
                param=f"hyperParameterConfig.{lora_keys[0]}",
            )
    if objective is not Objective.DPO and hp.dpoBeta is not None:
        raise errors.InvalidRequest(
            "dpoBeta applies to trainMode DPO only", param="hyperParameterConfig.dpoBeta"
        )
    if hp.pseudoSamplingProb:
        raise errors.UnsupportedFeature(
            "pseudoSamplingProb: tuneyard has no pseudo-sample augmentation; send 0",
            param="hyperParameterConfig.pseudoSamplingProb",
        )
    if _flag(hp.packing, "Packing") is False:
        raise errors.UnsupportedFeature(
            "Packing: tuneyard always packs examples (without cross-attention between them)",
            param="hyperParameterConfig.Packing",
        )

    def value(key: str, fallback: Any = None) -> Any:
        if key in sent:
            return sent[key]
        return table[key]["default"] if key in table else fallback

    targets = _targets(hp.loraTargetModules, _flag(hp.loraAllLinear, "loraAllLinear"), model)
    scheduler = str(value("schedulerName")).lower()
    if scheduler not in _SCHEDULERS:
        raise errors.UnsupportedFeature(
            f"schedulerName {scheduler} is not supported; use {', '.join(_SCHEDULERS)}",
            param="hyperParameterConfig.schedulerName",
        )
    defaults = Hyperparameters()
    return Hyperparameters(
        n_epochs=value("epoch"),
        learning_rate=value("learningRate"),
        batch_size=value("batchSize"),
        gradient_accumulation_steps=value("gradientAccumulationSteps"),
        max_seq_len=value("maxSeqLen"),
        warmup_ratio=value("warmupRatio"),
        weight_decay=value("weightDecay"),
        lr_scheduler=_SCHEDULERS[scheduler],
        lora_rank=value("loraRank", defaults.lora_rank),
        lora_alpha=value("loraAlpha", defaults.lora_alpha),
        lora_dropout=value("loraDropout", defaults.lora_dropout),
        lora_target_modules=targets,
        save_steps=value("saveStep"),
        save_total_limit=value("checkpointCount"),
        dpo_beta=value("dpoBeta", defaults.dpo_beta),
        seed=hp.seed if hp.seed is not None else defaults.seed,
        validation_split=split_ratio / 100,
    )


def task_spec(
    create: wire.CreateTask,
    group: JobGroup,
    caller: Caller,
    *,
    training_file_id: str | None,
    model: BaseModel,
) -> JobSpec:
    """The neutral spec of a `CreateFineTuningTask` in `group`, whose base `model` it
    trains. The job's own `parameterScale` and `hyperParameterConfig` (if it was created
    with them) are the defaults the task's values override."""
    scale_name = create.parameterScale or group.echo.get("parameterScale")
    if not scale_name:
        raise errors.InvalidRequest(
            "parameterScale must be FullFineTuning or LoRA", param="parameterScale"
        )
    method = catalogue.method(scale_name)
    if group.objective is Objective.CPT and method is Method.LORA:
        raise errors.UnsupportedFeature(
            "trainMode PostPretrain trains every weight; use parameterScale FullFineTuning",
            param="parameterScale",
        )
    split = create.datasetConfig.splitRatio
    if split is None or not 0 <= split <= 20:
        raise errors.InvalidRequest(
            "datasetConfig.splitRatio must be 0-20 (percent of the data held out to evaluate)",
            param="datasetConfig.splitRatio",
        )
    if create.corpusConfig:
        raise errors.UnsupportedFeature(
            "corpusConfig: tuneyard has no built-in general corpus to mix in",
            param="corpusConfig",
        )
    if create.incrementCheckpointStep is not None and not create.incrementTaskId:
        raise errors.InvalidRequest(
            "incrementCheckpointStep needs incrementTaskId", param="incrementCheckpointStep"
        )
    raw = {**group.echo.get("hyperParameterConfig", {}), **(create.hyperParameterConfig or {})}
    parent = (
        Parent(create.incrementTaskId, create.incrementCheckpointStep)
        if create.incrementTaskId
        else None
    )
    return JobSpec(
        workspace_id=caller.workspace_id,
        display_name="",
        base_model=group.base_model,
        task_type=TaskType.GENERATION,
        method=method,
        hyperparameters=hyperparameters(
            raw, method=method, objective=group.objective, split_ratio=split, model=model
        ),
        dialect="qianfan",
        id_style=ID_STYLE,
        training_file_id=training_file_id,
        objective=group.objective,
        parent=parent,
        echo={
            "parameterScale": catalogue.scale_name(scale_name),
            "hyperParameterConfig": raw,
            "datasetConfig": create.datasetConfig.model_dump(exclude_none=True),
        },
        account=caller.account,
        created_by=caller.actor,
        group_id=group.id,
    )
