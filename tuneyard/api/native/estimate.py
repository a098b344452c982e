"""`POST /tuneyard/v1/estimate`: what a job would take, before it is created.

The same fields as a job: `model`, `method` (lora | full), `objective` (sft | dpo | cpt),
`task_type`, `hyperparameters` (an object; "auto" where a job takes it), and the dataset
either as a stored file (`training_file`, a file id of the caller's workspace, in a JSON
body) or sent along (multipart: a `file` part, the other fields as form fields,
`hyperparameters` as JSON text). The file sent is not kept.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from tuneyard import errors
from tuneyard.api import bodies, multipart
from tuneyard.api.deps import ServiceDep, WorkspaceDep
from tuneyard.core import checks, files
from tuneyard.core.estimate import Estimate
from tuneyard.core.estimates import hyperparameters_of
from tuneyard.core.jobs import JobSpec
from tuneyard.core.service import Service
from tuneyard.kinds import Method, Objective, TaskType

__all__ = ["router", "spec_of"]

router = APIRouter()


def _choice(fields: dict[str, Any], name: str, kind: Any, default: Any) -> Any:
    raw = fields.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(str(raw).lower())
    except ValueError:
        allowed = ", ".join(k.value for k in kind)
        raise errors.InvalidRequest(f"{name} must be one of {allowed}", param=name) from None


def spec_of(service: Service, workspace: str, fields: dict[str, Any]) -> JobSpec:
    """The job a request describes (nothing is stored)."""
    name = fields.get("model")
    if not isinstance(name, str) or not name:
        raise errors.InvalidRequest("model is required", param="model")
    model = service.models.get(name)
    raw_hp = fields.get("hyperparameters") or {}
    if isinstance(raw_hp, str):
        try:
            raw_hp = json.loads(raw_hp)
        except ValueError:
            raw_hp = None
    if not isinstance(raw_hp, dict):
        raise errors.InvalidRequest("hyperparameters must be an object", param="hyperparameters")
    file_id = fields.get("training_file")
    return JobSpec(
        workspace_id=workspace,
        display_name="",
        base_model=model.name,
        task_type=_choice(fields, "task_type", TaskType, model.default_task_type()),
        method=_choice(fields, "method", Method, Method.LORA),
        objective=_choice(fields, "objective", Objective, Objective.SFT),
        hyperparameters=hyperparameters_of(raw_hp),
        dialect="native",
        training_file_id=file_id if isinstance(file_id, str) and file_id else None,
    )


def _answer(
    spec: JobSpec, check: checks.DatasetCheck, found: Estimate | None, refusal: str | None
) -> dict[str, Any]:
    if not check.ok:
        first = check.report.first
        reason = f"{first.reason}: {first.describe()}" if first else "the dataset is invalid"
        raise errors.InvalidRequest(reason, param="training_file")
    if found is None:
        raise errors.UnsupportedFeature(
            f"no estimate: {check.profile_skipped or 'tokens cannot be counted for this model'}",
            param="model",
        )
    return {
        "object": "estimate",
        "model": spec.base_model,
        "task_type": spec.task_type.value,
        "method": spec.method.value,
        "objective": spec.objective.value,
        "rows": check.report.rows,
        "dataset_tokens": check.profile.tokens if check.profile else None,
        **found.to_dict(),
        "refused": refusal,
    }


@router.post("/tuneyard/v1/estimate", tags=["native"])
async def estimate(request: Request, service: ServiceDep, workspace: WorkspaceDep) -> Any:
    """Peak memory, training-loop and whole-job time, tokens trained, and whether the job
    fits this machine (and the server's policy: `refused` says why not)."""
    if request.headers.get("content-type", "").startswith("multipart/"):
        form = await multipart.read_form(request, max_files=1)
        try:
            upload, fields = multipart.file_and_fields(form)
            spec = spec_of(service, workspace, fields)
            check, found = await run_in_threadpool(
                service.estimates.of_upload,
                spec,
                files.safe_name(upload.filename, default="dataset"),
                iter(lambda: upload.file.read(1 << 20), b""),
            )
        finally:
            await form.close()
    else:
        spec = spec_of(service, workspace, await bodies.json_object(request))
        if spec.training_file_id is None:
            raise errors.InvalidRequest(
                "training_file (a file id) or a multipart file is required",
                param="training_file",
            )
        check, found = await run_in_threadpool(service.estimates.of_file, spec)
    refusal = service.estimates.refusal(found) if found is not None else None
    return _answer(spec, check, found, refusal)
