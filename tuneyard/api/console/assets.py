"""`GET /console/static/{path}`: the console's scripts, styles and vendored libraries,
served from the package (no CDN: the console works offline)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from tuneyard import errors
from tuneyard.api.console import render

__all__ = ["router"]

router = APIRouter(tags=["console"])

_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}


@router.get("/console/static/{path:path}", include_in_schema=False)
async def static_file(path: str) -> FileResponse:
    """A file under static/ (cached a day: its URL carries the package's version)."""
    root = render.STATIC_DIR
    target = (root / path).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        raise errors.NotFound(f"no static file {path}")
    kind = _TYPES.get(target.suffix) or (
        "text/plain; charset=utf-8" if target.name == "LICENSE" else None
    )
    if kind is None:
        raise errors.NotFound(f"no static file {path}")
    return FileResponse(
        target,
        media_type=kind,
        headers={"cache-control": "public, max-age=86400", "x-content-type-options": "nosniff"},
    )
