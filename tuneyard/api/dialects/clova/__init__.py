"""NAVER CLOVA Studio: the tuning API v2 (`/tuning/v2/tasks`, spec §1), chat completions
on a tuned task (v1 and v3 shapes) and the OpenAI-compatible `/v1/openai`."""

from __future__ import annotations

from tuneyard.api.dialects.clova import chat_routes, compat_routes, create, routes, translate, wire
from tuneyard.api.dialects.record import Dialect

__all__ = ["DIALECT"]

DIALECT = Dialect(
    name="clova",
    prefix=routes.PREFIX,
    routers=(routes.router, chat_routes.router, compat_routes.router),
    render_error=routes.render_error,
    statuses=translate.STATUS,
    errors=translate.ERRORS,
    id_scheme=create.ID_STYLE,
    dataset_formats=wire.DATASET_FORMATS,
    uploads=(routes.create_task,),
    more_prefixes=(*chat_routes.PREFIXES, compat_routes.PREFIX + "/"),
)
"""CLOVA Studio: tasks created from an uploaded file or Object Storage, KST times; a
succeeded task chatted with in CLOVA's shapes or OpenAI's."""
