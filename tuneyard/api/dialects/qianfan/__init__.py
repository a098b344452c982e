"""Baidu Qianfan v2 fine-tuning (`/v2/finetuning?Action=…`, bce-auth-v1; spec §3)."""

from __future__ import annotations

from tuneyard.api.dialects.qianfan import create, routes, translate, wire
from tuneyard.api.dialects.record import Dialect

__all__ = ["DIALECT"]

DIALECT = Dialect(
    name="qianfan",
    prefix=routes.PREFIX,
    routers=(routes.router,),
    render_error=routes.render_error,
    statuses=translate.RUN_STATUS,
    errors=translate.ERRORS,
    id_scheme=create.ID_STYLE,
    dataset_formats=wire.DATASET_FORMATS,
)
"""Qianfan: job groups and their tasks through one signed Action endpoint."""
