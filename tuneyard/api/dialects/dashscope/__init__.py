"""Alibaba Model Studio (DashScope): `/api/v1/files` and `/api/v1/fine-tunes` (spec §2)."""

from __future__ import annotations

from tuneyard.api.dialects.dashscope import create, routes, translate, wire
from tuneyard.api.dialects.record import Dialect

__all__ = ["DIALECT"]

DIALECT = Dialect(
    name="dashscope",
    prefix=routes.PREFIX,
    routers=(routes.router,),
    render_error=routes.render_error,
    statuses=translate.STATUS,
    errors=translate.ERRORS,
    id_scheme=create.ID_STYLE,
    dataset_formats=wire.DATASET_FORMATS,
    uploads=(routes.upload_files,),
)
"""DashScope: files and fine-tunes under `/api/v1`, Beijing times, `ft-…` job ids."""
