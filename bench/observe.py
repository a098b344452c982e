"""What the request middleware (`tuneyard.api.observe.Observe`) costs per request: the same
trivial ASGI endpoint called directly in one event loop, bare and wrapped — with metrics
only (the default), and with metrics plus a JSON access line (`--log-format json`, written
to /dev/null). No sockets, no uvicorn: only the middleware's own work is in the difference.

    .venv/bin/python bench/observe.py [--requests 200000]

The last line is `overhead_us: N.N` (metrics only, microseconds a request).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from typing import Any

from tuneyard import logs
from tuneyard.api.metrics import Metrics
from tuneyard.api.observe import Observe
from tuneyard.settings import Settings


class _Route:
    path = "/tuning/v2/tasks/{task_id}"


_ROUTE = _Route()
_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/json"), (b"x-request-id", b"req_1")],
}
_BODY = {"type": "http.response.body", "body": b"{}"}


async def _endpoint(scope: Any, receive: Any, send: Any) -> None:
    scope["route"] = _ROUTE  # as the router leaves it
    await send(_START)
    await send(_BODY)


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b""}


async def _send(message: Any) -> None:
    return None


async def _loop(app: Any, requests: int) -> float:
    """Seconds a request, over `requests` calls."""
    scope = {"type": "http", "method": "GET", "path": "/tuning/v2/tasks/abcd1234"}
    started = time.perf_counter()
    for _ in range(requests):
        await app({**scope, "client": ("127.0.0.1", 1)}, _receive, _send)
    return (time.perf_counter() - started) / requests


def _best(app: Any, requests: int, rounds: int = 5) -> float:
    return min(asyncio.run(_loop(app, requests)) for _ in range(rounds))


def main() -> None:
    """Print the cost of each variant and the middleware's overhead."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    args = parser.parse_args()
    prefixes = [("/tuning/v2", "clova"), ("/api/v1", "dashscope")]
    metered = Observe(_endpoint, metrics=Metrics(), access=False, prefixes=prefixes)
    logged = Observe(_endpoint, metrics=Metrics(), access=True, prefixes=prefixes)
    logs.setup(Settings(log_format="json"))
    sink = logging.getLogger()
    sink.handlers[0].stream = open(os.devnull, "w")  # type: ignore[attr-defined]  # noqa: SIM115
    bare = _best(_endpoint, args.requests)
    with_metrics = _best(metered, args.requests)
    with_log = _best(logged, args.requests)
    print(f"bare endpoint:           {bare * 1e6:7.2f} us/request")
    print(f"observe (metrics):       {with_metrics * 1e6:7.2f} us/request")
    print(f"observe (metrics + log): {with_log * 1e6:7.2f} us/request")
    print(f"overhead_us: {(with_metrics - bare) * 1e6:.1f}")


if __name__ == "__main__":
    main()
