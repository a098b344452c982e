"""Neutral → Qianfan: pure rendering of errors and the fine-tuning model catalogue (spec §3)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tuneyard.core.jobs import TaskType
from tuneyard.core.models import BaseModel

__all__ = ["ERRORS", "HYPERPARAMETERS", "PARAMETER_SCALES", "error_body", "support_models"]

ERRORS: dict[str, tuple[int, str, str]] = {
    "validation": (400, "InappropriateJSON", "The request is not valid."),
    "unsupported": (400, "InappropriateJSON", "Unsupported parameter."),
    "model_not_found": (400, "InappropriateJSON", "Model not found."),
    "malformed_json": (400, "MalformedJSON", "The body is not well-formed JSON."),
    "unknown_action": (400, "InvalidHTTPRequest", "Unknown Action."),
    "unauthenticated": (400, "InvalidHTTPAuthHeader", "The Authorization header is missing."),
    "malformed_credentials": (400, "InvalidHTTPAuthHeader", "The Authorization header is invalid."),
    "invalid_credentials": (403, "InvalidAccessKeyId", "The access key ID does not exist."),
    "signature_mismatch": (400, "SignatureDoesNotMatch", "The request signature does not match."),
    "request_expired": (400, "RequestExpired", "The request has expired."),
    "forbidden": (403, "AccessDenied", "Access denied."),
    "not_found": (404, "ResourceNotFound", "The resource does not exist."),
    "file_not_found": (404, "ResourceNotFound", "The dataset does not exist."),
    "method_not_allowed": (405, "InvalidHTTPRequest", "Method not allowed."),
    "wrong_state": (400, "InappropriateJSON", "The task's status does not allow this."),
    "conflict": (409, "Conflict", "Conflict."),
    "rate_limited": (429, "RequestLimitExceeded", "Too many tasks; please retry later."),
    "internal": (500, "InternalError", "Internal server error."),
}
"""Neutral error code → (HTTP status, BCE code, default message) (spec §3.4, §5.5, §7)."""

PARAMETER_SCALES = {"FullFineTuning": "full", "LoRA": "lora"}
"""Qianfan `parameterScale` → tuneyard method."""

HYPERPARAMETERS: list[dict[str, Any]] = [
    {"key": "epoch", "type": "int", "checkType": "range", "checkValue": [1, 100], "default": 1,
     "name": "Epochs", "description": "Passes over the training set."},
    {"key": "learningRate", "type": "float", "checkType": "range", "checkValue": [1e-7, 1],
     "default": 3e-4, "name": "Learning rate", "description": "Peak learning rate of AdamW."},
    {"key": "batchSize", "type": "int", "checkType": "range", "checkValue": [1, 1024],
     "default": 8, "name": "Batch size", "description": "Examples per micro-batch."},
    {"key": "maxSeqLen", "type": "int", "checkType": "range", "checkValue": [16, 131072],
     "default": 4096, "name": "Max sequence length",
     "description": "Tokens per example; longer ones are truncated, the prompt side first."},
    {"key": "warmupRatio", "type": "float", "checkType": "range", "checkValue": [0, 0.99],
     "default": 0.1, "name": "Warm-up ratio", "description": "Share of steps spent warming up."},
    {"key": "weightDecay", "type": "float", "checkType": "range", "checkValue": [0, 1],
     "default": 0.01, "name": "Weight decay", "description": "AdamW weight decay."},
    {"key": "schedulerName", "type": "string", "checkType": "choice",
     "checkValue": ["linear", "cosine", "constant"], "default": "cosine",
     "name": "Scheduler", "description": "Learning-rate schedule after warm-up."},
    {"key": "saveStep", "type": "int", "checkType": "range", "checkValue": [0, 1000000],
     "default": 0, "name": "Save every N steps",
     "description": "Checkpoint every N steps; 0 saves one per epoch."},
    {"key": "checkpointCount", "type": "int", "checkType": "range", "checkValue": [1, 100],
     "default": 3, "name": "Checkpoints kept",
     "description": "The last N checkpoints, plus the best one, are kept."},
]  # fmt: skip
"""The hyperparameters every train mode takes (keys as the vendor spells them)."""

_LORA_ONLY: list[dict[str, Any]] = [
    {"key": "loraRank", "type": "int", "checkType": "choice", "checkValue": [4, 8, 16, 32, 64],
     "default": 8, "name": "LoRA rank", "description": "Rank r of the adapters."},
    {"key": "loraAlpha", "type": "int", "checkType": "range", "checkValue": [1, 4096],
     "default": 32, "name": "LoRA alpha", "description": "Scaling alpha of the adapters."},
    {"key": "loraDropout", "type": "float", "checkType": "range", "checkValue": [0, 0.99],
     "default": 0.0, "name": "LoRA dropout", "description": "Dropout on the adapter path."},
]  # fmt: skip


def error_body(code: str, message: str, request_id: str) -> tuple[int, dict[str, Any]]:
    """(HTTP status, `{requestId, code, message}`) for a neutral error code."""
    status, vendor_code, default = ERRORS.get(code, ERRORS["internal"])
    return status, {"requestId": request_id, "code": vendor_code, "message": message or default}


def support_models(models: Sequence[BaseModel]) -> list[dict[str, Any]]:
    """`DescribeFineTuningSupportModels`: each chat model, its train mode (SFT) and, per
    parameter scale, the hyperparameters it takes with their checks and defaults."""
    return [
        {
            "model": model.name,
            "modelType": "text2text",
            "baseModel": model.name,
            "supportTrainMode": [
                {
                    "trainMode": "SFT",
                    "supportParameterScale": [
                        {
                            "parameterScale": scale,
                            "supportHyperParameterConfig": HYPERPARAMETERS
                            + (_LORA_ONLY if scale == "LoRA" else []),
                        }
                        for scale in PARAMETER_SCALES
                    ],
                }
            ],
        }
        for model in models
        if TaskType.GENERATION in model.task_types
    ]
