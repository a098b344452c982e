"""A request driven through an ASGI app by hand, whose client stays until the test lets
it go: for streams that must be held open (a slot taken, a stream cap reached) and then
left mid-way (the app must notice the disconnect and clean up)."""

from __future__ import annotations

import asyncio
import json as jsonlib
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp

__all__ = ["OpenCall", "data_frames"]


class OpenCall:
    """`method path` sent to `app` at once (with `json` as its body, if given); the call
    runs as `task` until the app ends it or the client leaves (`leave()`). `responded` is
    set at the response's start, `started` at its first body bytes; `status` and `body`
    are what has come so far."""

    def __init__(
        self,
        app: ASGIApp,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        json: Any = None,
    ) -> None:
        self.status = 0
        self.body = b""
        self.responded = asyncio.Event()
        self.started = asyncio.Event()
        self.gone = asyncio.Event()
        self._asked = False
        self._raw = b"" if json is None else jsonlib.dumps(json).encode()
        sent = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        if json is not None:
            sent = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(self._raw)).encode()),
                *sent,
            ]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": sent,
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        self.task = asyncio.create_task(app(scope, self._receive, self._send))

    async def _receive(self) -> dict[str, Any]:
        if not self._asked:
            self._asked = True
            return {"type": "http.request", "body": self._raw, "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.responded.set()
            return
        self.body += message.get("body", b"")
        if self.body:
            self.started.set()

    async def answered(self) -> int:
        """The status, once the first bytes have come (or the request has ended)."""
        waiter = asyncio.create_task(self.started.wait())
        await asyncio.wait({waiter, self.task}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        return self.status

    async def leave(self) -> None:
        """The client goes away; the app call returns."""
        self.gone.set()
        await asyncio.wait_for(self.task, 10)


def data_frames(text: str) -> list[Any]:
    """The `data: ` payloads of a server-sent-event body, JSON-decoded (`[DONE]` kept as
    a string)."""
    found: list[Any] = []
    for line in text.splitlines():
        if line.startswith("data: "):
            payload = line.removeprefix("data: ")
            found.append(payload if payload == "[DONE]" else jsonlib.loads(payload))
    return found
