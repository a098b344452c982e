"""The console's New job page: upload a dataset (a progress bar), see its whole validation
report before anything is created, pick a base model, method and objective, set the
hyperparameters (prefilled with the defaults, "auto" explained) and create the job.

Routes:
  GET  /console/jobs/new       the page
  POST /console/uploads        multipart `file` (+ `task_type`): the check a job's dataset
                               gets; the file is kept only when it has no issue
  POST /console/jobs/new       JSON: create the job (recorded `created_via` WEB, CLOVA's
                               `createdClientType: WEB`), after checking the file again
                               against the chosen model, task type and objective

Element ids (browser tests use them): upload-form, upload-file, upload-task-type,
upload-button, upload-progress, upload-status, validation-report, report-summary,
report-facts, report-issues (each issue an `li.issue` with data-line and data-reason),
report-more, job-form, file-id, chosen-file, job-name, base-model, model-help, task-type,
method, objective, auto-help, auto-preview, hp-<field> (one per hyperparameter),
hp-<field>-auto (n_epochs, batch_size, learning_rate), create-button, create-error; a
created job opens its page, /console/jobs/<id>.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import UploadFile

from tuneyard import errors
from tuneyard.api import bodies, multipart
from tuneyard.api import errors as api_errors
from tuneyard.api.console import render
from tuneyard.api.console.session import ChangeDep, UserDep
from tuneyard.api.deps import ServiceDep
from tuneyard.core import checks, fielddocs, files
from tuneyard.core.jobs import AUTO_FIELDS, Hyperparameters, Job, JobSpec
from tuneyard.core.service import Service
from tuneyard.datasets import formats
from tuneyard.kinds import Method, Objective, TaskType

__all__ = [
    "CREATED_VIA",
    "DIALECT",
    "NEW",
    "UPLOAD",
    "create_job",
    "error_answer",
    "hyperparameters",
    "router",
    "upload_dataset",
]

NEW = "/console/jobs/new"
UPLOAD = "/console/uploads"
CREATED_VIA = "WEB"
"""How a job made in the console is recorded (CLOVA shows it as `createdClientType`)."""
DIALECT = "console"
"""The dialect a console job is recorded under (its files are read in any format)."""

router = APIRouter(tags=["console"])

_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Training", ("n_epochs", "batch_size", "learning_rate", "gradient_accumulation_steps")),
    ("Sequence and schedule", ("max_seq_len", "warmup_ratio", "lr_scheduler", "weight_decay")),
    ("LoRA", ("lora_rank", "lora_alpha", "lora_dropout", "lora_target_modules")),
    ("Checkpoints and evaluation", ("save_steps", "save_total_limit", "validation_split")),
    ("More", ("eval_samples", "seed", "dpo_beta")),
)
"""How the hyperparameters are laid out (every field of `Hyperparameters` but `auto`)."""


def error_answer(exc: errors.TuneyardError, **extra: Any) -> JSONResponse:
    """A refusal as the console's scripts read it (as `routes.render_error` answers them):
    `{"error": {code, message, param}}` with the status of the one error table, and
    `extra` beside it."""
    status, code = api_errors.classify(exc)
    body = {"error": {"code": code.value, "message": exc.message, "param": exc.param}, **extra}
    return JSONResponse(body, status_code=status)


def hyperparameters() -> list[dict[str, Any]]:
    """The form's groups of fields: name, default, help text, input kind, auto or not."""
    defaults = Hyperparameters().to_dict()
    docs = fielddocs.hyperparameter_docs()
    groups = []
    for title, names in _GROUPS:
        fields = []
        for name in names:
            value = defaults[name]
            kind = (
                "list"
                if isinstance(value, list)
                else "choice"
                if name == "lr_scheduler"
                else "int"
                if isinstance(value, int)
                else "float"
            )
            shown = ", ".join(value) if isinstance(value, list) else value
            fields.append(
                {
                    "name": name,
                    "default": shown,
                    "help": docs.get(name, ""),
                    "kind": kind,
                    "auto": name in AUTO_FIELDS,
                }
            )
        groups.append({"title": title, "fields": fields})
    return groups


def _auto_help() -> str:
    """What "auto" does, from `Hyperparameters.resolve_auto`'s own docstring."""
    doc = inspect.getdoc(Hyperparameters.resolve_auto) or ""
    return " ".join(doc.split("\n\n", 1)[-1].split())


def _models(service: Service) -> list[dict[str, Any]]:
    return [
        {
            "name": m.name,
            "task_types": [t.value for t in m.task_types],
            "description": m.description,
        }
        for m in service.served.bases()
    ]


@router.get(NEW, response_class=HTMLResponse, include_in_schema=False)
async def new_job_page(request: Request, service: ServiceDep, user: UserDep) -> HTMLResponse:
    """The New job page."""
    return render.render(
        request,
        "newjob.html",
        models=_models(service),
        groups=hyperparameters(),
        auto_fields=AUTO_FIELDS,
        auto_help=_auto_help(),
        objectives=[o.value for o in Objective],
        upload_url=UPLOAD,
        create_url=NEW,
    )


def _auto_preview(examples: int) -> dict[str, dict[str, Any]]:
    """What "auto" resolves to for a file of `examples` examples, per method/objective."""
    everything = Hyperparameters(auto=AUTO_FIELDS)
    return {
        f"{method.value}/{objective.value}": {
            f: getattr(everything.resolve_auto(examples, method, objective), f) for f in AUTO_FIELDS
        }
        for method in Method
        for objective in Objective
    }


