"""The inference engine as the routes use it: the app's `Inference` port (a dependency),
the worker client built from the settings, what to run for a served model, the first
event of a reply, a reply folded whole (`collect`) or relayed as frames (`relay`), and a
server-sent-event response that always closes its source."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from typing import Annotated, Literal

from fastapi import Depends, Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from tuneyard import errors
from tuneyard.api import errors as api_errors
from tuneyard.core.served import ServedModel
from tuneyard.kinds import TaskType
from tuneyard.serving import protocol
from tuneyard.serving.client import Inference, WorkerClient
from tuneyard.settings import Settings

__all__ = [
    "EventStream",
    "InferenceDep",
    "collect",
    "first",
    "relay",
    "target",
    "worker_client",
]

log = logging.getLogger(__name__)


def worker_client(settings: Settings) -> WorkerClient:
    """The real engine: `python -m tuneyard.serving`, started on first use, its log in
    `<data dir>/inference.log`."""
    return WorkerClient(
        threads=settings.inference_threads,
        max_loaded_adapters=settings.max_loaded_adapters,
        max_running=settings.inference_slots,
        max_queued=settings.max_queued_requests,
        idle_seconds=settings.inference_idle_seconds,
        log_path=settings.data_dir.resolve() / "inference.log",
    )


def _inference(request: Request) -> Inference:
    inference: Inference = request.app.state.inference
    return inference


InferenceDep = Annotated[Inference, Depends(_inference)]
"""The app's inference engine (a fake in tests)."""


def target(model: ServedModel) -> protocol.Target:
    """What the worker loads for a served model."""
    kind: Literal["causal", "classifier"] = (
        "classifier" if model.task_type is TaskType.CLASSIFICATION else "causal"
    )
    return protocol.Target(base=model.base, adapter=model.adapter, kind=kind, builtin=model.builtin)


async def first(events: AsyncGenerator[protocol.Event, None]) -> protocol.Event:
    """The reply's first event: awaited before the response starts, so that a request
    the engine refuses (too long, queue full, model gone) gets an HTTP error."""
    try:
        return await anext(events)
    except StopAsyncIteration:
        raise RuntimeError("the inference engine ended a reply without events") from None


async def collect(
    first: protocol.Event,
    events: AsyncGenerator[protocol.Event, None],
    add: Callable[[protocol.Event], object],
) -> None:
    """Fold a whole reply: `add(first)`, then each later event; `events` is closed after,
    however it ends."""
    async with contextlib.aclosing(events):
        add(first)
        async for event in events:
            add(event)


async def relay(
    first: protocol.Event,
    events: AsyncGenerator[protocol.Event, None],
    render: Callable[[protocol.Event], Iterable[str]],
    failed: Callable[[errors.TuneyardError], str],
    *,
    ending: Callable[[], Iterable[str]] = tuple,
    name: str,
) -> AsyncGenerator[str, None]:
    """A reply's stream frames: those `render` makes of `first` and of each later event,
    then `ending()`'s. Closing it (the client left) closes `events`, which cancels the
    request. An error after the stream began ends it with `failed`'s frame instead of
    the ending (logged when it is the server's: a 5xx); `name` says whose stream it was."""
    async with contextlib.aclosing(events):
        try:
            for frame in render(first):
                yield frame
            async for event in events:
                for frame in render(event):
                    yield frame
        except errors.TuneyardError as exc:
            status, _ = api_errors.classify(exc)
            if status >= 500:
                log.error("%s stream failed: %s", name, exc)
            yield failed(exc)
            return
    for frame in ending():
        yield frame


class EventStream(StreamingResponse):
    """`text/event-stream` of `frames`, which are closed however the response ends (the
    client went away, the server stopped), so the request they read is cancelled."""

    def __init__(self, frames: AsyncGenerator[str, None] | AsyncIterator[str]) -> None:
        super().__init__(
            frames,
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )
        self._frames = frames

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            close = getattr(self._frames, "aclose", None)
            if close is not None:
                await close()
