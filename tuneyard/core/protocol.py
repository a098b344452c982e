"""The worker → scheduler protocol: one JSON object per line on the worker's stdout.

Every line has an `event` key naming its kind; each kind is one frozen dataclass here (the
`checkpoint` kind is `tuneyard.core.checkpoints.Checkpoint`), written by `encode` and read
back by `decode`. The worker emits, in order:

- `preparing`  `Preparing`: stage ("model" | "data" | "reference" | "evaluation"; repeats)
- `data`       `Data`: rows, conversations, tokens, labels ([str] | null), total_steps,
               total_epochs, validation_examples, packed, fused_lora_layers,
               hyperparameters (the resolved ones; the last four absent when unknown)
- `resumed`    `Resumed`: step, checkpoint (its path) — the run goes on from there
- `progress`   `Step`: step, total_steps, epoch, total_epochs, loss, accuracy,
               tokens_per_s, trained_tokens, elapsed_s, remaining_s, estimated_time_s.
               `epoch` is the 1-based epoch the step belongs to; `loss` is smoothed;
               `accuracy` is the share of the step's targets predicted right (tokens; DPO:
               pairs ranked right; classification: examples), null until measured;
               `remaining_s` / `estimated_time_s` (the seed's estimatedTime: elapsed +
               remaining) are null until the step rate is steady; then raw_loss (the
               step's own loss) and lr (the learning rate it used), absent when unknown.
- `epoch`      `Epoch`: epoch, loss (the epoch's mean step loss), duration_s
- `checkpoint` `Checkpoint`: step, epoch, path, train_loss, valid_loss, perplexity,
               token_accuracy, reward_accuracy (losses null where not measured)
- `checkpoint_removed` `CheckpointRemoved`: step, path (pruned by save_total_limit)
- `evaluated`  `Evaluated`: metrics ({name: float}), validation_examples
- `saved`      `Saved`: path, format ("peft" | "full")
- then exactly one of
  `succeeded`  `Succeeded`: trained_tokens, train_loss
  `failed`     `Failed`: code (a seed failureReason: `file.format`, `train.unknown`, …),
               message
  `cancelled`  `Cancelled`: step — after SIGTERM, at a step boundary
  `paused`     `Paused`: step — after SIGUSR1, at a step boundary, once a checkpoint of
               that step is saved

Exit status: 0 after `succeeded`, 1 after `failed`, 3 after `cancelled`, 4 after `paused`.
A worker that dies without a final event is recorded as `train.unknown` with the tail of
its stderr. `decode` is tolerant: a line that is not a protocol event (not JSON, no known
`event`, a field missing) reads as None, and keys it does not know are ignored.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, TypeAlias

from tuneyard.core import checkpoints
from tuneyard.core.checkpoints import Checkpoint

__all__ = [
    "EXIT_CANCELLED",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_PAUSED",
    "FINAL",
    "KINDS",
    "Cancelled",
    "Checkpoint",
    "CheckpointRemoved",
    "Data",
    "Epoch",
    "Evaluated",
    "Event",
    "Failed",
    "Paused",
    "Preparing",
    "Resumed",
    "Saved",
    "Step",
    "Succeeded",
    "decode",
    "encode",
    "fields",
    "kind",
    "wire",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CANCELLED = 3
EXIT_PAUSED = 4

_ABSENT_WHEN_NONE = {"absent_when_none": True}
"""Field metadata: the key is left out of the line while the value is None."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Preparing:
    """A stage of the set-up began: "model", "data", "reference" (DPO) or "evaluation"."""

    stage: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Data:
    """The data is tokenised and the run planned."""

    rows: int
    conversations: int
    tokens: int
    labels: list[str] | None
    total_steps: int
    total_epochs: int
    validation_examples: int | None = dataclasses.field(default=None, metadata=_ABSENT_WHEN_NONE)
    packed: bool | None = dataclasses.field(default=None, metadata=_ABSENT_WHEN_NONE)
    fused_lora_layers: int | None = dataclasses.field(default=None, metadata=_ABSENT_WHEN_NONE)
    precision: str | None = dataclasses.field(default=None, metadata=_ABSENT_WHEN_NONE)
    """The dtype the loop trains in on a CPU: "fp32", or "bf16" (autocast)."""
    hyperparameters: dict[str, Any] | None = dataclasses.field(
        default=None, metadata=_ABSENT_WHEN_NONE
    )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Resumed:
    """The run goes on from the checkpoint at `step` (its path: `checkpoint`)."""

    step: int
    checkpoint: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """Training progress after an optimizer step (kind `progress`; throttled)."""

    step: int
    total_steps: int
    epoch: int
    total_epochs: int
    loss: float
    accuracy: float | None = None
    tokens_per_s: float
    trained_tokens: int
    elapsed_s: float
    remaining_s: float | None = None
    estimated_time_s: int | None = None
    raw_loss: float | None = dataclasses.field(default=None, metadata=_ABSENT_WHEN_NONE)
    """The step's own loss, before smoothing (absent from older workers)."""
    lr: float | None = dataclasses.field(default=None, metadata=_ABSENT_WHEN_NONE)
    """The learning rate the step used (absent from older workers)."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Epoch:
    """An epoch ended: its mean step loss and how long it took."""

    epoch: int
    loss: float
    duration_s: float


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointRemoved:
    """The checkpoint at `step` was deleted (save_total_limit)."""

    step: int
    path: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Evaluated:
    """The final evaluation's metrics (empty without validation data)."""

    metrics: dict[str, float]
    validation_examples: int | None = dataclasses.field(default=None, metadata=_ABSENT_WHEN_NONE)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Saved:
    """The tuned model is written to `path` ("peft" adapter or "full" model)."""

    path: str
    format: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Succeeded:
    """The run finished (final)."""

    trained_tokens: int
    train_loss: float


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Failed:
    """The run cannot go on (final); `code` is a seed failureReason."""

    code: str
    message: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Cancelled:
    """The run stopped after SIGTERM at the boundary after `step` (final)."""

    step: int


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Paused:
    """The run stopped after SIGUSR1, its checkpoint of `step` saved (final)."""

    step: int


