"""CPU per request of GET one job, in process: each dialect's route and a bare route.

    .venv/bin/python bench/hot_path.py [--requests 3000] [--rounds 3] [--database sqlite]
        [--concurrency 1]

No server and no sockets: the ASGI app (as `tuneyard serve` builds it, with /metrics on)
is called directly, one request after another on one event loop, and the process's CPU
time (`time.process_time`, so other load on the box hardly matters) is divided by the
requests. Every dialect's GET of one job is measured, with a valid key:

- CLOVA `GET /tuning/v2/tasks/{id}`, DashScope `GET /api/v1/fine-tunes/{id}`,
  OpenAI `GET /v1/fine_tuning/jobs/{id}`, Qianfan `POST /v2/finetuning?Action=
  DescribeFineTuningTask` (signed with bce-auth-v1);
- `bare`: a bare Starlette route returning CLOVA's body byte for byte (the floor: what
  any ASGI app pays per request).

With `--concurrency N` the requests are sent N at a time (`asyncio.gather`), as a busy
server has them in flight: the reads of one job that wait together are one read, and
the job is rendered once for all of them. The best of `--rounds` rounds is printed per
case (µs CPU per request), and each case's ratio to the bare route. `--database` is
`sqlite` (a file in a temporary folder) or a SQLAlchemy URL of an empty database.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import fixtures  # noqa: E402
from tuneyard import runtime  # noqa: E402
from tuneyard.api.app import create_app  # noqa: E402
from tuneyard.api.dialects.qianfan import signature  # noqa: E402
from tuneyard.kinds import Objective  # noqa: E402
from tuneyard.settings import Settings  # noqa: E402

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
WORKSPACE = "bench"
JOB_ID = "getme0001"


class Case:
    """One request, sent again and again: its method, path, query, headers and body."""

    def __init__(
        self, name: str, method: str, path: str, headers: dict[str, str], *, query: str = ""
    ) -> None:
        self.name = name
        self.body = b"{}" if method == "POST" else b""
        self.scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 50000),
            "root_path": "",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "headers": [
                (k.lower().encode(), v.encode())
                for k, v in {"host": "127.0.0.1:8000", **headers}.items()
            ]
            + ([(b"content-length", str(len(self.body)).encode())] if self.body else []),
        }

    async def once(self, app: App) -> int:
        """Send the request once; its status."""
        status = 0
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)  # a client that never disconnects
            sent = True
            return {"type": "http.request", "body": self.body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(dict(self.scope), receive, send)
        return status


def _qianfan(access_key: str, secret_key: str) -> Case:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = {"host": "127.0.0.1:8000", "content-type": "application/json", "x-bce-date": stamp}
    order = ("host", "x-bce-date", "content-type")
    action = "DescribeFineTuningTask"
    auth = signature.Authorization(access_key, stamp, 1800, order, "")
    canonical = signature.canonical_request(
        "POST", "/v2/finetuning", [("Action", action)], headers, order
    )
    signed = signature.sign(secret_key, auth, canonical)
    headers["authorization"] = f"bce-auth-v1/{access_key}/{stamp}/1800/{';'.join(order)}/{signed}"
    case = Case("qianfan", "POST", "/v2/finetuning", headers, query=f"Action={action}")
    case.body = json.dumps({"taskId": JOB_ID}).encode()
    case.scope["headers"][-1] = (b"content-length", str(len(case.body)).encode())
    return case


def build(data_dir: Path, database: str) -> tuple[App, list[Case]]:
    """The app on a fresh database holding one job, and the cases to send it."""
    url = f"sqlite:///{data_dir / 'tuneyard.db'}" if database == "sqlite" else database
    settings = Settings.load({"data_dir": data_dir, "database_url": url})
    service = runtime.build(settings).service
    key = service.credentials.create_key(WORKSPACE)
    access_key, secret_key = service.credentials.create_access_key(WORKSPACE)
    group = service.groups.create(
        WORKSPACE, name="g", description="", base_model="tiny-chat",
        objective=Objective.SFT, created_by=None, echo={},
    )  # fmt: skip
    service.ports.jobs.add(
        fixtures.job(JOB_ID, WORKSPACE, dt.datetime.now(dt.UTC), group_id=group.id)
    )
    app: App = create_app(settings, service)
    bearer = {"authorization": f"Bearer {key}"}
    cases = [
        Case("clova", "GET", f"/tuning/v2/tasks/{JOB_ID}", bearer),
        Case("dashscope", "GET", f"/api/v1/fine-tunes/{JOB_ID}", bearer),
        Case("openai", "GET", f"/v1/fine_tuning/jobs/ftjob-{JOB_ID}", bearer),
        _qianfan(access_key, secret_key),
    ]
    return app, cases


def bare_app(body: bytes) -> App:
    """A Starlette app with one route returning `body` (as bench/scale.py's bare server)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def one(request: Request) -> Response:
        return Response(body, media_type="application/json")

    return Starlette(routes=[Route("/job", one)])


async def _clova_body(app: App, case: Case) -> bytes:
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(dict(case.scope), receive, send)
    return b"".join(chunks)


async def measure(app: App, case: Case, requests: int, concurrency: int = 1) -> float:
    """µs of process CPU per request, over `requests` requests (after a warm-up), sent
    `concurrency` at a time."""
    for _ in range(50):
        status = await case.once(app)
        if status != 200:
            raise RuntimeError(f"{case.name}: status {status}")
    rounds = max(1, requests // concurrency)
    started = time.process_time()
    for _ in range(rounds):
        if concurrency == 1:
            await case.once(app)
        else:
            await asyncio.gather(*(case.once(app) for _ in range(concurrency)))
    return (time.process_time() - started) / (rounds * concurrency) * 1e6


async def run(args: argparse.Namespace) -> None:
    """Measure every case `--rounds` times and print the best of each."""
    with tempfile.TemporaryDirectory(prefix="tuneyard-hot-") as folder:
        app, cases = build(Path(folder), args.database)
        bare = Case("bare", "GET", "/job", {})
        plain = bare_app(await _clova_body(app, cases[0]))
        best: dict[str, float] = {}
        for _ in range(args.rounds):
            for case in [bare, *cases]:
                target = plain if case is bare else app
                cost = await measure(target, case, args.requests, args.concurrency)
                best[case.name] = min(best.get(case.name, cost), cost)
        print(f"{'route':<10} {'µs CPU/request':>15} {'× bare':>8}")
        for name, cost in best.items():
            print(f"{name:<10} {cost:>15.1f} {cost / best['bare']:>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description="In-process CPU per request of each dialect's GET of one job."
    )
    parser.add_argument("--requests", type=int, default=3000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best is kept")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="requests in flight at once (1: one after another; 50: as a loaded server "
        "sees them, where reads of one job are gathered and its rendering shared)",
    )
    parser.add_argument(
        "--database", default="sqlite", help="'sqlite' (a temporary file) or a SQLAlchemy URL"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
