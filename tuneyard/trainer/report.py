"""What the worker tells the scheduler: protocol lines, throttled progress and run outcomes.

`Reporter` writes `tuneyard.core.protocol` events. Per-step losses stay tensors (an
exponential moving average kept on the device) and are read back only when a progress line
is due, at most every `interval_s`, so reporting never forces a device sync per step.
`elapsed_s` counts the training loop's time (model loading and tokenising excluded, earlier
attempts of a resumed run included), `tokens_per_s` this process's rate, `trained_tokens`
every epoch's tokens, padding excluded. `remaining_s` comes from `Eta`.
"""

from __future__ import annotations

import bisect
import contextlib
import math
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from tuneyard.core import protocol

if TYPE_CHECKING:
    import torch

__all__ = ["Cancelled", "Eta", "Failed", "Reporter"]

_EMA_DECAY = 0.9
_MIN_STEPS_FOR_ESTIMATE = 3
_MIN_SHARE_FOR_ESTIMATE = 0.05


class Cancelled(Exception):
    """The run stopped at a step boundary after SIGTERM; ends with a `cancelled` event."""

    def __init__(self, step: int) -> None:
        self.step = step
        super().__init__(f"cancelled at step {step}")


class Paused(Exception):
    """The run stopped at a step boundary after SIGUSR1, its checkpoint saved; ends with a
    `paused` event."""

    def __init__(self, step: int) -> None:
        self.step = step
        super().__init__(f"paused at step {step}")


