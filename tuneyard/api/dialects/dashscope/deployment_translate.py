"""Neutral deployments → DashScope's deployment object (spec §2.8) and its listings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from tuneyard.api.dialects.dashscope.translate import BEIJING
from tuneyard.core.deployments import Deployment, DeploymentStatus
from tuneyard.core.ports import DeploymentPage

__all__ = ["BASE_CAPACITY", "STATUS", "deployment", "deployments_page", "format_gmt", "models"]

BASE_CAPACITY = 1
"""The fewest slots a deployment may have (every model here is deployable on one)."""

STATUS: dict[DeploymentStatus, str] = {s: s.value for s in DeploymentStatus}
"""Neutral deployment status → DashScope's (the same words)."""


def format_gmt(value: dt.datetime) -> str:
    """`2025-06-17T11:00:38`: Beijing wall-clock time, no offset, as the vendor writes it."""
    return value.astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M:%S")


def deployment(record: Deployment) -> dict[str, Any]:
    """The deployment object: every key `DeploymentOutput` reads, plus `plan` as sent."""
    body: dict[str, Any] = {
        "deployed_model": record.name,
        "gmt_create": format_gmt(record.created_at),
        "gmt_modified": format_gmt(record.updated_at),
        "status": STATUS[record.status],
        "model_name": record.model,
        "base_model": record.base_model,
        "base_capacity": BASE_CAPACITY,
        "capacity": record.capacity,
        "ready_capacity": record.capacity if record.status is DeploymentStatus.RUNNING else 0,
        "workspace_id": record.workspace_id,
        "charge_type": "post_paid",
        "creator": record.created_by,
        "modifier": record.created_by,
        "plan": record.attributes.get("plan"),
    }
    if record.error:
        body["message"] = record.error
    return body


def deployments_page(listing: DeploymentPage, *, page_no: int, page_size: int) -> dict[str, Any]:
    """`{page_no, page_size, total, deployments}`."""
    return {
        "page_no": page_no,
        "page_size": page_size,
        "total": listing.total,
        "deployments": [deployment(d) for d in listing.items],
    }


def models(names: Sequence[str], *, page_no: int, page_size: int, offset: int) -> dict[str, Any]:
    """`{models: [{model_name, base_capacity}], page_no, page_size, total}`."""
    return {
        "models": [
            {"model_name": n, "base_capacity": BASE_CAPACITY}
            for n in names[offset : offset + page_size]
        ],
        "page_no": page_no,
        "page_size": page_size,
        "total": len(names),
    }
