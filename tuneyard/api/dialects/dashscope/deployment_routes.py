"""DashScope deployments under `/api/v1/deployments` (spec §2.8) — thin: parse, call,
render. A deployment is created RUNNING (or FAILED with why) in the create call itself
(`core.deployment_admin`); delete answers the object as DELETING, after which it is gone.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from tuneyard import errors
from tuneyard.api import bodies
from tuneyard.api.deps import ServiceDep
from tuneyard.api.dialects.dashscope import deployment_translate, deployment_wire, routes
from tuneyard.core.credentials import Caller
from tuneyard.core.deployments import Deployment
from tuneyard.core.service import Service

__all__ = ["router"]

router = APIRouter(prefix=routes.PREFIX, tags=["dashscope"])


def _create(
    service: Service, caller: Caller, wanted: deployment_wire.CreateDeployment
) -> Deployment:
    source = service.deployments.source(caller.workspace_id, wanted.model_name)
    return service.deployments.create(
        caller.workspace_id,
        name=wanted.deployed_model(),
        source=source,
        capacity=wanted.capacity,
        dialect="dashscope",
        created_by=caller.actor,
        attributes=wanted.attributes(),
    )


@router.post("/deployments")
async def create_deployment(
    request: Request, service: ServiceDep, caller: routes.CallerDep
) -> Response:
    """Deploy a base model, a `finetuned_output` or an exported checkpoint's `model_name`
    as `{model_name}-{suffix}` (or `model_name`) with `capacity` decoding slots."""
    wanted = deployment_wire.parse_create(await bodies.json_object(request))
    made = await run_in_threadpool(_create, service, caller, wanted)
    return routes.output(deployment_translate.deployment(made))


@router.get("/deployments")
async def list_deployments(
    service: ServiceDep, caller: routes.CallerDep, page_no: str = "1", page_size: str = "10"
) -> Response:
    """A page of the workspace's deployments, newest first."""
    wanted = routes.page(page_no, page_size)
    listing = await run_in_threadpool(
        service.deployments.page, caller.workspace_id, offset=wanted.offset, limit=wanted.size
    )
    return routes.output(
        deployment_translate.deployments_page(listing, page_no=wanted.number, page_size=wanted.size)
    )


@router.get("/deployments/models")
async def deployable_models(
    service: ServiceDep, caller: routes.CallerDep, page_no: str = "1", page_size: str = "10"
) -> Response:
    """The models the workspace can deploy: base models, tuned models, exported
    checkpoints."""
    wanted = routes.page(page_no, page_size)
    names = await run_in_threadpool(service.deployments.deployable, caller.workspace_id)
    return routes.output(
        deployment_translate.models(
            names, page_no=wanted.number, page_size=wanted.size, offset=wanted.offset
        )
    )


@router.get("/deployments/{deployed_model}")
async def get_deployment(
    deployed_model: str, service: ServiceDep, caller: routes.CallerDep
) -> Response:
    """One deployment."""
    found = await run_in_threadpool(service.deployments.get, caller.workspace_id, deployed_model)
    return routes.output(deployment_translate.deployment(found))


@router.put("/deployments/{deployed_model}/scale")
async def scale_deployment(
    deployed_model: str, request: Request, service: ServiceDep, caller: routes.CallerDep
) -> Response:
    """Set its capacity; more slots than the machine has free is InvalidParameter."""
    wanted = deployment_wire.parse_scale(await bodies.json_object(request))
    if wanted.deployed_model not in (None, deployed_model):
        raise errors.InvalidRequest(
            f"deployed_model {wanted.deployed_model} is not the one in the path",
            param="deployed_model",
        )
    scaled = await run_in_threadpool(
        service.deployments.scale, caller.workspace_id, deployed_model, wanted.capacity
    )
    return routes.output(deployment_translate.deployment(scaled))


@router.delete("/deployments/{deployed_model}")
async def delete_deployment(
    deployed_model: str, service: ServiceDep, caller: routes.CallerDep
) -> Response:
    """Take it down: answers it as DELETING, its slots freed; then it is gone."""
    gone = await run_in_threadpool(service.deployments.delete, caller.workspace_id, deployed_model)
    return routes.output(deployment_translate.deployment(gone))
