"""The edge every request passes first: bad paths refused, bodies read only up to a limit.

A pure ASGI middleware, so it runs before routing, before the key is checked and before
any body is read:

- a path holding a NUL or another control character, or longer than MAX_PATH_BYTES, is
  refused (400);
- a declared `Content-Length` past the route's limit is refused (413) at once, the body
  unread;
- any other body (chunked too) is counted as the app reads it: past the limit reading
  stops with `PayloadTooLarge` (413), so no more of it is ever held.

A response that is sent before the body was read to its end (a 413, or a 401 that made
reading pointless) closes the connection, so the rest of the body is never received.

The limit is `--max-json-bytes`, except for a multipart body sent to an upload route,
whose limit is `--max-dataset-bytes` plus the multipart framing (a 413 there says
`file.size`, as a dataset check would).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection

from fastapi import Request
from fastapi.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tuneyard import errors
from tuneyard.api import multipart, params
from tuneyard.datasets import issues
from tuneyard.settings import Settings

__all__ = ["UPLOAD_FRAMING", "BodyLimits", "upload_limit"]

MAX_PATH_BYTES = params.MAX_PATH_BYTES
UPLOAD_FRAMING = 64 * 1024
"""What an upload body may carry beside its files' bytes (boundaries, form fields), plus
MAX_HEADER_BYTES for each file part it may hold."""

Render = Callable[[Request, errors.TuneyardError], Response]
"""Renders an error in the envelope of the dialect the path belongs to."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CLOSE = (b"connection", b"close")


def upload_limit(settings: Settings) -> int:
    """The most bytes an upload request's body may have."""
    return (
        settings.max_dataset_bytes
        + UPLOAD_FRAMING
        + settings.max_upload_files * multipart.MAX_HEADER_BYTES
    )


class BodyLimits:
    """The middleware: checks the path, then bounds the body by the route it is sent to."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings,
        render: Render,
        uploads: Collection[BaseRoute],
    ) -> None:
        self.app = app
        self.settings = settings
        self.render = render
        self.uploads = uploads
        """The routes that take a multipart upload."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
            problem = f"The URL path is longer than {MAX_PATH_BYTES} bytes."
            await self._refuse(scope, send, errors.InvalidRequest(problem, param="path"))
            return
        if _CONTROL.search(path):
            problem = "The URL path holds a NUL or another control character."
            await self._refuse(scope, send, errors.InvalidRequest(problem, param="path"))
            return
        body = _Body(receive, scope, *self._limit(scope))
        if body.declared is not None and body.declared > body.limit:
            await self._refuse(scope, send, errors.PayloadTooLarge(body.message))
            return
        if body.done:  # no body comes (no length, not chunked): nothing to count or close
            await self.app(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and not body.done:
                # answered before the body was read to its end: the rest is not wanted
                message = {**message, "headers": [*message.get("headers", []), _CLOSE]}
            await send(message)

        # past the limit, body.receive raises PayloadTooLarge: the app's error handler
        # answers it in the dialect's envelope like any other domain error
        await self.app(scope, body.receive, send_closing)

    def _limit(self, scope: Scope) -> tuple[int, str]:
        """The body's limit and what a body past it is told: an upload's `file.size` for a
        multipart body sent to an upload route, else the JSON limit."""
        kind = _header(scope, b"content-type").split(";")[0].strip().lower()
        if kind == "multipart/form-data" and any(
            r.matches(scope)[0] is Match.FULL for r in self.uploads
        ):
            issue = issues.too_large(self.settings.max_dataset_bytes)
            return upload_limit(self.settings), f"{issue.reason}: {issue.message}"
        limit = self.settings.max_json_bytes
        return (
            limit,
            f"The request body is larger than {limit} bytes (the server's --max-json-bytes).",
        )

    async def _refuse(self, scope: Scope, send: Send, error: errors.TuneyardError) -> None:
        """Answer with `error` in the path's envelope and close: the body stays unread."""
        response = self.render(Request(scope), error)
        response.headers["connection"] = "close"
        await response(scope, _no_body, send)


class _Body:
    """The request body as the app receives it, counted; past the limit it raises."""

    def __init__(self, receive: Receive, scope: Scope, limit: int, message: str) -> None:
        self._receive = receive
        self.limit = limit
        self.message = message
        length = _header(scope, b"content-length")
        self.declared = int(length) if length.isascii() and length.isdigit() else None
        chunked = bool(_header(scope, b"transfer-encoding"))
        self.done = not chunked and not self.declared
        """Whether the whole body has been received (or there is none)."""
        self.received = 0

    async def receive(self) -> Message:
        """The next body message; PayloadTooLarge once the body has passed its limit."""
        if self.received > self.limit:
            raise errors.PayloadTooLarge(self.message)
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                raise errors.PayloadTooLarge(self.message)
            if not message.get("more_body", False):
                self.done = True
        return message


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return ""


async def _no_body() -> Message:
    return {"type": "http.disconnect"}
