"""A throwaway fifth dialect, kept as a test fixture: made by following
`docs/adding-a-dialect.md`, mounted only by the tests (never in `dialects.ALL`), and held
to the same conformance test as the vendors' dialects."""

from __future__ import annotations

from tests.dialects.echo import create, routes, translate, wire
from tuneyard.api.dialects.record import Dialect

__all__ = ["DIALECT"]

DIALECT = Dialect(
    name="echo",
    prefix=routes.PREFIX,
    routers=(routes.router,),
    render_error=routes.render_error,
    statuses=translate.STATUS,
    errors=translate.ERRORS,
    id_scheme=create.ID_STYLE,
    dataset_formats=wire.DATASET_FORMATS,
)
"""Echo: create a job, get a job, under `/echo/v1`."""
