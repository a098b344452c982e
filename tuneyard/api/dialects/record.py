"""`Dialect`: everything the app needs to know about one vendor's API, in one record.

Each vendor package (`clova`, `dashscope`, `qianfan`, `openai`) exports one `DIALECT`;
`tuneyard.api.dialects.ALL` lists them and `create_app` mounts that list. A dialect's
package holds `wire` (the vendor's field names), `create` (request → core), `translate`
(core → response, with the status and error tables) and `routes`, plus whatever only that
vendor needs (`docs/adding-a-dialect.md`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tuneyard.api.errors import Code
from tuneyard.core import ids
from tuneyard.core.states import JobStatus

__all__ = ["Dialect", "Renderer"]

Renderer = Callable[[Request, int, Code, str, str | None], Response]
"""Renders an error (request, HTTP status, neutral code, message, param) in an envelope."""


@dataclasses.dataclass(frozen=True, slots=True)
class Dialect:
    """One vendor's API as the app mounts it."""

    name: str
    """Short lowercase name: the golden files' folder, the jobs' `dialect`."""
    prefix: str
    """How every path the dialect serves starts: an error on a path that starts so is
    rendered by `render_error` (the longest such prefix wins)."""
    routers: tuple[APIRouter, ...]
    """The routers to mount, in order."""
    render_error: Renderer
    """The vendor's error envelope."""
    statuses: Mapping[JobStatus, str]
    """Neutral job status → the vendor's status (every status has one)."""
    errors: Mapping[Code, tuple[Any, ...]]
    """Neutral error code → the vendor's HTTP status and code (every code has a row)."""
    id_scheme: ids.IdStyle
    """How the ids of the jobs this dialect creates look."""
    dataset_formats: frozenset[str]
    """The dataset formats a training file for this dialect's jobs may be in."""
    uploads: tuple[Callable[..., Any], ...] = ()
    """The endpoints that take a multipart upload (bodies as large as a dataset)."""
    more_prefixes: tuple[str, ...] = ()
    """Further path prefixes the dialect serves (a vendor's inference API lives apart from
    its tuning API); each is held as `prefix` is."""

    @property
    def prefixes(self) -> tuple[str, ...]:
        """Every path prefix the dialect serves: `prefix`, then `more_prefixes`."""
        return (self.prefix, *self.more_prefixes)
