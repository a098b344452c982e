"""OpenAI's ids and names over tuneyard's: `ftjob-{id}`, `ftevent-{id}-{seq}`,
`ftckpt_{id}_{step}`, and `ft:{model}:{org}:{suffix}:{id}` (`:ckpt-step-{step}`)."""

from __future__ import annotations

import re

from tuneyard import errors
from tuneyard.api import params

__all__ = [
    "checkpoint_id",
    "event_id",
    "fine_tuned_model",
    "job_id",
    "parse_checkpoint",
    "parse_event",
    "parse_job",
    "split_checkpoint_model",
]

_JOB = "ftjob-"
_EVENT = "ftevent-"
_CHECKPOINT = "ftckpt_"
_CKPT_MODEL = re.compile(r"(ft:.+):ckpt-step-([0-9]{1,16})")


def job_id(neutral: str) -> str:
    """`ftjob-` and the job's id (the id the other dialects show)."""
    return _JOB + neutral


def parse_job(value: str) -> str:
    """The job id inside `ftjob-…`; JobNotFound for anything else."""
    if not value.startswith(_JOB) or len(value) == len(_JOB):
        raise errors.JobNotFound(f"No fine-tuning job found with id {value}")
    return value[len(_JOB) :]


def event_id(neutral_job: str, seq: int) -> str:
    """An event's id: its job and its place in the job's timeline."""
    return f"{_EVENT}{neutral_job}-{seq}"


def parse_event(value: str, neutral_job: str) -> int:
    """The timeline position of an event id of this job (for `after`)."""
    prefix = f"{_EVENT}{neutral_job}-"
    try:
        return params.integer(value[len(prefix) :] if value.startswith(prefix) else "")
    except ValueError:
        raise errors.InvalidRequest(
            f"after: {value} is not an event of this job", param="after"
        ) from None


def checkpoint_id(neutral_job: str, step: int) -> str:
    """A checkpoint's id: its job and step."""
    return f"{_CHECKPOINT}{neutral_job}_{step}"


def parse_checkpoint(value: str, neutral_job: str) -> int:
    """The step of a checkpoint id of this job (for `after`)."""
    prefix = f"{_CHECKPOINT}{neutral_job}_"
    try:
        return params.integer(value[len(prefix) :] if value.startswith(prefix) else "")
    except ValueError:
        raise errors.InvalidRequest(
            f"after: {value} is not a checkpoint of this job", param="after"
        ) from None


def fine_tuned_model(model: str, organization: str, suffix: str | None, neutral_job: str) -> str:
    """`ft:{model}:{org}:{suffix}:{id}`; no suffix leaves it empty (`::`)."""
    return f"ft:{model}:{organization}:{suffix or ''}:{neutral_job}"


def split_checkpoint_model(model: str) -> tuple[str, int | None]:
    """(`ft:` name of the job, checkpoint step) of `…:ckpt-step-N`; (model, None) else."""
    found = _CKPT_MODEL.fullmatch(model)
    if found is None:
        return model, None
    return found.group(1), int(found.group(2))
