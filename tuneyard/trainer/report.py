"""What the worker tells the scheduler: protocol lines, throttled progress and run outcomes.

`Reporter` writes `tuneyard.core.progress` events. Per-step losses stay tensors (an
exponential moving average kept on the device) and are read back only when a progress line
is due, at most every `interval_s`, so reporting never forces a device sync per step.
`elapsed_s` and `tokens_per_s` count from the start of the training loop (model loading
and tokenising excluded); `trained_tokens` counts every epoch's tokens, padding excluded.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from tuneyard.core import progress

if TYPE_CHECKING:
    import torch

__all__ = ["Cancelled", "Failed", "Reporter", "estimate_time_s"]

_EMA_DECAY = 0.9
_MIN_STEPS_FOR_ESTIMATE = 3
_MIN_SHARE_FOR_ESTIMATE = 0.05


class Cancelled(Exception):
    """The run stopped at a step boundary after SIGTERM; ends with a `cancelled` event."""

    def __init__(self, step: int) -> None:
        self.step = step
        super().__init__(f"cancelled at step {step}")


class Failed(Exception):
    """The run cannot go on for a known reason; ends with a `failed` event carrying `code`."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


def estimate_time_s(
    *,
    steps_done: int,
    elapsed_s: float,
    steps_per_epoch: int,
    total_epochs: int,
    epoch_durations: list[float],
) -> int | None:
    """The seed's estimatedTime (mean epoch time times epochs) in seconds; None until it is steady.

    Before the first epoch ends, an epoch's time is the measured time per step times steps
    per epoch, once at least 3 steps and 5% of all steps are done.
    """
    if epoch_durations:
        return round(sum(epoch_durations) / len(epoch_durations) * total_epochs)
    total_steps = steps_per_epoch * total_epochs
    if steps_done < _MIN_STEPS_FOR_ESTIMATE or steps_done < _MIN_SHARE_FOR_ESTIMATE * total_steps:
        return None
    return round(elapsed_s / steps_done * steps_per_epoch * total_epochs)


class Reporter:
    """Writes protocol events to the scheduler's stream and keeps the running statistics."""

    def __init__(
        self,
        stream: TextIO,
        *,
        clock: Callable[[], float] = time.monotonic,
        interval_s: float = 0.5,
    ) -> None:
        self._stream = stream
        self._clock = clock
        self._interval_s = interval_s
        self._steps_per_epoch = 0
        self._total_epochs = 0
        self._started = 0.0
        self._last_emit = -math.inf
        self._epoch_started = 0.0
        self._epoch_durations: list[float] = []
        self._ema: torch.Tensor | None = None
        self._epoch_loss_sum: torch.Tensor | None = None
        self._epoch_steps = 0
        self.trained_tokens = 0
        """Tokens (padding excluded) the model has been trained on so far."""
        self.last_epoch_loss: float | None = None
        """Mean step loss of the last finished epoch."""

    def emit(self, event: str, **fields: Any) -> None:
        """Write one protocol line and flush it."""
        self._stream.write(progress.encode(event, **fields) + "\n")
        self._stream.flush()

    def start(self, *, steps_per_epoch: int, total_epochs: int) -> None:
        """Mark the start of the training loop."""
        self._steps_per_epoch = steps_per_epoch
        self._total_epochs = total_epochs
        self._started = self._epoch_started = self._clock()

    def step(self, step: int, epoch: int, loss: torch.Tensor, tokens: int) -> None:
        """Record one optimizer step; emit `progress` if one is due (and on the last step)."""
        loss = loss.detach()
        self._ema = loss.clone() if self._ema is None else self._ema.lerp(loss, 1 - _EMA_DECAY)
        self._epoch_loss_sum = loss if self._epoch_loss_sum is None else self._epoch_loss_sum + loss
        self._epoch_steps += 1
        self.trained_tokens += tokens
        now = self._clock()
        total_steps = self._steps_per_epoch * self._total_epochs
        if now - self._last_emit < self._interval_s and step < total_steps:
            return
        self._last_emit = now
        elapsed = now - self._started
        self.emit(
            "progress",
            step=step,
            total_steps=total_steps,
            epoch=epoch,
            total_epochs=self._total_epochs,
            loss=round(_finite(self._ema.item(), step), 6),
            tokens_per_s=round(self.trained_tokens / elapsed, 1) if elapsed > 0 else 0.0,
            trained_tokens=self.trained_tokens,
            elapsed_s=round(elapsed, 3),
            estimated_time_s=estimate_time_s(
                steps_done=step,
                elapsed_s=elapsed,
                steps_per_epoch=self._steps_per_epoch,
                total_epochs=self._total_epochs,
                epoch_durations=self._epoch_durations,
            ),
        )

    def end_epoch(self, epoch: int, step: int) -> None:
        """Emit `epoch` with the epoch's mean step loss and duration."""
        now = self._clock()
        duration = now - self._epoch_started
        self._epoch_started = now
        self._epoch_durations.append(duration)
        if self._epoch_loss_sum is not None:
            mean = self._epoch_loss_sum.item() / self._epoch_steps
            self.last_epoch_loss = _finite(mean, step)
        self._epoch_loss_sum = None
        self._epoch_steps = 0
        self.emit(
            "epoch",
            epoch=epoch,
            loss=round(self.last_epoch_loss or 0.0, 6),
            duration_s=round(duration, 3),
        )


def _finite(value: float, step: int) -> float:
    if not math.isfinite(value):
        raise FloatingPointError(
            f"training loss became {value} by step {step}; try a lower learning_rate"
        )
    return value
