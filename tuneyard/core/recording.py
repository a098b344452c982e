"""What a worker's events do to its job: the progress they update and the timeline entry
each leaves (see `tuneyard.core.protocol` for the events themselves)."""

from __future__ import annotations

import dataclasses

from tuneyard.core import protocol
from tuneyard.core.jobs import Progress
from tuneyard.core.ports import Ports

__all__ = ["apply", "describe", "record"]


def record(ports: Ports, job_id: str, event: protocol.Event) -> None:
    """Apply one worker event to the job's progress and timeline."""
    job = ports.jobs.get(job_id)
    if job is None:
        return
    now = ports.clock.now()
    if isinstance(event, protocol.Checkpoint):  # when it was saved, as the server saw it
        event = dataclasses.replace(event, created_at=now)
    progress = apply(job.progress, event)
    if progress != job.progress:
        ports.jobs.save_progress(job_id, progress, now)
    if isinstance(event, protocol.Step):
        ports.events.append(
            job_id,
            created_at=now,
            level="info",
            type="metrics",
            message=f"Step {event.step}/{event.total_steps}: loss={event.loss}",
            data=protocol.fields(event),
        )
        return
    message = describe(event)
    if message is not None:
        data = event.to_dict() if isinstance(event, protocol.Checkpoint) else protocol.fields(event)
        ports.events.append(
            job_id, created_at=now, level="info", type="message", message=message, data=data
        )


def apply(progress: Progress, event: protocol.Event) -> Progress:
    """The progress after one worker event."""
    match event:
        case protocol.Data():
            return dataclasses.replace(
                progress,
                num_tokens=progress.num_tokens if progress.num_tokens is not None else event.tokens,
                labels=event.labels or progress.labels,
                total_steps=event.total_steps,
                total_epochs=event.total_epochs,
                validation_examples=event.validation_examples,
                hyperparameters=event.hyperparameters or progress.hyperparameters,
                step=0,
                epoch=0,
            )
        case protocol.Resumed():
            return dataclasses.replace(progress, step=event.step)
        case protocol.Checkpoint():
            kept = [c for c in progress.checkpoints if c.step != event.step]
            return dataclasses.replace(
                progress, checkpoints=sorted([*kept, event], key=lambda c: c.step)
            )
        case protocol.CheckpointRemoved():
            kept = [c for c in progress.checkpoints if c.step != event.step]
            return dataclasses.replace(progress, checkpoints=kept)
        case protocol.Evaluated():
            return dataclasses.replace(progress, metrics=dict(event.metrics))
        case protocol.Step():
            return dataclasses.replace(
                progress,
                step=event.step,
                total_steps=event.total_steps,
                epoch=event.epoch,
                total_epochs=event.total_epochs,
                train_loss=event.loss,
                trained_tokens=event.trained_tokens,
                estimated_time_s=event.estimated_time_s,
            )
        case protocol.Succeeded():
            return dataclasses.replace(
                progress,
                trained_tokens=event.trained_tokens,
                train_loss=event.train_loss,
                step=progress.total_steps,
                epoch=progress.total_epochs,
            )
        case _:
            return progress


def describe(event: protocol.Event) -> str | None:
    """The timeline message of an event, or None for one the timeline leaves out (progress
    is logged as metrics; final events settle the job's status instead)."""
    match event:
        case protocol.Preparing():
            return f"Preparing {event.stage}"
        case protocol.Data():
            return (
                f"Data ready: {event.rows} rows, {event.tokens} tokens, "
                f"{event.total_steps} steps over {event.total_epochs} epochs"
            )
        case protocol.Epoch():
            return f"Epoch {event.epoch} done: loss={event.loss}"
        case protocol.Saved():
            return f"Saved the tuned model ({event.format})"
        case protocol.Resumed():
            return f"Resumed from the checkpoint at step {event.step}"
        case protocol.Checkpoint():
            return (
                f"Checkpoint at step {event.step}: train_loss={event.train_loss}, "
                f"valid_loss={event.valid_loss}, perplexity={event.perplexity}"
            )
        case protocol.CheckpointRemoved():
            return f"Removed the checkpoint at step {event.step} (save_total_limit)"
        case protocol.Evaluated():
            shown = ", ".join(f"{k}={v}" for k, v in event.metrics.items())
            return f"Evaluation: {shown or 'no validation data'}"
        case _:
            return None
