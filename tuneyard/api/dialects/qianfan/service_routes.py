"""Qianfan's service Actions, `POST /v2/service?Action=…`: serve a model version under a
URL suffix (a core deployment), describe, list, modify and delete services. Signed with
bce-auth-v1, answered `{requestId, result}` like the tuning Actions. Thin: parse, call
the use-case, render.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from tuneyard import errors
from tuneyard.api import bodies, respond
from tuneyard.api.deps import ServiceDep
from tuneyard.api.dialects.qianfan import console, serving_translate, serving_wire, wire
from tuneyard.api.dialects.qianfan.console import Call
from tuneyard.api.dialects.qianfan.model_routes import DIALECT
from tuneyard.core import ids
from tuneyard.core.deployment_admin import Source
from tuneyard.core.deployments import Deployment
from tuneyard.core.paging import Slice
from tuneyard.core.service import Service

__all__ = ["ACTIONS", "LEGACY_LIST", "PREFIX", "router"]

PREFIX = "/v2/service"
LEGACY_LIST = "/wenxinworkshop/service/list"
"""The console's older service list, which the SDK reads before its first chat call to map
model names to endpoints (`Service.list`)."""

router = APIRouter(tags=["qianfan"])

_T = serving_translate


def _deployment(call: Call, service_id: str) -> Deployment:
    """The caller's service of that id; not-found for another workspace's."""
    key = _T.deployment_id(service_id)
    found = call.service.ports.deployments.get(key) if key else None
    if found is None or found.workspace_id != call.workspace:
        raise errors.DeploymentNotFound(f"service {service_id} does not exist", param="serviceId")
    return found


def _source(call: Call, model_set_id: str, model_id: str) -> Source:
    """What a service of that model version serves: the version's task output."""
    publishing = call.service.publishing
    version = publishing.version(call.workspace, model_id, param="modelId")
    if version.model_id != model_set_id:
        raise errors.PublishedNotFound(
            f"model {model_id} is not a version of {model_set_id}", param="modelSetId"
        )
    job = call.service.served.job(call.workspace, version.job_id, name=version.id)
    return Source(version.id, job, version.step)


def _replicas(request: serving_wire.CreateService) -> int:
    """The decoding slots to reserve: the replicas asked for (1 when none is named)."""
    for block in (request.deploymentConfig, request.resourceConfig):
        for key in ("replicasCount", "replicas"):
            value = (block or {}).get(key)
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int):
                    raise errors.InvalidRequest(f"{key} must be an integer", param=key)
                return value
    return 1


def _create_service(call: Call) -> Any:
    request = wire.parse(serving_wire.CreateService, call.body)
    source = _source(call, request.modelSetId, request.modelId)
    deployment = call.service.deployments.create(
        call.workspace,
        name=request.urlSuffix,
        source=source,
        capacity=_replicas(request),
        dialect=DIALECT,
        created_by=call.caller.actor,
        attributes={
            "name": request.name,
            "description": request.description,
            "modelSetId": request.modelSetId,
            "modelId": request.modelId,
            "resourceConfig": request.resourceConfig or {},
            "billing": request.billing or {},
        },
    )
    return {"serviceId": _T.service_id(deployment)}


def _matches(request: serving_wire.ListServices, deployment: Deployment) -> bool:
    shown = _T.service(deployment, "")
    return (
        (not request.name or request.name in shown["name"])
        and (not request.runStatus or shown["runStatus"] in request.runStatus)
        and (not request.serviceType or shown["serviceType"] in request.serviceType)
    )


def _marker(call: Call, service_id: str) -> str:
    """The name of the deployment a `marker` (a service id of this list) names."""
    try:
        return _deployment(call, service_id).name
    except errors.DeploymentNotFound:
        raise errors.InvalidRequest(
            f"marker {service_id} is not in this list", param="marker"
        ) from None


def _list_services(call: Call) -> Any:
    request = wire.parse(serving_wire.ListServices, call.body)
    limit = console.max_keys(request.maxKeys)
    if request.pageReverse:
        raise errors.UnsupportedFeature(
            "services are listed newest first only", param="pageReverse"
        )
    marker = _marker(call, request.marker) if request.marker else None
    kept: list[Deployment] = []
    while True:  # filters apply to each page read, until a page's worth matches
        page = call.service.deployments.list_after(call.workspace, marker=marker, limit=limit)
        kept += [d for d in page.items if _matches(request, d)]
        if len(kept) > limit or not page.more or not page.items:
            break
        marker = page.items[-1].name
    found = Slice(kept[:limit], len(kept) > limit)
    return {
        "serviceList": [_T.service(d, call.base_url) for d in found.items],
        "pageInfo": _T.service_page_info(request.marker, request.maxKeys, found),
    }


def _service(call: Call) -> Any:
    request = wire.parse(serving_wire.ServiceRef, call.body)
    return _T.service(_deployment(call, request.serviceId), call.base_url)


def _delete_service(call: Call) -> Any:
    request = wire.parse(serving_wire.ServiceRef, call.body)
    deployment = _deployment(call, request.serviceId)
    call.service.deployments.delete(call.workspace, deployment.name)
    return True


def _modify_service(call: Call) -> Any:
    request = wire.parse(serving_wire.ModifyService, call.body)
    deployment = _deployment(call, request.serviceId)
    source = _source(call, request.modelSetId, request.modelId)
    call.service.deployments.retarget(
        call.workspace,
        deployment.name,
        source,
        attributes={"modelSetId": request.modelSetId, "modelId": request.modelId},
    )
    return True


ACTIONS: dict[str, Callable[[Call], Any]] = {
    "CreateService": _create_service,
    "DescribeServices": _list_services,
    "DescribeService": _service,
    "ModifyService": _modify_service,
    "DeleteService": _delete_service,
}
"""The `/v2/service` Actions (each has a golden file)."""


@router.post(PREFIX)
async def service_actions(
    request: Request, service: ServiceDep, caller: console.CallerDep
) -> Response:
    """Dispatch a service Action on `?Action=`."""
    return await console.dispatch(request, service, caller, ACTIONS)


@router.post(LEGACY_LIST)
async def legacy_list(request: Request, service: ServiceDep, caller: console.CallerDep) -> Response:
    """The workspace's services as the older console lists them: `custom` (they are the
    user's own; `common`, the vendor's preset services, is empty), filtered by
    `apiTypefilter`."""
    body = await bodies.json_object(request) if (await request.body()).strip() else {}
    types = body.get("apiTypefilter")
    base_url = str(request.base_url).rstrip("/")
    found = await run_in_threadpool(_everything, service, caller.workspace_id)
    custom = [_T.legacy_service(d, base_url) for d in found]
    if isinstance(types, list):
        custom = [c for c in custom if c["apiType"] in types]
    request_id = ids.new_request_id()
    reply = {"log_id": request_id, "result": {"common": [], "custom": custom}}
    return respond.json(reply, headers={console.REQUEST_ID: request_id})


def _everything(service: Service, workspace_id: str) -> list[Deployment]:
    found: list[Deployment] = []
    marker: str | None = None
    while True:
        page = service.deployments.list_after(workspace_id, marker=marker, limit=100)
        found += page.items
        if not page.more or not page.items:
            return found
        marker = page.items[-1].name
