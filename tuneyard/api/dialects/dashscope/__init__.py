"""Alibaba Model Studio (DashScope): `/api/v1/files`, `/api/v1/fine-tunes`,
`/api/v1/deployments`, text generation, and the OpenAI-compatible chat (spec §2)."""

from __future__ import annotations

from tuneyard.api.dialects.dashscope import (
    create,
    deployment_routes,
    generation_routes,
    routes,
    translate,
    wire,
)
from tuneyard.api.dialects.record import Dialect

__all__ = ["DIALECT"]

DIALECT = Dialect(
    name="dashscope",
    prefix=routes.PREFIX,
    routers=(
        routes.router,
        deployment_routes.router,
        generation_routes.router,
        generation_routes.compatible,
    ),
    render_error=routes.render_error,
    statuses=translate.STATUS,
    errors=translate.ERRORS,
    id_scheme=create.ID_STYLE,
    dataset_formats=wire.DATASET_FORMATS,
    uploads=(routes.upload_files,),
    more_prefixes=(generation_routes.COMPATIBLE_PREFIX,),
)
"""DashScope: files, fine-tunes, deployments and generation under `/api/v1`, Beijing times,
`ft-…` job ids; OpenAI's chat under `/compatible-mode/v1`."""
