"""`create_app(settings, service)`: the FastAPI app with every dialect mounted side by side.

The vendor dialects come from `dialects.ALL`; tuneyard's own API (`native`) and the
console are no vendor's, so they are mounted here by name: the native envelope is the
one an error gets on a path no dialect holds, the console's on `/console`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute

from tuneyard import __version__, errors
from tuneyard.api import (
    console,
    dialects,
    direct,
    limits,
    observe,
    respond,
    routing,
    slots,
    streams,
)
from tuneyard.api import errors as api_errors
from tuneyard.api import inference as inference_api
from tuneyard.api.console import newjob
from tuneyard.api.dialects.record import Dialect, Renderer
from tuneyard.api.errors import Code
from tuneyard.api.metrics import Metrics
from tuneyard.api.native import routes as native
from tuneyard.core.service import Service
from tuneyard.serving.client import Inference
from tuneyard.settings import Settings

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def _upload_routes(mounted: Sequence[Dialect]) -> list[BaseRoute]:
    """The routes whose bodies may be as large as a dataset (a multipart upload): the
    dialects', the native validation's and the console's."""
    endpoints = [
        native.validate_dataset,
        newjob.upload_dataset,
        *(e for d in mounted for e in d.uploads),
    ]
    routers = [native.router, newjob.router, *(r for d in mounted for r in d.routers)]
    found = [r for o in routers for r in o.routes if getattr(r, "endpoint", None) in endpoints]
    if len(found) != len(endpoints):
        raise RuntimeError("an upload endpoint is not routed")
    return found


class _Envelopes:
    """Renders an error in the envelope of the dialect whose prefix holds the path (the
    longest such prefix); the native envelope where none does."""

    def __init__(self, mounted: Sequence[Dialect]) -> None:
        pairs = [(prefix, d.render_error) for d in mounted for prefix in d.prefixes]
        pairs.append((console.PREFIX, console.render_error))
        self.renderers: list[tuple[str, Renderer]] = sorted(
            pairs, key=lambda pair: len(pair[0]), reverse=True
        )

    def render(
        self, request: Request, status: int, code: Code, message: str, param: str | None
    ) -> Response:
        """The error response for a request."""
        path = request.url.path
        for prefix, renderer in self.renderers:
            if path.startswith(prefix):
                return renderer(request, status, code, message, param)
        return native.render_error(request, status, code, message, param)

    def error(self, request: Request, exc: errors.TuneyardError) -> Response:
        """The response for a domain error (logged when it is the server's fault)."""
        status, code = api_errors.classify(exc)
        if status >= 500:
            log.error("request failed: %s", exc, exc_info=exc)
        response = self.render(request, status, code, exc.message, exc.param)
        if isinstance(exc, errors.Overloaded):
            response.headers["retry-after"] = str(exc.retry_after)
        return response


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """On shutdown, stop the inference worker (the server's own loop still runs)."""
    yield
    engine: Inference = app.state.inference
    await engine.aclose()


def create_app(
    settings: Settings,
    service: Service,
    *,
    inference: Inference | None = None,
    mounted: Sequence[Dialect] = dialects.ALL,
    metrics: Metrics | None = None,
) -> FastAPI:
    """The app for one runtime, serving the `mounted` dialects (every vendor dialect unless
    a test names others), with `inference` as its engine (by default the worker process,
    started on first use) and `metrics` at /metrics (by default its own, unless
    `settings.metrics` is off); nothing is built at import time."""
    app = FastAPI(
        title="tuneyard",
        version=__version__,
        description="Self-hosted fine-tuning service speaking the vendors' tuning APIs.",
        lifespan=_lifespan,
        # FastAPI's OpenTelemetry hooks asked three providers on every request whether
        # they were configured; tuneyard's metrics are /metrics (Prometheus) instead
        telemetry={"tracing": False, "metrics": False, "logs": False},
        default_response_class=respond.Json,
    )
    app.state.settings = settings
    app.state.service = service
    app.state.inference = inference_api.worker_client(settings) if inference is None else inference
    app.state.streams = streams.OpenStreams(settings.max_streams_per_workspace)
    app.state.deployment_slots = slots.Slots()
    if settings.metrics:
        metrics = metrics or Metrics()
        metrics.watch(service.ports.jobs, app.state.streams.snapshot)
        app.add_api_route("/metrics", metrics.endpoint, methods=["GET"], include_in_schema=False)
    app.state.metrics = metrics if settings.metrics else None
    envelopes = _Envelopes(mounted)
    app.include_router(native.router)
    for dialect in mounted:
        for router in dialect.routers:
            app.include_router(router)
    app.include_router(console.router)
    routing.guard_routers(app)  # a request is matched only against routers that may hold it
    app.add_middleware(  # the innermost: hot reads skip FastAPI's per-request machinery
        direct.DirectRoutes,
        routes=direct.compile_routes(app),
        overrides=app.dependency_overrides,
    )
    app.add_middleware(
        limits.BodyLimits,
        settings=settings,
        render=envelopes.error,
        uploads=_upload_routes(mounted),
    )
    app.add_middleware(  # added last: the outermost, so it times everything
        observe.Observe,
        metrics=app.state.metrics,
        access=settings.log_format == "json",
        prefixes=[*((p, d.name) for d in mounted for p in d.prefixes), (console.PREFIX, "console")],
    )

    @app.exception_handler(errors.TuneyardError)
    async def _domain(request: Request, exc: errors.TuneyardError) -> Response:
        return envelopes.error(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid request", "loc": ()}
        param = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        return envelopes.render(request, 400, Code.VALIDATION, str(first.get("msg")), param)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = api_errors.http_code(exc.status_code)
        return envelopes.render(request, exc.status_code, code, str(exc.detail), None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return envelopes.render(request, 500, Code.INTERNAL, "Internal server error", None)

    return app
