"""`Observe`: the outermost middleware — every request timed, counted and (in JSON log
mode) written as one access line, with the request id its response carries.

A pure ASGI middleware (no per-request task or body copy): it wraps `send` to see the
response's status and headers, and after the app returns reads the route the router
matched (`scope["route"]`), so metrics are labelled by the route's template
(`/tuning/v2/tasks/{task_id}`), never the raw path: the labels stay few whatever clients
send. The dialect is the one whose prefix holds the template (`native` when none does).

Request ids: each vendor dialect returns its own header (OpenAI `x-request-id`, Qianfan
`x-bce-request-id`, CLOVA echoes `X-NCP-CLOVASTUDIO-REQUEST-ID`, DashScope the body's
`request_id` as `x-request-id` too). A response with none of these (the native API, the
console, CLOVA when the client sent no id, an event stream) gets a fresh `x-request-id`,
so every response and its access line can be matched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tuneyard.api.metrics import Metrics
from tuneyard.core import ids

__all__ = ["ID_HEADERS", "Observe"]

access_log = logging.getLogger("tuneyard.access")

ID_HEADERS = frozenset({b"x-request-id", b"x-bce-request-id", b"x-ncp-clovastudio-request-id"})
"""The response headers that carry a request id, in any dialect (lowercase)."""
_ID_HEADER = b"x-request-id"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_UNMATCHED = "unmatched"
"""The route label of a request no route matched (a 404 before any handler)."""


class Observe:
    """The middleware: times each HTTP request, records it in `metrics` (if any) and, with
    `access_log` on, logs it on `tuneyard.access`; ensures its response has a request id.
    `prefixes` are (path prefix, dialect name) pairs."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics | None,
        access: bool,
        prefixes: Sequence[tuple[str, str]],
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.access = access
        self.prefixes = sorted(prefixes, key=lambda pair: len(pair[0]), reverse=True)
        self._dialects: dict[str, str] = {}
        """Route template -> dialect, filled as routes are first seen."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answer = _Answer()

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = answer.start(message)
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self._done(scope, answer, time.perf_counter() - started)

    def _done(self, scope: Scope, answer: _Answer, seconds: float) -> None:
        route = scope.get("route")
        template: str = getattr(route, "path", None) or _UNMATCHED
        dialect = self._dialects.get(template)
        if dialect is None:
            dialect = self._dialect(scope["path"] if route is None else template)
            if route is not None:
                self._dialects[template] = dialect
        method: str = scope["method"]
        if method not in _METHODS:
            method = "OTHER"
        if self.metrics is not None:
            self.metrics.request(method, template, answer.status, dialect, seconds)
        if self.access and access_log.isEnabledFor(logging.INFO):
            client = scope.get("client")
            access_log.info(
                "%s %s %d",
                method,
                scope["path"],
                answer.status,
                extra={
                    "method": method,
                    "path": scope["path"],
                    "route": template,
                    "status": answer.status,
                    "duration_ms": round(seconds * 1000, 3),
                    "dialect": dialect,
                    "request_id": answer.request_id,
                    "client": f"{client[0]}:{client[1]}" if client else None,
                },
            )

    def _dialect(self, path: str) -> str:
        for prefix, name in self.prefixes:
            if path.startswith(prefix):
                return name
        return "native"


class _Answer:
    """What the response said: its status (500 until it starts) and request id."""

    __slots__ = ("request_id", "status")

    def __init__(self) -> None:
        self.status = 500
        self.request_id: str | None = None

    def start(self, message: Message) -> Message:
        """Note the status and request id of a response start; add an id if it has none."""
        self.status = message["status"]
        headers = message.get("headers") or ()
        for name, value in headers:
            if name.lower() in ID_HEADERS:
                self.request_id = bytes(value).decode("latin-1")
                return message
        self.request_id = ids.new_request_id()
        return {**message, "headers": [*headers, (_ID_HEADER, self.request_id.encode())]}
