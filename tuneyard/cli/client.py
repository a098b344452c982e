"""A small HTTP client for a running `tuneyard serve`, as client commands (`tuneyard chat`)
use it: JSON GETs, and a chat completion streamed as server-sent events.

The standard library's `http.client` is enough (the server needs no HTTP client, so none
is a runtime dependency). What the server answers is translated once, here, into the
domain errors of `tuneyard.errors` (OpenAI's envelope `{"error": {message, code,
param}}` read back); a server that cannot be reached is `ServerUnreachable`.
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.parse
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any

from tuneyard import __version__, errors

__all__ = ["DONE", "Client", "Stream", "error_of", "events", "split_url"]

DONE = "[DONE]"
"""The data of the event that ends an OpenAI stream."""
CONNECT_SECONDS = 10.0
"""How long to wait for the server to accept a connection."""
READ_SECONDS = 300.0
"""How long a response may stay silent (a first reply may wait for the worker to start)."""
_MOST_ERROR_BYTES = 65536
_BROKEN = (OSError, http.client.error)
"""A connection that failed or a reply that broke off (`error`: http.client's base error)."""


def split_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path prefix) of a server URL such as `http://127.0.0.1:8000`;
    a trailing `/v1` (an OpenAI SDK's base URL) is dropped. InvalidRequest otherwise."""
    parts = urllib.parse.urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
        raise errors.InvalidRequest(
            f"--url must look like http://HOST:PORT (the `tuneyard serve` address), not {url!r}"
        )
    prefix = parts.path.rstrip("/").removesuffix("/v1")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), prefix


def events(lines: Iterable[str]) -> Iterator[str]:
    """The data of each server-sent event in `lines` (its `data:` lines joined by newlines;
    comments and other fields skipped). An event is complete at its blank line."""
    data: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield "\n".join(data)
            data = []
        elif line.startswith("data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(" ") else value)


def error_of(
    status: int | None, body: Any, *, retry_after: str | None = None, fallback: str = ""
) -> errors.TuneyardError:
    """The domain error for an error answer: an HTTP status (None: an error event inside a
    stream) and its parsed body."""
    detail = body.get("error") if isinstance(body, dict) else None
    if not isinstance(detail, dict):
        detail = {}
    message = str(detail.get("message") or fallback or f"the server answered HTTP {status}")
    code, param = detail.get("code"), detail.get("param")
    param = param if isinstance(param, str) else None
    if code == "context_length_exceeded":
        return errors.ContextLengthExceeded(message, param=param)
    if code == "model_not_found":
        return errors.ServedModelNotFound(message, param=param)
    if status == 429 or code == "rate_limit_exceeded":
        seconds = int(retry_after) if retry_after and retry_after.isdigit() else 1
        return errors.Overloaded(message, retry_after=seconds, param=param)
    if status == 503 or code == "service_unavailable":
        return errors.InferenceUnavailable(message, param=param)
    kinds: dict[int, type[errors.TuneyardError]] = {
        400: errors.InvalidRequest,
        401: errors.InvalidCredentials,
        403: errors.Forbidden,
        404: errors.NotFound,
        409: errors.Conflict,
        413: errors.PayloadTooLarge,
    }
    kind = kinds.get(
        status or 0, errors.InferenceFailed if status is None else errors.TuneyardError
    )
    return kind(message, param=param)


class Stream:
    """A chat completion arriving as `chat.completion.chunk` objects; iterate it, and
    close it (or leave its `with` block) to drop the connection, which makes the server
    cancel the request and free its slot."""

    def __init__(
        self, connection: http.client.HTTPConnection, response: http.client.HTTPResponse
    ) -> None:
        self._connection = connection
        self._response = response

    def __iter__(self) -> Iterator[dict[str, Any]]:
        try:
            for data in events(self._lines()):
                if data == DONE:
                    return
                chunk = json.loads(data)
                if isinstance(chunk, dict) and "error" in chunk:
                    raise error_of(None, chunk)
                if isinstance(chunk, dict):
                    yield chunk
        except (*_BROKEN, ValueError) as exc:
            raise errors.InferenceFailed(f"the reply broke off: {exc}") from exc
        raise errors.InferenceFailed("the reply broke off before its end ([DONE])")

    def _lines(self) -> Iterator[str]:
        while raw := self._response.readline():
            yield raw.decode("utf-8", errors="replace")

    def close(self) -> None:
        """Drop the connection (the server then stops generating)."""
        self._response.close()
        self._connection.close()

    def __enter__(self) -> Stream:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


class Client:
    """Requests to one server with one bearer key; a fresh connection for each."""

    def __init__(self, url: str, key: str) -> None:
        self.url = url
        self._scheme, self._host, self._port, self._prefix = split_url(url)
        self._key = key

    def get(self, path: str) -> Any:
        """The JSON a GET of `path` (under the URL's prefix) answers."""
        connection, response = self._send("GET", path, None)
        try:
            return json.loads(self._read(response))
        except ValueError as exc:
            raise errors.TuneyardError(f"{self.url} answered something not JSON") from exc
        finally:
            connection.close()

    def chat(self, body: dict[str, Any]) -> Stream:
        """POST a chat completion with `stream: true`; its chunks as they come."""
        connection, response = self._send("POST", "/v1/chat/completions", {**body, "stream": True})
        kind = response.getheader("content-type") or ""
        if not kind.startswith("text/event-stream"):
            connection.close()
            raise errors.TuneyardError(f"{self.url} did not answer with an event stream")
        return Stream(connection, response)

    def _send(
        self, method: str, path: str, body: dict[str, Any] | None
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Connect, send, and read the status and headers; an error status is raised."""
        factory = (
            http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
        )
        connection = factory(self._host, self._port, timeout=CONNECT_SECONDS)
        headers = {
            "Authorization": f"Bearer {self._key}",
            "Accept": "application/json, text/event-stream",
            "User-Agent": f"tuneyard-cli/{__version__}",
        }
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            try:
                connection.connect()
            except OSError as exc:
                raise errors.ServerUnreachable(
                    f"cannot reach {self.url} ({_reason(exc)}): is `tuneyard serve` running "
                    "there? (--url or TUNEYARD_URL names another address)"
                ) from exc
            if connection.sock is not None:
                connection.sock.settimeout(READ_SECONDS)
            connection.request(method, self._prefix + path, body=payload, headers=headers)
            response = connection.getresponse()
        except _BROKEN as exc:
            connection.close()
            raise errors.ServerUnreachable(
                f"{self.url} stopped answering ({_reason(exc)}): is `tuneyard serve` running?"
            ) from exc
        except BaseException:  # Ctrl-C while waiting: drop the request
            connection.close()
            raise
        if response.status >= 400:
            try:
                raise self._error(response)
            finally:
                connection.close()
        return connection, response

    def _read(self, response: http.client.HTTPResponse) -> bytes:
        try:
            data: bytes = response.read()
        except _BROKEN as exc:
            raise errors.ServerUnreachable(f"{self.url} stopped answering ({exc})") from exc
        return data

    def _error(self, response: http.client.HTTPResponse) -> errors.TuneyardError:
        try:
            text = response.read(_MOST_ERROR_BYTES).decode("utf-8", errors="replace")
        except _BROKEN:
            text = ""
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        fallback = f"{self.url} answered HTTP {response.status} {response.reason}".strip()
        return error_of(
            response.status, body, retry_after=response.getheader("retry-after"), fallback=fallback
        )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
