"""Who uses the console: signing in with an API key (a bearer key, or an AK/SK pair's AK
and SK, checked by the same `Credentials` the dialects use), the session cookie that
remembers it, and the CSRF check every change must pass.

The cookie holds no key: it is the credential's lookup (a bearer key's SHA-256, or a
pair's access key ID), the workspace chosen, a CSRF token and when it was issued, sealed
(encrypted and authenticated) by the runtime's `Sealer`. Every request looks the
credential up again, so a revoked key signs its sessions out within
`keycache.TTL_SECONDS`. The cookie is HttpOnly, SameSite=Strict, and Secure when the
request came over HTTPS.

Handlers take `UserDep` (signed in, else `Unauthenticated`, which the console's error
page turns into a redirect to the sign-in page for a browser) and, for every change,
`ChangeDep` (the same, and the request carries the session's CSRF token: a form field
`csrf` in an urlencoded form, or the header `X-CSRF-Token`, which a multipart upload or a
script's `fetch` must use).
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import secrets
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from tuneyard import errors
from tuneyard.core.credentials import hash_key
from tuneyard.core.ports import ApiKey
from tuneyard.core.service import Service

__all__ = [
    "CHANGE_METHODS",
    "COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "MAX_AGE_S",
    "ChangeDep",
    "User",
    "UserDep",
    "check_csrf",
    "clear_cookie",
    "credential_lookup",
    "current_user",
    "new_token",
    "set_cookie",
]

COOKIE = "tuneyard_session"
"""The session cookie's name."""
CSRF_FIELD = "csrf"
"""The hidden form field that carries the CSRF token."""
CSRF_HEADER = "X-CSRF-Token"
"""The request header that carries the CSRF token (scripts, uploads)."""
MAX_AGE_S = 12 * 3600
"""How long a session lasts after sign-in."""
CHANGE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
"""Methods that change something: each must carry the CSRF token."""


@dataclasses.dataclass(frozen=True, slots=True)
class User:
    """The signed-in person as the console sees them."""

    workspace_id: str
    """The workspace every page shows and every action acts in."""
    account: str
    """The main account the credential belongs to."""
    actor: str
    """Who acts (the sub-account, else the account): recorded as a job's creator."""
    credential: str
    """A short, safe label of the credential signed in with (a key's prefix, or an AK)."""
    workspaces: tuple[str, ...]
    """The workspaces the credential may act in (the switcher's choices)."""
    csrf: str
    """The session's CSRF token: every change must send it back."""
    lookup: str
    """The credential's lookup (`key:<sha256>` or `ak:<id>`), kept in the cookie."""
    issued: float
    """When the session began (Unix time)."""


def new_token() -> str:
    """A fresh random CSRF token."""
    return secrets.token_urlsafe(24)


def credential_lookup(
    service: Service,
    *,
    api_key: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
) -> tuple[str, ApiKey]:
    """Check a sign-in's credential: a bearer key, or an AK/SK pair (the SK must match the
    pair's); its lookup and live record, else InvalidCredentials / Unauthenticated."""
    credentials = service.credentials
    if api_key:
        credentials.caller(api_key)  # raises as every bearer route does
        lookup = "key:" + hash_key(api_key)
    elif access_key and secret_key:
        known = credentials.access_secret(access_key)
        if known is None or not hmac.compare_digest(known.encode(), secret_key.encode()):
            raise errors.InvalidCredentials("The access key ID or the secret key is wrong.")
        lookup = "ak:" + access_key
    else:
        raise errors.Unauthenticated("Give an API key, or an access key ID and secret key.")
    record = credentials.session_record(lookup)
    if record is None:
        raise errors.InvalidCredentials()
    return lookup, record


def set_cookie(
    request: Request,
    response: Response,
    service: Service,
    *,
    lookup: str,
    workspace: str,
    csrf: str,
    issued: float,
) -> None:
    """Write the sealed session cookie onto `response`."""
    payload = json.dumps({"l": lookup, "w": workspace, "c": csrf, "t": issued})
    response.set_cookie(
        COOKIE,
        service.ports.sealer.seal(payload),
        max_age=MAX_AGE_S,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_cookie(request: Request, response: Response) -> None:
    """Remove the session cookie (sign out)."""
    response.delete_cookie(
        COOKIE,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _opened(service: Service, sealed: str, now: float) -> dict[str, object] | None:
    """The cookie's fields, or None for a forged, foreign or expired cookie."""
    try:
        fields = json.loads(service.ports.sealer.open(sealed))
    except (errors.StorageError, ValueError):
        return None
    if not isinstance(fields, dict) or not all(k in fields for k in ("l", "w", "c", "t")):
        return None
    issued = fields["t"]
    if not isinstance(issued, int | float) or not 0 <= now - issued < MAX_AGE_S:
        return None
    return fields


def _user(service: Service, fields: dict[str, object]) -> User | None:
    """The user a session's fields name, or None once its credential is revoked."""
    lookup, workspace = str(fields["l"]), str(fields["w"])
    record = service.credentials.session_record(lookup)
    if record is None:
        return None
    allowed = record.workspaces or (record.workspace_id,)
    caller = service.credentials.acting(
        record, workspace if workspace in allowed else record.workspace_id
    )
    return User(
        workspace_id=caller.workspace_id,
        account=caller.account,
        actor=caller.actor,
        credential=record.access_key or f"{record.key_prefix}…",
        workspaces=allowed,
        csrf=str(fields["c"]),
        lookup=lookup,
        issued=float(fields["t"]),  # type: ignore[arg-type]
    )


async def current_user(request: Request) -> User:
    """The signed-in user (also kept as `request.state.console_user` for the templates);
    Unauthenticated when there is no live session."""
    service: Service = request.app.state.service
    sealed = request.cookies.get(COOKIE)
    if not sealed:
        raise errors.Unauthenticated("Sign in to use the console.")
    now = service.ports.clock.now().timestamp()
    fields = _opened(service, sealed, now)
    user = None if fields is None else await run_in_threadpool(_user, service, fields)
    if user is None:
        raise errors.Unauthenticated("Your session has ended; sign in again.")
    request.state.console_user = user
    return user


async def check_csrf(request: Request, expected: str) -> None:
    """Refuse (Forbidden) a change whose CSRF token is missing or not `expected`, or that
    another site's page sent (its `Origin` is not this server)."""
    origin = request.headers.get("origin")  # the host only: a proxy may end TLS before us
    if origin and urlsplit(origin).netloc != request.url.netloc:
        raise errors.Forbidden("This change was sent from another site; it is refused.")
    sent = request.headers.get(CSRF_HEADER)
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if not sent and kind == "application/x-www-form-urlencoded":
        form = await request.form()
        field = form.get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise errors.Forbidden("The CSRF token is missing or wrong: reload the page and try again.")


async def _changing_user(request: Request, user: Annotated[User, Depends(current_user)]) -> User:
    """The signed-in user, once the change's CSRF token is checked."""
    if request.method in CHANGE_METHODS:
        await check_csrf(request, user.csrf)
    return user


UserDep = Annotated[User, Depends(current_user)]
"""The signed-in user; a page without a session redirects to /console/signin."""
ChangeDep = Annotated[User, Depends(_changing_user)]
"""The signed-in user of a change (POST/DELETE…), its CSRF token checked."""
