"""Direct routes: the hot reads (`GET` of one job in each dialect) run without FastAPI's
per-request machinery, by the same endpoint function and with the same arguments.

Why: FastAPI 0.165 spends more CPU on a `GET` of a job than tuneyard's own work does
(measured in process: ~100 µs of floor for any route, ~20 µs per dependency solved, ~5 µs
per route tried before the hit, against ~60 µs for the row and ~50 µs for the body), and a
client that polls a job's status sends nothing else. A direct route is declared with
`@direct.get(router, path)` in place of `@router.get(path)`: it is routed by FastAPI as
before (the schema, `url_path_for`, and every request `DirectRoutes` does not take), and
`DirectRoutes`, a pure ASGI middleware, answers the requests it matches by calling the
endpoint itself.

What a direct route may take, checked when the app is built (a route that asks for more is
an error then, not a surprise later): path parameters typed `str`, the `Request`, and
dependencies (`Annotated[T, Depends(f)]`) whose `f` is a coroutine of the request alone;
it returns a `Response`. Its router and include add no dependencies.

What stays as it was:
- Which route answers: a direct route is taken only where no route ahead of it in the
  app's table could take the path (checked when the app is built), so the app's router
  would pick the same one.
- Errors: any exception before the response starts hands the request to the app
  untouched, which runs it again and renders the error in the dialect's envelope (a `GET`
  changes nothing, so running it twice is safe; errors are the rare path). Errors are
  still mapped once, at the edge.
- Observation: the request's scope gets the route (`scope["route"]`), the endpoint and the
  path parameters as the router sets them, so `/metrics` and the access log label it the
  same.
- Tests that override a dependency (`app.dependency_overrides`) get the app's own path.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from fastapi import APIRouter, FastAPI
from fastapi.params import Depends
from fastapi.routing import APIRoute
from starlette.convertors import Convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from tuneyard.api.routing import Guarded

__all__ = ["DirectRoutes", "compile_routes", "get", "is_direct"]

Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Response]])
_DIRECT_MARK = "__tuneyard_direct__"
_SAMPLE = "x0"
"""A value put in each path parameter to see which routes ahead could take a path."""


def get(router: APIRouter, path: str, **kwargs: Any) -> Callable[[Endpoint], Endpoint]:
    """`@router.get(path, **kwargs)`, the route also served directly (see the module)."""

    def register(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, _DIRECT_MARK, True)
        router.get(path, **kwargs)(endpoint)
        return endpoint

    return register


def is_direct(endpoint: Callable[..., Any]) -> bool:
    """Whether `endpoint` was declared with `get`."""
    return bool(getattr(endpoint, _DIRECT_MARK, False))


Solver = Callable[[Request, Mapping[str, str]], Awaitable[Any]]


@dataclass(frozen=True)
class Compiled:
    """One direct route: how to match its path and fill its endpoint's arguments."""

    route: APIRoute
    prefix: str
    """The path's literal start (up to its first parameter): a cheap first test."""
    match: Callable[[str], Any]
    convertors: dict[str, Convertor[Any]]
    arguments: tuple[tuple[str, Solver], ...]

    async def call(self, request: Request, params: Mapping[str, str]) -> Response:
        """The endpoint's response, with its arguments solved for `request`."""
        values = {name: await solve(request, params) for name, solve in self.arguments}
        response: Response = await self.route.endpoint(**values)
        return response


class _Placed(NamedTuple):
    """A route of the app, with what the includes above it add: a path prefix, and
    whether they add dependencies."""

    prefix: str
    adds_dependencies: bool
    route: BaseRoute


def _flatten(routes: list[BaseRoute], prefix: str = "", adds: bool = False) -> Iterator[_Placed]:
    """Every route of the app, in the order its router tries them."""
    for route in routes:
        inner = route.inner if isinstance(route, Guarded) else route
        router = getattr(inner, "original_router", None)
        context = getattr(inner, "include_context", None)
        if router is not None and context is not None:
            more = adds or bool(context.dependencies)
            yield from _flatten(list(router.routes), prefix + context.prefix, more)
        else:
            yield _Placed(prefix, adds, inner)


def _argument(name: str, hint: Any, path_params: set[str]) -> Solver:
    """How to fill the endpoint's parameter `name`; TypeError when a direct route cannot."""
    if name in path_params and hint is str:

        async def path_value(request: Request, params: Mapping[str, str]) -> str:
            return params[name]

        return path_value
    if hint is Request:

        async def the_request(request: Request, params: Mapping[str, str]) -> Request:
            return request

        return the_request
    if typing.get_origin(hint) is typing.Annotated:
        marks = [m for m in typing.get_args(hint)[1:] if isinstance(m, Depends)]
        if len(marks) == 1 and marks[0].dependency is not None:
            return _dependency(name, marks[0].dependency)
    raise TypeError(f"a direct route cannot fill parameter {name!r} ({hint!r})")


