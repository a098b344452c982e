"""Open event streams per workspace: a cap, and a response that gives its slot back.

A stream holds its slot from the moment it is answered until it ends, however it ends
(the job finished, the stream went idle, the client went away, the server stopped).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from tuneyard import errors

__all__ = ["OpenStreams"]


class OpenStreams:
    """How many event streams each workspace has open, at most `cap` (safe across threads)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self, workspace: str) -> int:
        """Streams the workspace has open now."""
        with self._lock:
            return self._open[workspace]

    def snapshot(self) -> dict[str, int]:
        """Streams open now in each workspace that has any (read by /metrics)."""
        with self._lock:
            return dict(self._open)

    def response(self, workspace: str, frames: AsyncIterator[str | bytes]) -> StreamingResponse:
        """A `text/event-stream` response of `frames` holding one of the workspace's slots
        until it ends; Throttled when the workspace already has `cap` open."""
        with self._lock:
            if self._open[workspace] >= self.cap:
                raise errors.Throttled(
                    f"{self.cap} event streams are already open in this workspace; "
                    "close one or retry later."
                )
            self._open[workspace] += 1
        return _Held(frames, release=lambda: self._release(workspace))

    def _release(self, workspace: str) -> None:
        with self._lock:
            self._open[workspace] -= 1
            if self._open[workspace] <= 0:
                del self._open[workspace]


class _Held(StreamingResponse):
    """An event stream that calls `release` once, when it ends for any reason."""

    def __init__(self, frames: AsyncIterator[str | bytes], *, release: Callable[[], None]) -> None:
        super().__init__(frames, media_type="text/event-stream")
        self._frames = frames
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            try:
                close = getattr(self._frames, "aclose", None)
                if close is not None:
                    await close()
            finally:
                self._release()
