"""Neutral → Qianfan for serving: published models as model sets (`am-…`) with versions
(`amv-…`), deployments as services (`svco-…`), and the ids between them.

A service's id is its deployment's id under Qianfan's prefix (`dep-<hex>` ↔
`svco-<hex>`); a deployment created by another dialect is a service too, with no model
set or version of its own.
"""

from __future__ import annotations

from typing import Any

from tuneyard.api.dialects.qianfan.translate import iso
from tuneyard.core import ids
from tuneyard.core.deployments import Deployment, DeploymentStatus
from tuneyard.core.paging import Slice
from tuneyard.core.published import PublishedModel, PublishedVersion

__all__ = [
    "CHAT_PATH",
    "MODEL_SET_IDS",
    "MODEL_VERSION_IDS",
    "RUN_STATUS",
    "deployment_id",
    "legacy_service",
    "model_set",
    "model_version",
    "service",
    "service_id",
    "service_page_info",
]

MODEL_SET_IDS = ids.IdStyle(prefix="am-", length=12)
"""A model set's id, as the vendor's (`am-m0t1zde3x111`)."""
MODEL_VERSION_IDS = ids.IdStyle(prefix="amv-", length=12)
"""A model version's id, as the vendor's (`amv-34qkndzjf111`)."""
CHAT_PATH = "/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/"
"""Where a service answers chat: this, then its URL suffix."""

_SERVICE = "svco-"
_DEPLOYMENT = "dep-"

RUN_STATUS: dict[DeploymentStatus, str] = {
    DeploymentStatus.PENDING: "New",
    DeploymentStatus.DEPLOYING: "Deploying",
    DeploymentStatus.RUNNING: "Serving",
    DeploymentStatus.FAILED: "Failed",
    DeploymentStatus.DELETING: "Stopped",
}
"""A deployment's status as a service's `runStatus` (the SDK's `ServiceStatus`)."""


def service_id(deployment: Deployment) -> str:
    """The service id of a deployment."""
    return _SERVICE + deployment.id.removeprefix(_DEPLOYMENT)


def deployment_id(service: str) -> str | None:
    """The deployment id a service id names; None for a string that is not one."""
    if not service.startswith(_SERVICE) or len(service) <= len(_SERVICE):
        return None
    return _DEPLOYMENT + service.removeprefix(_SERVICE)


def model_set(model: PublishedModel, versions: list[PublishedVersion]) -> dict[str, Any]:
    """A model set (`DescribeModelSet`, an item of `DescribeCustomModelSets`)."""
    return {
        "modelSetId": model.id,
        "modelSetName": model.name,
        "modelType": model.kind,
        "source": "UserCreate",
        "description": model.description,
        "labels": list(model.labels),
        "createTime": iso(model.created_at),
        "modifyTime": iso(model.updated_at),
        "modelIds": [v.id for v in versions],
    }


def model_version(
    version: PublishedVersion, model: PublishedModel, base_model: str
) -> dict[str, Any]:
    """A model version (`DescribeModel`)."""
    train_meta: dict[str, Any] = {"taskId": version.job_id}
    if version.step is not None:
        train_meta["checkpointStep"] = version.step
    return {
        "modelId": version.id,
        "modelSetId": model.id,
        "modelSetName": model.name,
        "modelType": model.kind,
        "version": str(version.number),
        "description": version.description,
        "sourceType": "Train",
        "trainMeta": train_meta,
        "baseModel": base_model,
        "state": "Ready",
        "createTime": iso(version.created_at),
    }


def service(deployment: Deployment, base_url: str) -> dict[str, Any]:
    """A service (`DescribeService`, an item of `DescribeServices`)."""
    extra = deployment.attributes
    resource = dict(extra.get("resourceConfig") or {})
    resource["replicasCount"] = deployment.capacity
    return {
        "serviceId": service_id(deployment),
        "name": str(extra.get("name") or deployment.name),
        "description": str(extra.get("description") or ""),
        "baseModel": deployment.base_model,
        "modelSetId": str(extra.get("modelSetId") or ""),
        "modelId": str(extra.get("modelId") or ""),
        "url": f"{base_url}{CHAT_PATH}{deployment.name}",
        "endpoint": deployment.name,
        "serviceType": "chat",
        "runStatus": RUN_STATUS[deployment.status],
        "updateStatus": "None",
        "chargeType": "ComputingUnit",
        "chargeStatus": "Free",
        "resourceConfig": resource,
        "createTime": iso(deployment.created_at),
        "modifyTime": iso(deployment.updated_at),
        **({"failReason": deployment.error} if deployment.error else {}),
    }


def legacy_service(deployment: Deployment, base_url: str) -> dict[str, Any]:
    """A service as the older console's list shows it (the SDK reads `name` and `url`)."""
    status = {DeploymentStatus.RUNNING: "Done", DeploymentStatus.FAILED: "Failed"}.get(
        deployment.status, "Deploying"
    )
    return {
        "name": str(deployment.attributes.get("name") or deployment.name),
        "url": f"{base_url}{CHAT_PATH}{deployment.name}",
        "apiType": "chat",
        "chargeStatus": "FREE",
        "versionList": [{"trainType": deployment.base_model, "serviceStatus": status}],
    }


def service_page_info(
    marker: str | None, max_keys: int, found: Slice[Deployment]
) -> dict[str, Any]:
    """`pageInfo` of `DescribeServices`: as the tuning lists' (spec §7), with service ids."""
    return {
        "marker": marker or "",
        "maxKeys": max_keys,
        "isTruncated": found.more,
        "nextMarker": service_id(found.items[-1]) if found.items else "",
    }
