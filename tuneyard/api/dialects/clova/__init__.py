"""NAVER CLOVA Studio tuning API v2 (`/tuning/v2/tasks`), spec §1."""

from __future__ import annotations

from tuneyard.api.dialects.clova import create, routes, translate, wire
from tuneyard.api.dialects.record import Dialect

__all__ = ["DIALECT"]

DIALECT = Dialect(
    name="clova",
    prefix=routes.PREFIX,
    routers=(routes.router,),
    render_error=routes.render_error,
    statuses=translate.STATUS,
    errors=translate.ERRORS,
    id_scheme=create.ID_STYLE,
    dataset_formats=wire.DATASET_FORMATS,
    uploads=(routes.create_task,),
)
"""CLOVA Studio: tasks created from an uploaded file or Object Storage, KST times."""
