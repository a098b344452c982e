"""Baidu Qianfan: v2 fine-tuning (`/v2/finetuning?Action=…`, bce-auth-v1; spec §3), publishing
(`/v2/model`), services (`/v2/service`) and chat on a service (the custom-service
endpoint, `/v2/chat/completions`)."""

from __future__ import annotations

from tuneyard.api.dialects.qianfan import (
    chat_routes,
    create,
    iam,
    model_routes,
    routes,
    service_routes,
    translate,
    wire,
)
from tuneyard.api.dialects.record import Dialect

__all__ = ["DIALECT"]

DIALECT = Dialect(
    name="qianfan",
    prefix=routes.PREFIX,
    routers=(routes.router, model_routes.router, service_routes.router, chat_routes.router),
    more_prefixes=(
        model_routes.PREFIX,
        service_routes.PREFIX,
        service_routes.LEGACY_LIST,
        chat_routes.V2_PATH,
        chat_routes.V1_PREFIX + "/",
        iam.PATH,
    ),
    render_error=routes.render_error,
    statuses=translate.RUN_STATUS,
    errors=translate.ERRORS,
    id_scheme=create.ID_STYLE,
    dataset_formats=wire.DATASET_FORMATS,
)
"""Qianfan: job groups and their tasks, model sets and services through signed Action
endpoints; chat on a service."""
