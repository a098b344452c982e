"""`guard_routers(app)`: each router the app includes is skipped at the cost of one string
test when the request's path cannot be one of its routes'.

FastAPI 0.165 matches a request against the app's routes one after another, and an
included router against each of its own routes, at about 5 µs a route (the effective-route
bookkeeping of its included routers); a router that holds the route is matched twice (once
to find it, once to run it). With four dialects' routers side by side, a request for a
route late in the table paid for every route ahead of it: an OpenAI `GET` of a job for
about 60 of them. Behind a guard, a router is tried only when the path starts with one of
the literal prefixes of its routes' paths (the path up to its first `{`), so a request
pays for the routes of the routers that could hold it. Which route answers is unchanged:
a guard only skips routers none of whose routes could match (nor answer 405, which also
needs the path to match), and the order is kept.

The schema at `/openapi.json` is still built from the routers themselves.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Receive, Scope, Send

__all__ = ["Guarded", "guard_routers", "literal_prefixes"]


def _route_path(scope: Scope) -> str:
    """The path as routes match it: without the app's `root_path`."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def literal_prefixes(route: BaseRoute, outer: str = "") -> tuple[str, ...] | None:
    """The literal starts of the paths `route` (a route, or an included router with all
    of its own) can match, under the prefix `outer` its includes add; None when one of
    them is not known (anything but an `APIRoute` or a plain `Route`), and the route must
    always be tried. An included router's routes carry their own router's prefix; the
    prefix each include adds is its `include_context.prefix`."""
    if isinstance(route, APIRoute | Route):
        return (outer + route.path.split("{", 1)[0],)
    router = getattr(route, "original_router", None)  # FastAPI's included router
    context = getattr(route, "include_context", None)
    if router is None or context is None:
        return None
    found: list[str] = []
    for child in router.routes:
        prefixes = literal_prefixes(child, outer + context.prefix)
        if prefixes is None:
            return None
        found.extend(prefixes)
    return tuple(sorted(set(found)))


class Guarded(BaseRoute):
    """`inner` (an included router), tried only for a path that starts with one of
    `prefixes`; everything else is `inner`'s."""

    def __init__(self, inner: BaseRoute, prefixes: tuple[str, ...]) -> None:
        self.inner = inner
        self.prefixes = prefixes

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """NONE at once for an HTTP path outside the prefixes; else `inner`'s answer."""
        if scope["type"] == "http" and not _route_path(scope).startswith(self.prefixes):
            return Match.NONE, {}
        return self.inner.matches(scope)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """`inner` handles the request."""
        await self.inner.handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        """`inner`'s URL for a route name."""
        return self.inner.url_path_for(name, **path_params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def guard_routers(app: FastAPI) -> None:
    """Put every router `app` includes behind a guard of its routes' literal prefixes
    (see the module's note); call it once every router is included."""
    routes = list(app.router.routes)
    schema_routes = list(routes)
    for index, route in enumerate(routes):
        if getattr(route, "original_router", None) is None:
            continue  # a route of the app's own: matched as it is
        prefixes = literal_prefixes(route)
        if prefixes is not None and "" not in prefixes and "/" not in prefixes:
            app.router.routes[index] = Guarded(route, prefixes)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=schema_routes,
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