Event: TypeAlias = (
    Preparing
    | Data
    | Resumed
    | Step
    | Epoch
    | Checkpoint
    | CheckpointRemoved
    | Evaluated
    | Saved
    | Succeeded
    | Failed
    | Cancelled
    | Paused
)
"""Any protocol event."""

KINDS: dict[str, type[Event]] = {
    "preparing": Preparing,
    "data": Data,
    "resumed": Resumed,
    "progress": Step,
    "epoch": Epoch,
    "checkpoint": Checkpoint,
    "checkpoint_removed": CheckpointRemoved,
    "evaluated": Evaluated,
    "saved": Saved,
    "succeeded": Succeeded,
    "failed": Failed,
    "cancelled": Cancelled,
    "paused": Paused,
}
"""Every event kind, by its `event` name."""

FINAL: tuple[type[Event], ...] = (Succeeded, Failed, Cancelled, Paused)
"""The kinds that end a run: exactly one of them is a worker's last line."""

_NAMES = {cls: name for name, cls in KINDS.items()}


def kind(event: Event) -> str:
    """The `event` name of an event."""
    return _NAMES[type(event)]


def fields(event: Event) -> dict[str, Any]:
    """The event's fields as on the wire (without `event`), in their order there."""
    if isinstance(event, Checkpoint):
        return event.wire()
    return {
        f.name: getattr(event, f.name)
        for f in dataclasses.fields(event)
        if not (f.metadata.get("absent_when_none") and getattr(event, f.name) is None)
    }


def wire(event: Event) -> dict[str, Any]:
    """The JSON object of the event's line: `event` (its kind), then its fields."""
    return {"event": kind(event), **fields(event)}


def encode(event: Event) -> str:
    """One protocol line (without the newline)."""
    return json.dumps(wire(event), ensure_ascii=False, allow_nan=False)


def decode(line: str) -> Event | None:
    """The event of one line, or None for a line that is not a protocol event."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    name = data.get("event") if isinstance(data, dict) else None
    cls = KINDS.get(name) if isinstance(name, str) else None
    if cls is None:
        return None
    names = (
        set(checkpoints.WIRE) if cls is Checkpoint else {f.name for f in dataclasses.fields(cls)}
    )
    try:
        return cls(**{k: v for k, v in data.items() if k in names})
    except TypeError:  # a field missing
        return None
