"""The worker → scheduler protocol: one JSON object per line on the worker's stdout.

Every line has an `event` key. The worker emits, in order:

- `preparing`  {"event": "preparing", "stage": "model" | "data"}       (may repeat)
- `data`       {"event": "data", "rows": int, "conversations": int, "tokens": int,
                "labels": [str] | null, "total_steps": int, "total_epochs": int}
- `progress`   {"event": "progress", "step": int, "total_steps": int, "epoch": int,
                "total_epochs": int, "loss": float, "accuracy": float | null,
                "tokens_per_s": float,
                "trained_tokens": int, "elapsed_s": float, "estimated_time_s": int | null}
               `epoch` is the 1-based epoch the step belongs to; `loss` is smoothed;
               `accuracy` is the share of the step's targets predicted right (tokens; DPO:
               pairs ranked right; classification: examples);
               `estimated_time_s` is the seed's estimatedTime (mean epoch time × epochs),
               null until the step rate is steady.
- `epoch`      {"event": "epoch", "epoch": int, "loss": float, "duration_s": float}
- `saved`      {"event": "saved", "path": str, "format": "peft" | "full"}
- then exactly one of
  `succeeded`  {"event": "succeeded", "trained_tokens": int, "train_loss": float}
  `failed`     {"event": "failed", "code": str, "message": str}
               `code` is a seed failureReason (`file.format`, `train.unknown`, …)
  `cancelled`  {"event": "cancelled", "step": int}  after SIGTERM, at a step boundary
  `paused`     {"event": "paused", "step": int}  after SIGUSR1, at a step boundary, once
               a checkpoint of that step is saved

Exit status: 0 after `succeeded`, 1 after `failed`, 3 after `cancelled`, 4 after `paused`.
A worker that dies without a final event is recorded as `train.unknown` with the tail of
its stderr.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["EXIT_CANCELLED", "EXIT_FAILED", "EXIT_OK", "EXIT_PAUSED", "decode", "encode"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CANCELLED = 3
EXIT_PAUSED = 4


def encode(event: str, **fields: Any) -> str:
    """One protocol line (without the newline)."""
    return json.dumps({"event": event, **fields}, ensure_ascii=False, allow_nan=False)


def decode(line: str) -> dict[str, Any] | None:
    """The event of one line, or None for a line that is not a protocol event."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("event"), str):
        return None
    return data
