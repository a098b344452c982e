"""`Meter`: what the scheduler reports for monitoring, with no monitoring library in sight.

The scheduler calls a `Meter` as workers start, train and go; the API side implements it
with Prometheus (`tuneyard.api.metrics`). `NO_METER` discards everything: the default,
so a scheduler built without one (tests, CLI commands) measures nothing.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["NO_METER", "Meter", "NoMeter"]


class Meter(Protocol):
    """Receives the scheduler's measurements; every method must be cheap and never raise."""

    def job_claimed(self, waited_s: float) -> None:
        """A queued job was claimed after waiting `waited_s` seconds in the queue."""
        ...

    def worker_started(self) -> None:
        """A worker process (or task) was launched for a claimed job."""
        ...

    def worker_lost(self, reason: str) -> None:
        """A worker was lost: it ended with no final event though nobody stopped it
        (`exited`), or the lease of its job lapsed (`lease_expired`)."""
        ...

    def trained(self, job_id: str, tokens: int, tokens_per_s: float) -> None:
        """A job's worker trained `tokens` more tokens and now runs at `tokens_per_s`."""
        ...

    def worker_exited(self, job_id: str) -> None:
        """The job's worker is gone (whatever the outcome): forget its rate."""
        ...


class NoMeter:
    """A `Meter` that measures nothing."""

    def job_claimed(self, waited_s: float) -> None:
        """Ignored."""

    def worker_started(self) -> None:
        """Ignored."""

    def worker_lost(self, reason: str) -> None:
        """Ignored."""

    def trained(self, job_id: str, tokens: int, tokens_per_s: float) -> None:
        """Ignored."""

    def worker_exited(self, job_id: str) -> None:
        """Ignored."""


NO_METER: Meter = NoMeter()
"""The default meter: measures nothing."""
