"""A route to fuzz, and the hostile requests drawn for it: path segments, query
parameters and bodies."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import strategies as st

from tests.fuzz import strategies as hostile
from tests.fuzz.conftest import Fuzzer


@dataclasses.dataclass(frozen=True)
class Route:
    """A method and path template (`{id}` filled from `ids`), its query parameter names,
    and a valid body to mutate (None: the route takes none)."""

    method: str
    path: str
    query: tuple[str, ...] = ()
    body: dict[str, Any] | None = None
    ids: tuple[str, ...] = ()
    """Attributes of the Fuzzer holding real ids to aim at, one per `{id}` (besides hostile
    ones); none for a route that would destroy them."""

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@st.composite
def requests(draw: st.DrawFn, route: Route, fuzzer: Fuzzer) -> tuple[str, str, dict[str, Any]]:
    """(method, url, httpx keyword arguments) of one hostile request to `route`."""
    path = route.path
    for index in range(path.count("{id}")):
        segment = hostile.segment()
        if index < len(route.ids):
            real = st.just(getattr(fuzzer, route.ids[index]))
            segment = st.one_of(real, real, real, segment)
        path = path.replace("{id}", draw(segment), 1)
    kwargs: dict[str, Any] = {"params": draw(hostile.queries(list(route.query)))}
    if route.body is not None:
        kwargs["content"] = draw(hostile.bodies(route.body))
        kwargs["headers"] = {"content-type": "application/json"}
    return route.method, path, kwargs
