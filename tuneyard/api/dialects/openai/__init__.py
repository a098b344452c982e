"""The OpenAI dialect: `/v1/files` and `/v1/fine_tuning/jobs` (spec §4), and the tuned
models' use: `/v1/chat/completions` and `/v1/models`."""

from __future__ import annotations

from tuneyard.api.dialects.openai import (
    chat_routes,
    create,
    models_routes,
    routes,
    translate,
    wire,
)
from tuneyard.api.dialects.record import Dialect

__all__ = ["DIALECT"]

DIALECT = Dialect(
    name="openai",
    prefix=routes.PREFIX + "/",  # not /v1beta, /v10, …
    routers=(routes.router, chat_routes.router, models_routes.router),
    render_error=routes.render_error,
    statuses=translate.STATUS,
    errors=translate.ERRORS,
    id_scheme=create.ID_STYLE,
    dataset_formats=wire.DATASET_FORMATS,
    uploads=(routes.upload_file,),
)
"""OpenAI: files and fine-tuning jobs under `/v1`, `ftjob-…` ids over tuneyard's own."""
