"""The console's place in the app: its prefix, and its error page (a browser gets a page,
not a JSON body; a browser that is not signed in is sent to the sign-in page)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from tuneyard.api.console import render
from tuneyard.api.errors import Code

__all__ = ["CURVES", "PREFIX", "render_error"]

PREFIX = "/console"
CURVES = f"{PREFIX}/curves"
"""The read-only job page a Qianfan task's `vdlLink` opens (`?displayToken=…`)."""


def _wants_page(request: Request) -> bool:
    """Whether the client is a browser navigating (not a script or an event stream)."""
    return "text/html" in request.headers.get("accept", "")


def render_error(
    request: Request, status: int, code: Code, message: str, param: str | None
) -> Response:
    """Errors as a small page; a page asked for without a session redirects to sign-in;
    a script's request (`.json`, a stream, `Accept` without HTML) gets `{"error": …}`."""
    if status == 401 and request.method == "GET" and _wants_page(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{PREFIX}/signin?next={quote(target, safe='')}", status_code=303)
    if not _wants_page(request):
        return JSONResponse(
            {"error": {"code": code, "message": message, "param": param}}, status_code=status
        )
    return render.render(request, "error.html", status_code=status, status=status, message=message)
