"""JobStatus and the transition table: the only place that says which status may follow which."""

from __future__ import annotations

import enum

from tuneyard import errors

__all__ = ["LEASED", "TERMINAL", "TRANSITIONS", "JobStatus", "check_transition", "is_terminal"]


class JobStatus(enum.StrEnum):
    """The neutral job states (spec §5.2); each dialect renders them its own way."""

    CREATED = "created"
    VALIDATING = "validating"
    QUEUED = "queued"
    RUNNING = "running"
    PAUSING = "pausing"
    PAUSED = "paused"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
LEASED = frozenset(
    {JobStatus.VALIDATING, JobStatus.RUNNING, JobStatus.CANCELLING, JobStatus.PAUSING}
)
"""Statuses in which one scheduler owns the job under a lease it renews; a lapsed (or
missing) lease means the owner is gone and any scheduler settles the job. CREATED and
QUEUED jobs are taken by whichever scheduler ticks next; PAUSED ones wait for their user."""

_S = JobStatus
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    _S.CREATED: frozenset({_S.VALIDATING, _S.CANCELLED, _S.FAILED}),
    # VALIDATING -> CREATED: the scheduler validating it died (its lease lapsed); validate again.
    _S.VALIDATING: frozenset({_S.QUEUED, _S.FAILED, _S.CANCELLED, _S.CREATED}),
    _S.QUEUED: frozenset({_S.RUNNING, _S.CANCELLED, _S.FAILED}),
    # RUNNING -> QUEUED: the worker was stopped by a shutdown or lost its lease; run again.
    _S.RUNNING: frozenset({_S.SUCCEEDED, _S.FAILED, _S.CANCELLING, _S.PAUSING, _S.QUEUED}),
    # PAUSING: the worker saves a checkpoint at its next step boundary and exits.
    _S.PAUSING: frozenset({_S.PAUSED, _S.CANCELLING, _S.FAILED, _S.SUCCEEDED}),
    _S.PAUSED: frozenset({_S.QUEUED, _S.CANCELLED, _S.FAILED}),
    _S.CANCELLING: frozenset({_S.CANCELLED, _S.FAILED}),
    _S.SUCCEEDED: frozenset(),
    _S.FAILED: frozenset(),
    _S.CANCELLED: frozenset(),
}


def is_terminal(status: JobStatus) -> bool:
    """True when nothing can happen to a job in this status any more."""
    return status in TERMINAL


def check_transition(current: JobStatus, new: JobStatus) -> None:
    """Raise `errors.InvalidTransition` unless `current -> new` is in the table."""
    if new not in TRANSITIONS[current]:
        raise errors.InvalidTransition(f"a job cannot go from {current.value} to {new.value}")
