"""Signing in and out, and switching workspace: `/console/signin`, `/console/signout`,
`/console/workspace`; `/console` itself leads to the jobs list."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tuneyard import errors
from tuneyard.api.console import render, session
from tuneyard.api.console.session import ChangeDep
from tuneyard.api.deps import ServiceDep
from tuneyard.core.service import Service

__all__ = ["SIGNIN", "router", "safe_next"]

SIGNIN = "/console/signin"
_PRE_COOKIE = "tuneyard_signin"
"""Before sign-in, the sign-in form's own CSRF token (sealed, short-lived)."""
_PRE_MAX_AGE_S = 3600

router = APIRouter(tags=["console"])


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: a console path on this server, else the jobs list."""
    if not target or "\\" in target or target.startswith(("//", SIGNIN)):
        return "/console/jobs"
    inside = target == "/console" or target.startswith(("/console/", "/console?"))
    return target if inside else "/console/jobs"


def _pre_token(service: Service, request: Request) -> str | None:
    """The sign-in form's CSRF token from its cookie, if it is sealed here and fresh."""
    sealed = request.cookies.get(_PRE_COOKIE)
    if not sealed:
        return None
    try:
        token, issued = json.loads(service.ports.sealer.open(sealed))
    except (errors.StorageError, ValueError, TypeError):
        return None
    fresh = 0 <= service.ports.clock.now().timestamp() - float(issued) < _PRE_MAX_AGE_S
    return str(token) if fresh else None


def _form_page(
    request: Request, service: Service, *, next_path: str, message: str | None, status: int
) -> HTMLResponse:
    """The sign-in form with a fresh CSRF token (also set in its short-lived cookie)."""
    token = session.new_token()
    page = render.render(
        request,
        "signin.html",
        status_code=status,
        user=None,
        csrf=token,
        next_path=next_path,
        message=message,
    )
    sealed = service.ports.sealer.seal(json.dumps([token, service.ports.clock.now().timestamp()]))
    page.set_cookie(
        _PRE_COOKIE,
        sealed,
        max_age=_PRE_MAX_AGE_S,
        path=SIGNIN,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return page


@router.get("/console", include_in_schema=False)
async def home() -> RedirectResponse:
    """The console opens on the jobs list."""
    return RedirectResponse("/console/jobs", status_code=303)


@router.get(SIGNIN, response_class=HTMLResponse, include_in_schema=False)
async def signin_form(request: Request, service: ServiceDep, next: str = "") -> HTMLResponse:
    """The sign-in form: an API key, or an access key ID and secret key."""
    return _form_page(request, service, next_path=safe_next(next), message=None, status=200)


@router.post(SIGNIN, include_in_schema=False)
async def signin(request: Request, service: ServiceDep) -> Response:
    """Check the credential and start a session (the form's CSRF token checked first)."""
    fields = {
        k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()
    }
    next_path = safe_next(fields.get("next"))
    expected = _pre_token(service, request)
    sent = fields.get(session.CSRF_FIELD) or request.headers.get(session.CSRF_HEADER)
    if expected is None or sent != expected:
        raise errors.Forbidden("The sign-in form expired or was not sent from here; try again.")
    try:
        lookup, record = await run_in_threadpool(
            session.credential_lookup,
            service,
            api_key=fields.get("api_key", "").strip() or None,
            access_key=fields.get("access_key", "").strip() or None,
            secret_key=fields.get("secret_key", "").strip() or None,
        )
    except errors.Unauthenticated as exc:
        return _form_page(request, service, next_path=next_path, message=exc.message, status=401)
    response = RedirectResponse(next_path, status_code=303)
    session.set_cookie(
        request,
        response,
        service,
        lookup=lookup,
        workspace=record.workspace_id,
        csrf=session.new_token(),
        issued=service.ports.clock.now().timestamp(),
    )
    response.delete_cookie(_PRE_COOKIE, path=SIGNIN)
    return response


@router.post("/console/signout", include_in_schema=False)
async def signout(request: Request, user: ChangeDep) -> RedirectResponse:
    """End the session."""
    response = RedirectResponse(SIGNIN, status_code=303)
    session.clear_cookie(request, response)
    return response


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


@router.post("/console/workspace", include_in_schema=False)
async def switch_workspace(
    request: Request,
    service: ServiceDep,
    user: ChangeDep,
    form: Annotated[dict[str, str], Depends(_form)],
) -> RedirectResponse:
    """Act in another of the credential's workspaces (Forbidden for one it may not use)."""
    workspace = form.get("workspace", "")
    if workspace not in user.workspaces:
        raise errors.Forbidden(f"This key has no access to workspace {workspace}.")
    response = RedirectResponse("/console/jobs", status_code=303)
    session.set_cookie(
        request,
        response,
        service,
        lookup=user.lookup,
        workspace=workspace,
        csrf=user.csrf,
        issued=user.issued,
    )
    return response
