"""Qianfan's model Actions, `POST /v2/model?Action=…`: publish a task's tuned model as a
version of a model set (a core published model), describe and delete them. Signed with
bce-auth-v1, answered `{requestId, result}` like the tuning Actions. Thin: parse, call
the use-case, render.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tuneyard import errors
from tuneyard.api.deps import ServiceDep
from tuneyard.api.dialects.qianfan import console, serving_translate, serving_wire, translate, wire
from tuneyard.api.dialects.qianfan.console import Call

__all__ = ["ACTIONS", "DIALECT", "PREFIX", "router"]

PREFIX = "/v2/model"
DIALECT = "qianfan"

router = APIRouter(tags=["qianfan"])

_T = serving_translate


def _create_model_set(call: Call) -> Any:
    request = wire.parse(serving_wire.CreateModelSet, call.body)
    if request.modelType not in serving_wire.MODEL_TYPES:
        raise errors.UnsupportedFeature(
            f"modelType {request.modelType} is not served here; tuned models are "
            f"{', '.join(sorted(serving_wire.MODEL_TYPES))}",
            param="modelType",
        )
    model = call.service.publishing.create(
        call.workspace,
        name=request.modelSetName,
        kind=request.modelType,
        dialect=DIALECT,
        id_style=_T.MODEL_SET_IDS,
        description=request.description,
        labels=request.labels,
        created_by=call.caller.actor,
    )
    return model.id


def _list_model_sets(call: Call) -> Any:
    request = wire.parse(serving_wire.ListModelSets, call.body)
    found = call.service.publishing.list(
        call.workspace,
        marker=request.marker,
        limit=console.max_keys(request.maxKeys),
        oldest_first=request.pageReverse,
    )
    publishing = call.service.publishing
    return {
        "modelSetList": [_T.model_set(m, publishing.versions(m)) for m in found.items],
        "pageInfo": translate.page_info(request.marker, request.maxKeys, found),
    }


def _model_set(call: Call) -> Any:
    request = wire.parse(serving_wire.ModelSetRef, call.body)
    publishing = call.service.publishing
    if request.modelSetId:
        model = publishing.get(call.workspace, request.modelSetId, param="modelSetId")
    elif request.modelSetName:
        model = publishing.find(call.workspace, request.modelSetName, param="modelSetName")
    else:
        raise errors.InvalidRequest("modelSetId or modelSetName is required", param="modelSetId")
    return _T.model_set(model, publishing.versions(model))


def _delete_model_set(call: Call) -> Any:
    request = wire.parse(serving_wire.ModelSetRef, call.body)
    if not request.modelSetId:
        raise errors.InvalidRequest("modelSetId is required", param="modelSetId")
    call.service.publishing.delete(call.workspace, request.modelSetId, param="modelSetId")
    return True


def _create_model(call: Call) -> Any:
    request = wire.parse(serving_wire.CreateModel, call.body)
    if request.sourceType != "Train":
        raise errors.UnsupportedFeature(
            f"sourceType {request.sourceType} is not served here; publish a task (Train)",
            param="sourceType",
        )
    if request.trainMeta is None:
        raise errors.InvalidRequest("trainMeta is required for sourceType Train", param="trainMeta")
    meta = request.trainMeta
    version = call.service.publishing.publish(
        call.workspace,
        request.modelSetId,
        job_id=meta.taskId,
        step=meta.checkpointStep if meta.checkpointStep is not None else meta.step,
        id_style=_T.MODEL_VERSION_IDS,
        description=request.description,
        created_by=call.caller.actor,
        params=("modelSetId", "trainMeta.taskId", "trainMeta.checkpointStep"),
    )
    return {"modelSetId": version.model_id, "modelId": version.id}


def _model(call: Call) -> Any:
    request = wire.parse(serving_wire.ModelRef, call.body)
    publishing = call.service.publishing
    version = publishing.version(call.workspace, request.modelId, param="modelId")
    model = publishing.get(call.workspace, version.model_id, param="modelId")
    try:
        base_model = call.service.jobs.get(call.workspace, version.job_id).base_model
    except errors.JobNotFound:
        base_model = ""
    return _T.model_version(version, model, base_model)


def _delete_model(call: Call) -> Any:
    request = wire.parse(serving_wire.ModelRef, call.body)
    call.service.publishing.delete_version(call.workspace, request.modelId, param="modelId")
    return True


ACTIONS: dict[str, Callable[[Call], Any]] = {
    "CreateCustomModelSet": _create_model_set,
    "DescribeCustomModelSets": _list_model_sets,
    "DescribeModelSet": _model_set,
    "DeleteModelSet": _delete_model_set,
    "CreateCustomModel": _create_model,
    "DescribeModel": _model,
    "DeleteModel": _delete_model,
}
"""The `/v2/model` Actions (each has a golden file)."""


@router.post(PREFIX)
async def model_actions(
    request: Request, service: ServiceDep, caller: console.CallerDep
) -> Response:
    """Dispatch a model Action on `?Action=`."""
    return await console.dispatch(request, service, caller, ACTIONS)
