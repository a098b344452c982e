"""`create_probe_app`: what a scheduler-only replica (`tuneyard serve --role scheduler`)
serves over HTTP — no API, only what an orchestrator and a scraper ask of it.

- `GET /healthz`: `{"status": "ok", "role": "scheduler", "owner": …, "running": [...]}`:
  the scheduler's lease owner id (the name on the jobs it holds) and the jobs its workers
  are training now.
- `GET /metrics` (unless metrics are off): its worker starts and losses, queue waits and
  trained tokens — counted where the workers run, so only a scheduler replica has them.
  Jobs by state and workspace are a view of the shared database: the API replicas
  report them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from tuneyard import __version__
from tuneyard.api.metrics import Metrics

__all__ = ["create_probe_app"]


def create_probe_app(
    owner: str, running: Callable[[], list[str]], *, metrics: Metrics | None = None
) -> FastAPI:
    """The scheduler replica's app: /healthz naming `owner` and its `running()` jobs, and
    `metrics` at /metrics when given."""
    app = FastAPI(title="tuneyard scheduler", version=__version__, openapi_url=None)

    @app.get("/healthz")
    async def health() -> dict[str, Any]:
        """Liveness, with this scheduler's lease owner id and running jobs."""
        return {"status": "ok", "role": "scheduler", "owner": owner, "running": running()}

    if metrics is not None:
        app.add_api_route("/metrics", metrics.endpoint, methods=["GET"], include_in_schema=False)
    return app
