"""What Qianfan clients may ask for: train modes, parameter scales, and the hyperparameters
each takes with their ranges and defaults. `DescribeFineTuningSupportModels` publishes this
table and `CreateFineTuningTask` is checked against it, so the two never disagree."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tuneyard import errors
from tuneyard.core.models import BaseModel
from tuneyard.kinds import Method, Objective, TaskType

__all__ = [
    "SCALES",
    "TRAIN_MODES",
    "allowed",
    "describe_check",
    "hyperparameters",
    "method",
    "objective",
    "scale_name",
    "support_models",
    "train_mode_name",
]

TRAIN_MODES: dict[str, Objective] = {
    "SFT": Objective.SFT,
    "PostPretrain": Objective.CPT,
    "DPO": Objective.DPO,
}
"""Qianfan `trainMode` → objective (KTO is not trained)."""

SCALES: dict[str, Method] = {"FullFineTuning": Method.FULL, "LoRA": Method.LORA}
"""Qianfan `parameterScale` → method (PromptTuning is not trained)."""

_SCALES_OF = {
    Objective.SFT: ("FullFineTuning", "LoRA"),
    Objective.DPO: ("FullFineTuning", "LoRA"),
    Objective.CPT: ("FullFineTuning",),
}
_LEARNING_RATE = {
    (Objective.SFT, Method.FULL): 3e-5,
    (Objective.SFT, Method.LORA): 3e-4,
    (Objective.CPT, Method.FULL): 3e-5,
    (Objective.DPO, Method.FULL): 1e-6,
    (Objective.DPO, Method.LORA): 5e-5,
}


def _row(key: str, kind: str, check: str, values: list[Any], default: Any, name: str,
         description: str) -> dict[str, Any]:  # fmt: skip
    return {"key": key, "type": kind, "checkType": check, "checkValue": values,
            "default": default, "name": name, "description": description}  # fmt: skip


def hyperparameters(scale: Method, mode: Objective) -> list[dict[str, Any]]:
    """The hyperparameters a (parameter scale, train mode) takes, keys as the vendor spells
    them, with `checkType` range (inclusive bounds) or choice, and the default."""
    rows = [
        _row("epoch", "int", "range", [1, 100], 1, "Epochs", "Passes over the training set."),
        _row("learningRate", "float", "range", [1e-7, 1], _LEARNING_RATE[(mode, scale)],
             "Learning rate", "Peak learning rate of AdamW."),
        _row("batchSize", "int", "range", [1, 1024], 8, "Batch size", "Examples per micro-batch."),
        _row("gradientAccumulationSteps", "int", "range", [1, 1024], 1,
             "Gradient accumulation", "Micro-batches per optimizer step."),
        _row("maxSeqLen", "int", "range", [16, 131072], 4096, "Max sequence length",
             "Tokens per example; longer ones are truncated, the prompt side first."),
        _row("warmupRatio", "float", "range", [0, 0.99], 0.1, "Warm-up ratio",
             "Share of steps spent warming up."),
        _row("weightDecay", "float", "range", [0, 1], 0.01, "Weight decay", "AdamW weight decay."),
        _row("schedulerName", "string", "choice", ["linear", "cosine", "constant"], "cosine",
             "Scheduler", "Learning-rate schedule after warm-up."),
        _row("saveStep", "int", "range", [0, 1000000], 0, "Save every N steps",
             "Checkpoint every N steps; 0 saves one per epoch."),
        _row("checkpointCount", "int", "range", [1, 100], 3, "Checkpoints kept",
             "The last N checkpoints, plus the best one, are kept."),
    ]  # fmt: skip
    if scale is Method.LORA:
        rows += [
            _row("loraRank", "int", "choice", [4, 8, 16, 32, 64], 8, "LoRA rank",
                 "Rank r of the adapters."),
            _row("loraAlpha", "int", "range", [1, 4096], 32, "LoRA alpha",
                 "Scaling alpha of the adapters."),
            _row("loraDropout", "float", "range", [0, 0.99], 0.0, "LoRA dropout",
                 "Dropout on the adapter path."),
        ]  # fmt: skip
    if mode is Objective.DPO:
        rows.append(
            _row("dpoBeta", "float", "range", [0.01, 10], 0.1, "DPO beta",
                 "How far the tuned model may move from the reference (higher: less).")
        )  # fmt: skip
    return rows


def allowed(row: dict[str, Any], value: Any) -> bool:
    """Whether `value` passes the row's range (inclusive) or choice check."""
    if row["checkType"] == "range":
        low, high = row["checkValue"]
        return isinstance(value, int | float) and low <= value <= high
    choices = row["checkValue"]
    if row["type"] == "string" and isinstance(value, str):
        return value.lower() in {str(c).lower() for c in choices}
    return bool(value in choices)


def describe_check(row: dict[str, Any]) -> str:
    """The row's check in words: "[1, 100]" or "one of 4, 8, 16"."""
    if row["checkType"] == "range":
        low, high = row["checkValue"]
        return f"[{low}, {high}]"
    return "one of " + ", ".join(str(c) for c in row["checkValue"])


def _lookup(table: dict[str, Any], value: str, param: str, what: str) -> str:
    for name in table:
        if name.lower() == value.strip().lower():
            return name
    raise errors.UnsupportedFeature(
        f"{param} {value} is not supported; {what} {', '.join(table)}", param=param
    )


def train_mode_name(value: str) -> str:
    """The vendor's spelling of a train mode (any case); UnsupportedFeature if not trained."""
    return _lookup(TRAIN_MODES, value, "trainMode", "tuneyard trains")


def objective(value: str) -> Objective:
    """The objective of a train mode."""
    return TRAIN_MODES[train_mode_name(value)]


def scale_name(value: str) -> str:
    """The vendor's spelling of a parameter scale; UnsupportedFeature if not trained."""
    return _lookup(SCALES, value, "parameterScale", "tuneyard trains")


def method(value: str) -> Method:
    """The method of a parameter scale."""
    return SCALES[scale_name(value)]


def support_models(models: Sequence[BaseModel]) -> list[dict[str, Any]]:
    """`DescribeFineTuningSupportModels`: each generation model, the train modes it takes
    and, per parameter scale, its hyperparameters with their checks and defaults."""
    return [
        {
            "model": model.name,
            "modelType": "text2text",
            "baseModel": model.name,
            "supportTrainMode": [
                {
                    "trainMode": mode_name,
                    "supportParameterScale": [
                        {
                            "parameterScale": scale,
                            "supportHyperParameterConfig": hyperparameters(SCALES[scale], mode),
                        }
                        for scale in _SCALES_OF[mode]
                    ],
                }
                for mode_name, mode in TRAIN_MODES.items()
            ],
        }
        for model in models
        if TaskType.GENERATION in model.task_types
    ]
