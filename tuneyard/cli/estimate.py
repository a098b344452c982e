"""`tuneyard estimate FILE --model M`: what a job would take on this machine, before launch."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from tuneyard import calibration, errors, runtime
from tuneyard.core import checks, fielddocs
from tuneyard.core.estimates import hyperparameters_of
from tuneyard.core.jobs import AUTO_FIELDS, Hyperparameters, JobSpec
from tuneyard.datasets import choice
from tuneyard.kinds import Method, Objective, TaskType
from tuneyard.settings import Settings

__all__ = ["add_parser", "run"]

_HP_FIELDS = [f for f in dataclasses.fields(Hyperparameters) if f.name != "auto"]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `estimate` and its flags (one per hyperparameter)."""
    parser = commands.add_parser(
        "estimate",
        help="peak memory, training and whole-job time, tokens of a job on this machine",
        description="Counts the dataset's tokens with the model's tokenizer, plans the run's "
        "batches as the trainer does and prices them with this machine's calibration "
        "(GEMM and attention rates, and the trainer's own step timed on small probe models; "
        "measured once, 20-40 seconds, cached in the data dir and the user's cache), in "
        "the dtype the trainer will choose here (bf16 autocast on a CPU with native bf16 "
        "measured faster, unless TUNEYARD_TRAIN_PRECISION=fp32). Exit status: 0 when the "
        "job fits, 1 when it does not (or is over --max-job-seconds / --max-job-memory), "
        "2 when it cannot be estimated.",
    )
    parser.add_argument("file", type=Path, help="the training file (.csv, .jsonl, .json)")
    parser.add_argument("--model", required=True, help="the base model (tuneyard models list)")
    parser.add_argument("--method", choices=[m.value for m in Method], default="lora")
    parser.add_argument(
        "--objective",
        choices=[*(o.value for o in Objective), "classification"],
        default="sft",
        help="sft, dpo, cpt, or classification (a classifier: the model's task type)",
    )
    docs = {k: v.replace("%", "%%") for k, v in fielddocs.hyperparameter_docs().items()}
    for field in _HP_FIELDS:
        default = getattr(Hyperparameters(), field.name)
        auto = '; or "auto"' if field.name in AUTO_FIELDS else ""
        shown = ",".join(default) if isinstance(default, tuple) else default
        parser.add_argument(
            f"--{field.name.replace('_', '-')}",
            dest=f"hp_{field.name}",
            metavar="VALUE",
            help=f"{docs.get(field.name, field.name)} (default {shown}{auto})",
        )
    parser.add_argument(
        "--max-running-jobs",
        type=int,
        help="jobs training at once: a worker gets this share of the memory (default 1)",
    )
    parser.add_argument("--max-job-seconds", type=float, help="refuse a longer job (0: none)")
    parser.add_argument("--max-job-memory", type=int, help="refuse a bigger job, bytes (0: none)")
    parser.add_argument("--json", action="store_true", help="print the estimate as JSON")
    parser.add_argument(
        "--data-dir",
        help="models.toml and the calibration cache (env TUNEYARD_DATA_DIR; ./tuneyard-data)",
    )


def _hyperparameters(args: argparse.Namespace) -> Hyperparameters:
    raw: dict[str, Any] = {}
    for field in _HP_FIELDS:
        value = getattr(args, f"hp_{field.name}")
        if value is None:
            continue
        kind = type(getattr(Hyperparameters(), field.name))
        if value == "auto" and field.name in AUTO_FIELDS:
            raw[field.name] = value
            continue
        try:
            raw[field.name] = tuple(value.split(",")) if kind is tuple else kind(value)
        except ValueError:
            raise errors.InvalidRequest(f"--{field.name.replace('_', '-')}: {value!r}") from None
    return hyperparameters_of(raw)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Estimate; print it; 0 when the job may run, 1 when it may not."""
    service = runtime.build(settings).service
    model = service.models.get(args.model)
    classify = args.objective == "classification"
    task_type = TaskType.CLASSIFICATION if classify else model.default_task_type()
    objective = Objective.SFT if classify else Objective(args.objective)
    spec = JobSpec(
        workspace_id="local",
        display_name="",
        base_model=model.name,
        task_type=task_type,
        method=Method(args.method),
        hyperparameters=_hyperparameters(args),
        dialect="native",
        objective=objective,
    )
    fmt, problem = choice.format_for_job(
        args.file, args.file.name, dialect="native", objective=objective
    )
    if problem is not None:
        raise errors.InvalidRequest(problem)
    check = checks.check_dataset(
        args.file,
        filename=args.file.name,
        fmt=fmt,
        task_type=task_type,
        model=model,
        counters=service.ports.counters,
        limits=dataclasses.replace(service.limits, min_rows=1, max_issues=1),
    )
    if not check.ok and check.report.first is not None:
        raise errors.InvalidRequest(f"{args.file}: {check.report.first.describe()}")
    calibrated = service.estimates.sizing.machine if service.estimates.sizing else None
    if isinstance(calibrated, calibration.Calibration) and calibrated.cached() is None:
        print(
            "measuring this machine for the estimate (once, then cached): about 40 s",
            file=sys.stderr,
            flush=True,
        )
    found = service.estimates.of_check(check, model, spec)
    if found is None:
        raise errors.UnsupportedFeature(
            f"no estimate: {check.profile_skipped or 'the model has no fast tokenizer'}"
        )
    refusal = service.estimates.refusal(found)
    if args.json:
        print(json.dumps({**found.to_dict(), "refused": refusal}, indent=2))
    else:
        print(f"{args.file}: {model.name} {spec.method.value} {args.objective}")
        print(f"peak memory   {found.peak_memory_bytes / 2**20:,.0f} MiB ({found.device})")
        print(f"available     {found.memory_available_bytes / 2**20:,.0f} MiB")
        print(f"training loop {found.train_seconds:,.0f} s ({found.steps} steps)")
        print(f"whole job     {found.job_seconds:,.0f} s")
        print(f"tokens        {found.tokens:,}")
        print(f"parameters    {found.parameters:,} ({found.trainable_parameters:,} trainable)")
        print("fits: yes" if refusal is None else f"refused: {refusal}")
    return 0 if refusal is None else 1