def _dependency(name: str, call: Callable[..., Any]) -> Solver:
    if not inspect.iscoroutinefunction(call):
        raise TypeError(f"dependency of {name!r} is not a coroutine function")
    hints = typing.get_type_hints(call)
    parameters = list(inspect.signature(call).parameters)
    if len(parameters) != 1 or hints.get(parameters[0]) is not Request:
        raise TypeError(f"dependency of {name!r} must take the request alone")

    async def solved(request: Request, params: Mapping[str, str]) -> Any:
        return await call(request)

    return solved


def _compile(placed: _Placed, route: APIRoute) -> Compiled:
    endpoint = route.endpoint
    where = f"direct route {route.path}"
    if placed.prefix or placed.adds_dependencies:
        raise TypeError(f"{where}: its include adds a prefix or dependencies")
    if route.methods != {"GET"} or route.dependencies:
        raise TypeError(f"{where}: only GET, with no route or router dependencies")
    if not inspect.iscoroutinefunction(endpoint):
        raise TypeError(f"{where}: the endpoint is not a coroutine function")
    hints = typing.get_type_hints(endpoint, include_extras=True)
    returns = hints.pop("return", None)
    if not (inspect.isclass(returns) and issubclass(returns, Response)):
        raise TypeError(f"{where}: the endpoint must return a Response")
    regex, _, convertors = compile_path(route.path)
    arguments = tuple(
        (name, _argument(name, hints.get(name), set(convertors)))
        for name in inspect.signature(endpoint).parameters
    )
    return Compiled(
        route=route,
        prefix=route.path.split("{", 1)[0],
        match=regex.match,
        convertors=dict(convertors),
        arguments=arguments,
    )


def _could_take(placed: _Placed, path: str) -> bool:
    """Whether a route ahead of a direct one could answer a GET of `path`."""
    route, outer = placed.route, placed.prefix
    if isinstance(route, Mount):
        at = outer + route.path
        return path == at or path.startswith(at.rstrip("/") + "/")
    if isinstance(route, APIRoute | Route):
        methods = route.methods
        if methods is not None and "GET" not in methods:
            return False
        regex = route.path_regex if not outer else compile_path(outer + route.path)[0]
        return regex.match(path) is not None
    return True  # a route of a kind not known here: assume it could


def compile_routes(app: FastAPI) -> tuple[Compiled, ...]:
    """The app's direct routes, in its router's order; TypeError for one that asks for
    more than a direct route may take, or that a route ahead of it could shadow."""
    flat = list(_flatten(list(app.router.routes)))
    found: list[Compiled] = []
    for index, placed in enumerate(flat):
        route = placed.route
        if not (isinstance(route, APIRoute) and is_direct(route.endpoint)):
            continue
        compiled = _compile(placed, route)
        sample = route.path_format.format(**{k: _SAMPLE for k in compiled.convertors})
        for earlier in flat[:index]:
            if _could_take(earlier, sample):
                raise TypeError(f"direct route {route.path}: {earlier.route!r} takes it first")
        found.append(compiled)
    return tuple(found)


class DirectRoutes:
    """The middleware: a GET whose path a direct route matches is answered by its endpoint;
    everything else (and any request whose endpoint raises before answering) goes to
    `app`. `overrides` is the app's `dependency_overrides`: while it holds anything, every
    request goes to `app`."""

    def __init__(
        self, app: ASGIApp, *, routes: tuple[Compiled, ...], overrides: Mapping[Any, Any]
    ) -> None:
        self.app = app
        self.routes = routes
        self.overrides = overrides

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not self.overrides:
            found = self._find(scope)
            if found is not None:
                route, params = found
                scope["route"], scope["endpoint"] = route.route, route.route.endpoint
                scope["path_params"] = params
                try:
                    response = await route.call(Request(scope, receive), params)
                except Exception:
                    response = None  # the app runs it again and renders the error
                if response is not None:
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    def _find(self, scope: Scope) -> tuple[Compiled, dict[str, Any]] | None:
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        for route in self.routes:
            if path.startswith(route.prefix):
                matched = route.match(path)
                if matched is not None:
                    params = {
                        k: route.convertors[k].convert(v) for k, v in matched.groupdict().items()
                    }
                    return route, params
        return None