class Failed(Exception):
    """The run cannot go on for a known reason; ends with a `failed` event carrying `code`."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


class Eta:
    """Remaining time of the loop from the work still to do and the work rate measured.

    Every step's work is known before the loop starts (the batch order is fixed by the
    seed): its tokens, weighted up for attention's cost in long examples. So are the steps
    after which a checkpoint is saved (`saves`): validation plus writing the weights and
    optimizer state. The training rate is measured from the end of the first step this
    process ran (which pays one-off warm-up costs), with the time spent saving taken out;
    a save's cost is the mean of those measured, or before the first, its validation work
    (`save_work`) at the training rate. There is no estimate until 3 more steps and 5% of
    the work are done, so a wrong early guess is never shown.
    """

    def __init__(
        self,
        work: Sequence[float],
        *,
        saves: Collection[int] = (),
        save_work: float = 0.0,
    ) -> None:
        self._done_by_step = [0.0]
        for amount in work:
            self._done_by_step.append(self._done_by_step[-1] + amount)
        self._total = self._done_by_step[-1]
        self._saves = sorted(saves)
        self._save_work = save_work
        self._anchor: tuple[int, float] | None = None
        self._save_seconds: list[float] = []

    def saved(self, seconds: float) -> None:
        """A checkpoint save (after the last observed step) took `seconds`."""
        if self._anchor is not None:
            self._save_seconds.append(seconds)

    def observe(self, step: int, now: float) -> float | None:
        """Seconds left after `step` (1-based, global) finished at `now`; None until steady."""
        if self._anchor is None:
            self._anchor = (step, now)
            return None
        anchor_step, anchor_time = self._anchor
        measured = self._done_by_step[step] - self._done_by_step[anchor_step]
        training_time = now - anchor_time - sum(self._save_seconds)
        if (
            step - anchor_step < _MIN_STEPS_FOR_ESTIMATE
            or measured < _MIN_SHARE_FOR_ESTIMATE * self._total
            or training_time <= 0
        ):
            return None
        rate = measured / training_time
        saves_left = len(self._saves) - bisect.bisect_left(self._saves, step)
        save_cost = (
            sum(self._save_seconds) / len(self._save_seconds)
            if self._save_seconds
            else self._save_work / rate
        )
        return (self._total - self._done_by_step[step]) / rate + saves_left * save_cost


class Reporter:
    """Writes protocol events to the scheduler's stream and keeps the running statistics."""

    def __init__(
        self,
        stream: TextIO,
        *,
        clock: Callable[[], float] = time.monotonic,
        interval_s: float = 0.5,
        before_emit: Callable[[protocol.Event], None] | None = None,
    ) -> None:
        self._stream = stream
        self._before_emit = before_emit
        """Called with each event before it is written (staging pushes the bytes it names)."""
        self._clock = clock
        self._interval_s = interval_s
        self._total_steps = 0
        self._total_epochs = 0
        self._eta = Eta([])
        self._started = 0.0
        self._elapsed_before = 0.0
        self._last_emit = -math.inf
        self._epoch_started = 0.0
        self._ema: torch.Tensor | None = None
        self._accuracy: torch.Tensor | None = None
        self._epoch_loss_sum: torch.Tensor | None = None
        self._epoch_steps = 0
        self._tokens_this_run = 0
        self.trained_tokens = 0
        """Tokens (padding excluded) the model has been trained on so far."""
        self.last_epoch_loss: float | None = None
        """Mean step loss of the last finished epoch."""

    def emit(self, event: protocol.Event) -> None:
        """Write one protocol line and flush it."""
        if self._before_emit is not None:
            self._before_emit(event)
        self._stream.write(protocol.encode(event) + "\n")
        self._stream.flush()

    def start(
        self,
        *,
        total_steps: int,
        total_epochs: int,
        work: Sequence[float],
        saves: Collection[int] = (),
        save_work: float = 0.0,
        resume: Mapping[str, Any] | None = None,
    ) -> None:
        """Mark the start of the training loop; `work`, `saves` and `save_work` are as for
        `Eta`; `resume` is a saved `state()`."""
        self._total_steps = total_steps
        self._total_epochs = total_epochs
        resume = resume or {}
        self._eta = Eta(work, saves=saves, save_work=save_work)
        self.trained_tokens = int(resume.get("trained_tokens", 0))
        self._elapsed_before = float(resume.get("elapsed_s", 0.0))
        self._epoch_steps = int(resume.get("epoch_steps", 0))
        if self._epoch_steps:
            self._epoch_loss_sum = _scalar(float(resume.get("epoch_loss_sum", 0.0)))
        self.last_epoch_loss = resume.get("last_epoch_loss")
        self._started = self._epoch_started = self._clock()
        self._epoch_started -= float(resume.get("epoch_elapsed_s", 0.0))

    def state(self, step: int) -> dict[str, Any]:
        """What a resume at `step` needs to carry the statistics on (saved with checkpoints)."""
        now = self._clock()
        return {
            "step": step,
            "trained_tokens": self.trained_tokens,
            "elapsed_s": self._elapsed_before + now - self._started,
            "epoch_steps": self._epoch_steps,
            "epoch_loss_sum": (
                self._epoch_loss_sum.item() if self._epoch_loss_sum is not None else 0.0
            ),
            "epoch_elapsed_s": now - self._epoch_started,
            "last_epoch_loss": self.last_epoch_loss,
        }

    def due(self, step: int) -> bool:
        """Whether `step` will be reported (the interval has passed, or it is the last):
        the loop measures the step's accuracy only then, as it costs a pass over the
        logits."""
        return self._due_at(step, self._clock())

    def _due_at(self, step: int, now: float) -> bool:
        return now - self._last_emit >= self._interval_s or step >= self._total_steps

    def step(
        self,
        step: int,
        epoch: int,
        loss: torch.Tensor,
        tokens: int,
        *,
        accuracy: torch.Tensor | None = None,
        lr: float | None = None,
    ) -> None:
        """Record one optimizer step (its loss and, on the steps the loop measured it, the
        share of its targets predicted right); emit `progress` if one is due (and on the
        last step) with the smoothed loss, the step's own loss, the latest accuracy
        measured and the learning rate `lr` the step used."""
        loss = loss.detach()
        self._ema = loss.clone() if self._ema is None else self._ema.lerp(loss, 1 - _EMA_DECAY)
        if accuracy is not None:
            self._accuracy = accuracy.detach()
        self._epoch_loss_sum = loss if self._epoch_loss_sum is None else self._epoch_loss_sum + loss
        self._epoch_steps += 1
        self.trained_tokens += tokens
        self._tokens_this_run += tokens
        now = self._clock()
        remaining = self._eta.observe(step, now)
        if not self._due_at(step, now):
            return
        self._last_emit = now
        run_time = now - self._started
        elapsed = self._elapsed_before + run_time
        self.emit(
            protocol.Step(
                step=step,
                total_steps=self._total_steps,
                epoch=epoch,
                total_epochs=self._total_epochs,
                loss=round(_finite(self._ema.item(), step), 6),
                accuracy=None if self._accuracy is None else round(self._accuracy.item(), 6),
                tokens_per_s=round(self._tokens_this_run / run_time, 1) if run_time > 0 else 0.0,
                trained_tokens=self.trained_tokens,
                elapsed_s=round(elapsed, 3),
                remaining_s=None if remaining is None else round(remaining, 1),
                estimated_time_s=None if remaining is None else round(elapsed + remaining),
                raw_loss=round(_finite(loss.item(), step), 6),
                lr=lr,
            )
        )

    @contextlib.contextmanager
    def saving(self) -> Iterator[None]:
        """Time a checkpoint save (validation and writing) for the ETA."""
        began = self._clock()
        yield
        self._eta.saved(self._clock() - began)

    def end_epoch(self, epoch: int, step: int) -> None:
        """Emit `epoch` with the epoch's mean step loss and duration."""
        now = self._clock()
        duration = now - self._epoch_started
        self._epoch_started = now
        if self._epoch_loss_sum is not None and self._epoch_steps:
            mean = self._epoch_loss_sum.item() / self._epoch_steps
            self.last_epoch_loss = _finite(mean, step)
        self._epoch_loss_sum = None
        self._epoch_steps = 0
        self.emit(
            protocol.Epoch(
                epoch=epoch,
                loss=round(self.last_epoch_loss or 0.0, 6),
                duration_s=round(duration, 3),
            )
        )

    def epoch_loss(self) -> float | None:
        """Mean step loss of the epoch so far (None before its first step)."""
        if self._epoch_loss_sum is None or not self._epoch_steps:
            return self.last_epoch_loss
        return float(self._epoch_loss_sum.item()) / self._epoch_steps


def _scalar(value: float) -> torch.Tensor:
    """A scalar tensor. torch is imported here, not at the top: the worker imports this
    module before the recipe, so that a recipe whose imports fail can still be reported."""
    import torch

    return torch.tensor(value)


def _finite(value: float, step: int) -> float:
    if not math.isfinite(value):
        raise FloatingPointError(
            f"training loss became {value} by step {step}; try a lower learning_rate"
        )
    return value