def _report(check: checks.DatasetCheck) -> dict[str, Any]:
    """The check as the page shows it, with the objective the file's format trains."""
    fmt = check.report.format
    kind = formats.BY_NAME[fmt].kind.value if fmt in formats.BY_NAME else None
    examples = check.report.conversations or check.report.rows
    return {
        **check.to_dict(),
        "objective": kind,
        "auto": _auto_preview(examples) if check.ok else None,
    }


@router.post(UPLOAD, include_in_schema=False)
async def upload_dataset(request: Request, service: ServiceDep, user: ChangeDep) -> Response:
    """Check an upload as a job's dataset is checked before it is queued; keep it (and
    answer its id) only when it has no issue. Every issue comes back with its line."""
    form = await multipart.read_form(request, max_files=1)
    try:
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise errors.InvalidRequest("choose a file to upload", param="file")
        task = form.get("task_type")
        task_type = TaskType.CLASSIFICATION if task == "classification" else TaskType.GENERATION
        stored, check = await run_in_threadpool(
            service.uploads.upload_reported,
            user.workspace_id,
            files.safe_name(part.filename),
            bodies.chunks(part.file),
            task_type=task_type,
        )
    finally:
        await form.close()
    found = None
    if stored is not None:
        found = {"id": stored.id, "filename": stored.filename, "bytes": stored.bytes}
    return JSONResponse({"file": found, "report": _report(check)})


def _number(fields: dict[str, Any], name: str, default: Any, problems: list[str]) -> Any:
    """One hyperparameter from the form, typed like its default (blank: the default)."""
    raw = fields.get(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return default
    try:
        if isinstance(default, tuple):
            items = raw if isinstance(raw, list) else str(raw).split(",")
            return tuple(str(i).strip() for i in items if str(i).strip())
        if isinstance(default, str):
            return str(raw).strip()
        if isinstance(default, int) and not isinstance(default, bool):
            number = float(raw)
            if not number.is_integer():
                raise ValueError
            return int(number)
        value = float(raw)
        if not math.isfinite(value):
            raise ValueError
        return value
    except (TypeError, ValueError):
        problems.append(f"{name} must be a number, not {raw!r}")
        return default


def _hyper(body: dict[str, Any]) -> Hyperparameters:
    """The hyperparameters of a create request: the defaults, what was typed, and the
    fields left "auto"; every problem reported at once."""
    sent = body.get("hyperparameters") or {}
    if not isinstance(sent, dict):
        raise errors.InvalidRequest("hyperparameters must be an object", param="hyperparameters")
    auto = body.get("auto") or []
    if not isinstance(auto, list) or any(a not in AUTO_FIELDS for a in auto):
        raise errors.InvalidRequest(
            f"auto lists some of {', '.join(AUTO_FIELDS)}", param="hyperparameters"
        )
    defaults = Hyperparameters()
    problems: list[str] = []
    values = {
        f.name: _number(sent, f.name, getattr(defaults, f.name), problems)
        for f in dataclasses.fields(Hyperparameters)
        if f.name != "auto"
    }
    hp = Hyperparameters(**values, auto=tuple(dict.fromkeys(auto)))
    problems += hp.problems()
    if problems:
        raise errors.InvalidRequest("; ".join(problems), param="hyperparameters")
    return hp


def _choice(body: dict[str, Any], name: str, kind: type[Any], default: str) -> Any:
    value = body.get(name) or default
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(k.value for k in kind)
        raise errors.InvalidRequest(f"{name} must be one of {allowed}", param=name) from None


def create_job(
    service: Service, user_workspace: str, actor: str, account: str, body: dict[str, Any]
) -> tuple[Job | None, checks.DatasetCheck | None]:
    """Create the job a New job form describes: (the job, None); or (None, the check)
    when the file does not pass the check the job would get (nothing is created)."""
    file_id = body.get("file_id")
    if not isinstance(file_id, str) or not file_id:
        raise errors.InvalidRequest("upload a dataset first", param="training_file")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise errors.InvalidRequest("pick a base model", param="model")
    method: Method = _choice(body, "method", Method, "lora")
    objective: Objective = _choice(body, "objective", Objective, "sft")
    task_type: TaskType = _choice(
        body, "task_type", TaskType, service.models.get(model).default_task_type().value
    )
    name = body.get("name")
    spec = JobSpec(
        workspace_id=user_workspace,
        display_name=name.strip()[:256] if isinstance(name, str) else "",
        base_model=model,
        task_type=task_type,
        method=method,
        hyperparameters=_hyper(body),
        dialect=DIALECT,
        training_file_id=file_id,
        created_via=CREATED_VIA,
        objective=objective,
        account=account,
        created_by=actor,
    )
    service.submission.check(spec)  # model, task type, values, the file is the workspace's
    check = service.uploads.check_for_job(
        user_workspace,
        file_id,
        model_name=model,
        task_type=task_type,
        objective=objective,
        dialect=DIALECT,
    )
    if not check.ok:
        return None, check
    return service.submission.create(spec), None


@router.post(NEW, include_in_schema=False)
async def create(request: Request, service: ServiceDep, user: ChangeDep) -> Response:
    """Create the job (JSON body: file_id, model, method, objective, task_type, name,
    hyperparameters, auto); a file that fails the job's check is refused with its report."""
    body = await bodies.json_object(request)
    job, check = await run_in_threadpool(
        create_job, service, user.workspace_id, user.actor, user.account, body
    )
    if job is None:
        assert check is not None
        first = check.report.first
        message = f"The dataset has {check.report.total_issues} issue(s); nothing was created."
        if first is not None:
            message += f" First: {first.reason}: {first.describe()}"
        refused = errors.InvalidRequest(message, param="training_file")
        return error_answer(refused, report=_report(check))
    return JSONResponse(
        {"id": job.id, "created_via": job.created_via, "url": f"/console/jobs/{job.id}"},
        status_code=201,
    )
