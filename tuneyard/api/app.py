"""`create_app(settings, service)`: the FastAPI app with every dialect mounted side by side."""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute

from tuneyard import __version__, errors
from tuneyard.api import errors as api_errors
from tuneyard.api import limits, streams
from tuneyard.api.console import routes as console
from tuneyard.api.dialects.clova import routes as clova
from tuneyard.api.dialects.dashscope import routes as dashscope
from tuneyard.api.dialects.openai import routes as openai
from tuneyard.api.dialects.qianfan import routes as qianfan
from tuneyard.api.native import routes as native
from tuneyard.core.service import Service
from tuneyard.settings import Settings

__all__ = ["create_app"]

log = logging.getLogger(__name__)

Renderer = Callable[[Request, int, str, str, str | None], Response]

# Which envelope an error gets is decided by the path prefix the client called.
_DIALECTS: list[tuple[str, Renderer]] = [
    (clova.PREFIX, clova.render_error),
    (dashscope.PREFIX, dashscope.render_error),
    (qianfan.PREFIX, qianfan.render_error),
    (console.PREFIX, console.render_error),
    (openai.PREFIX + "/", openai.render_error),
]

# The endpoints that take a multipart upload: their bodies may be as large as a dataset.
_UPLOADS = (
    clova.create_task,
    dashscope.upload_files,
    openai.upload_file,
    native.validate_dataset,
)


def _upload_routes() -> list[BaseRoute]:
    routers = (native.router, clova.router, dashscope.router, openai.router)
    found = [r for o in routers for r in o.routes if getattr(r, "endpoint", None) in _UPLOADS]
    if len(found) != len(_UPLOADS):
        raise RuntimeError("an upload endpoint is not routed")
    return found


def _render(request: Request, status: int, code: str, message: str, param: str | None) -> Response:
    for prefix, renderer in _DIALECTS:
        if request.url.path.startswith(prefix):
            return renderer(request, status, code, message, param)
    return native.render_error(request, status, code, message, param)


def _error(request: Request, exc: errors.TuneyardError) -> Response:
    status, code = api_errors.classify(exc)
    if status >= 500:
        log.error("request failed: %s", exc, exc_info=exc)
    return _render(request, status, code, exc.message, exc.param)


def create_app(settings: Settings, service: Service) -> FastAPI:
    """The app for one runtime; nothing is built at import time."""
    app = FastAPI(
        title="tuneyard",
        version=__version__,
        description="Self-hosted fine-tuning service speaking the vendors' tuning APIs.",
    )
    app.state.settings = settings
    app.state.service = service
    app.state.streams = streams.OpenStreams(settings.max_streams_per_workspace)
    app.include_router(native.router)
    app.include_router(clova.router)
    app.include_router(dashscope.router)
    app.include_router(qianfan.router)
    app.include_router(console.router)
    app.include_router(openai.router)
    app.add_middleware(
        limits.BodyLimits, settings=settings, render=_error, uploads=_upload_routes()
    )

    @app.exception_handler(errors.TuneyardError)
    async def _domain(request: Request, exc: errors.TuneyardError) -> Response:
        return _error(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid request", "loc": ()}
        param = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        return _render(request, 400, "validation", str(first.get("msg")), param)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "validation")
        return _render(request, exc.status_code, code, str(exc.detail), None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return _render(request, 500, "internal", "Internal server error", None)

    return app
