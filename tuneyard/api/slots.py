"""A deployment's capacity as the API enforces it: at most `capacity` of its requests are
decoding at once in this server; one more is refused (Throttled, 429) instead of queued
behind them.

The sum of the live deployments' capacities never passes the engine's batch
(`--inference-slots`, checked atomically in storage when they are created and scaled),
so a deployment's requests within its capacity always fit in the running batch
alongside the others' (requests to base models, which reserve nothing, share what is
left). The count is per server process: replicas each have their own engine.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tuneyard import errors
from tuneyard.core.deployments import Deployment

__all__ = ["Held", "Slots", "hold"]


class Slots:
    """Requests decoding now, per deployment id (used on the event loop only)."""

    def __init__(self) -> None:
        self._busy: dict[str, int] = {}

    def busy(self, deployment_id: str) -> int:
        """How many of the deployment's requests hold a slot now."""
        return self._busy.get(deployment_id, 0)

    def take(self, deployment: Deployment) -> None:
        """Hold one of its slots; Throttled when all `capacity` are busy."""
        busy = self.busy(deployment.id)
        if busy >= deployment.capacity:
            raise errors.Throttled(
                f"Requests rate limit exceeded: the deployment {deployment.name} is decoding "
                f"{busy} requests, all of its capacity {deployment.capacity}; retry later "
                "or scale it."
            )
        self._busy[deployment.id] = busy + 1

    def give(self, deployment_id: str) -> None:
        """Give one back."""
        left = self._busy.get(deployment_id, 0) - 1
        if left > 0:
            self._busy[deployment_id] = left
        else:
            self._busy.pop(deployment_id, None)


class Held(Response):
    """`inner`, with a deployment's slot held until it has been sent in full (a stream
    ends, or its client goes away)."""

    def __init__(self, inner: Response, slots: Slots, deployment_id: str) -> None:
        super().__init__(status_code=inner.status_code)
        self.inner = inner
        self.raw_headers = inner.raw_headers
        self._slots = slots
        self._deployment_id = deployment_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.inner(scope, receive, send)
        finally:
            self._slots.give(self._deployment_id)


async def hold(
    pool: Slots, deployment: Deployment | None, answer: Coroutine[Any, Any, Response]
) -> Response:
    """The response `answer` makes, with one of the deployment's slots held until it has
    been sent (a base model, `deployment` None, holds none); Throttled, `answer` never
    run, when its capacity is busy."""
    if deployment is None:
        return await answer
    try:
        pool.take(deployment)
    except errors.Throttled:
        answer.close()  # never awaited
        raise
    try:
        response = await answer
    except BaseException:
        pool.give(deployment.id)
        raise
    return Held(response, pool, deployment.id)
