"""`render(request, template, **context)`: a console page from its Jinja2 template.

Autoescape is on for every template. Each page gets `user` (the signed-in `User`, or
None), `csrf` (the token its forms must send back in the hidden field `csrf`), `static`
(the URL of a file under static/, with a version that changes with the package), and
`read_only` (False unless the page says otherwise). Pages are sent with a strict
Content-Security-Policy: scripts and styles only from this server, none inline (a
`<script type="application/json">` data island is fine: it is not run).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from tuneyard import __version__

__all__ = ["HEADERS", "STATIC_DIR", "TEMPLATES_DIR", "render", "static_url"]

_HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = _HERE / "templates"
"""The page templates (package data)."""
STATIC_DIR = _HERE / "static"
"""The console's scripts, styles and vendored libraries (package data)."""

HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}
"""Headers every console page is sent with."""


def static_url(path: str) -> str:
    """The URL of a static file, versioned so a new release is fetched afresh."""
    return f"/console/static/{path}?v={__version__}"


@functools.cache
def _environment() -> jinja2.Environment:
    """The templates' environment (built on first use, then kept)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static"] = static_url
    return env


def render(
    request: Request, template_name: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """The page `template_name` rendered with `context`, the signed-in user and the CSRF
    token (a page may pass its own `csrf`, as the sign-in page does)."""
    user = getattr(request.state, "console_user", None)
    context.setdefault("user", user)
    context.setdefault("csrf", user.csrf if user is not None else "")
    context.setdefault("read_only", False)
    context.setdefault("path", request.url.path)
    text = _environment().get_template(template_name).render(**context)
    return HTMLResponse(text, status_code=status_code, headers=HEADERS)
