"""Native `POST /tuneyard/v1/models/{model}/classify`: label texts with a classification
model (a job tuned from minilm-l6 or another encoder, named by its id or its published
output name; `step` picks one of its checkpoints)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from tuneyard import errors
from tuneyard.api import bodies, params
from tuneyard.api import inference as engine_api
from tuneyard.api.deps import ServiceDep, WorkspaceDep
from tuneyard.api.dialects import values
from tuneyard.core import ids
from tuneyard.core.served import ServedModel
from tuneyard.core.service import Service
from tuneyard.kinds import TaskType
from tuneyard.serving import protocol

__all__ = ["MAX_INPUTS", "ClassifyRequest", "router"]

MAX_INPUTS = 256
"""Most texts one request may label."""

router = APIRouter()


class ClassifyRequest(BaseModel):
    """The texts to label, and optionally which checkpoint of the model to use."""

    model_config = ConfigDict(extra="forbid")

    inputs: list[str] = Field(min_length=1, max_length=MAX_INPUTS)
    step: values.Int | None = Field(
        None, ge=1, le=params.MAX_INT, description="a checkpoint's step; null: the final model"
    )


def _served(service: Service, workspace: str, name: str, step: int | None) -> ServedModel:
    if step is None and service.served.base_model(name) is not None:
        model = service.served.base(name)
    else:
        published = service.jobs.by_output(workspace, name)
        job_id = published.id if published is not None else name
        model = service.served.tuned(workspace, job_id, step=step, name=name)
    if model.task_type is not TaskType.CLASSIFICATION:
        raise errors.InvalidRequest(
            f"The model `{name}` generates text; chat with it at POST /v1/chat/completions.",
            param="model",
        )
    return model


@router.post("/tuneyard/v1/models/{model}/classify", tags=["native"])
async def classify(
    model: str,
    request: Request,
    service: ServiceDep,
    workspace: WorkspaceDep,
    engine: engine_api.InferenceDep,
) -> dict[str, Any]:
    """Label each input: the most likely label and every label's probability."""
    body = values.validated(ClassifyRequest, await bodies.json_object(request))
    served = await run_in_threadpool(_served, service, workspace, model, body.step)
    answer = await engine.classify(
        protocol.Classify(
            id=ids.new_request_id(), target=engine_api.target(served), inputs=tuple(body.inputs)
        )
    )
    return {
        "model": model,
        "data": [
            {"index": i, "label": label, "probabilities": probabilities}
            for i, (label, probabilities) in enumerate(answer.results)
        ],
    }
