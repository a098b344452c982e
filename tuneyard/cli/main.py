"""`tuneyard serve | keys create | models list | validate | chat …`: parsing and the CLI's
error edge."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any

from tuneyard import __version__, errors, logs, runtime
from tuneyard.cli import buckets, chat, estimate, files, validate
from tuneyard.core.meter import NO_METER
from tuneyard.core.ports import Executor
from tuneyard.settings import ROLES, Settings

__all__ = ["main"]


def _data_dir_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        help="database, files, job outputs and built models (env TUNEYARD_DATA_DIR; "
        "default ./tuneyard-data)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tuneyard", description="Self-hosted LLM fine-tuning that speaks the vendors' APIs."
    )
    parser.add_argument("--version", action="version", version=f"tuneyard {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the API server, the scheduler and workers")
    serve.add_argument("--host", help="address to listen on (env TUNEYARD_HOST; 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (env TUNEYARD_PORT; default 8000)")
    _data_dir_flag(serve)
    serve.add_argument(
        "--max-running-jobs",
        type=int,
        help="jobs that train at once; the rest queue FIFO (env TUNEYARD_MAX_RUNNING_JOBS; 1)",
    )
    serve.add_argument(
        "--max-active-jobs",
        type=int,
        help="jobs a workspace may have waiting or running at once; more are refused until "
        "one finishes, 0: no limit (env TUNEYARD_MAX_ACTIVE_JOBS; 20)",
    )
    serve.add_argument(
        "--max-job-seconds",
        type=float,
        help="refuse a job whose estimated whole-job time is over this: 400 at create, or "
        "FAILED estimate.exceeded at validation; 0: no limit (env TUNEYARD_MAX_JOB_SECONDS; 0)",
    )
    serve.add_argument(
        "--max-job-memory",
        type=int,
        help="refuse a job whose estimated peak memory (bytes) is over this, as "
        "--max-job-seconds does; 0: the worker's share of the machine (memory / "
        "--max-running-jobs) alone (env TUNEYARD_MAX_JOB_MEMORY; 0)",
    )
    serve.add_argument(
        "--database-url",
        help="SQLAlchemy URL (env TUNEYARD_DATABASE_URL; default SQLite in the data dir)",
    )
    serve.add_argument(
        "--database-pool-size",
        type=int,
        help="database connections kept open, plus up to 10 for a burst; on PostgreSQL all "
        "replicas' pools together must fit max_connections (env "
        "TUNEYARD_DATABASE_POOL_SIZE; default 40)",
    )
    serve.add_argument(
        "--max-dataset-bytes",
        type=int,
        help="largest dataset file; an upload's body stops being received past it plus the "
        "multipart framing (64 KiB + 4 KiB a file part): 413 file.size (env "
        "TUNEYARD_MAX_DATASET_BYTES; default 1000000000)",
    )
    serve.add_argument(
        "--max-json-bytes",
        type=int,
        help="largest JSON (non-upload) request body; more is 413 before it is read, before "
        "the key is checked (env TUNEYARD_MAX_JSON_BYTES; default 1048576)",
    )
    serve.add_argument(
        "--max-upload-files",
        type=int,
        help="most file parts in one upload request; more is 400 (env "
        "TUNEYARD_MAX_UPLOAD_FILES; default 10)",
    )
    serve.add_argument(
        "--max-streams-per-workspace",
        type=int,
        help="DashScope event streams a workspace may hold open at once; more is 429 (env "
        "TUNEYARD_MAX_STREAMS_PER_WORKSPACE; default 4)",
    )
    serve.add_argument(
        "--stream-idle-seconds",
        type=float,
        help="an event stream with no new event for this long ends (env "
        "TUNEYARD_STREAM_IDLE_SECONDS; default 300)",
    )
    serve.add_argument(
        "--inference-threads",
        type=int,
        help="CPU threads the inference worker may use (env TUNEYARD_INFERENCE_THREADS; 1)",
    )
    serve.add_argument(
        "--max-loaded-adapters",
        type=int,
        help="adapters the inference worker keeps loaded, least recently used evicted past "
        "it (env TUNEYARD_MAX_LOADED_ADAPTERS; default 8)",
    )
    serve.add_argument(
        "--inference-slots",
        type=int,
        help="sequences the inference engine decodes at once, which deployments reserve "
        "their capacity from (env TUNEYARD_INFERENCE_SLOTS; default 64)",
    )
    serve.add_argument(
        "--max-queued-requests",
        type=int,
        help="chat/classify requests outstanding at once; more is 429 with Retry-After (env "
        "TUNEYARD_MAX_QUEUED_REQUESTS; default 64)",
    )
    serve.add_argument(
        "--inference-idle-seconds",
        type=float,
        help="the inference worker stops after this long without a request and starts "
        "again on the next (env TUNEYARD_INFERENCE_IDLE_SECONDS; default 300)",
    )
    serve.add_argument(
        "--object-storage-endpoint",
        help="S3-compatible endpoint for CLOVA Object Storage and Qianfan BOS datasets (env "
        "TUNEYARD_OBJECT_STORAGE_ENDPOINT; default: <data-dir>/object-storage/<bucket>/<path>, "
        "a bucket made with `tuneyard buckets create`)",
    )
    serve.add_argument(
        "--bucket",
        help="with --object-storage-endpoint: a bucket there that holds every byte of the "
        "jobs (uploaded datasets, checkpoints, tuned models, exports), so workers on other "
        "nodes need no share of the data dir, which keeps a cache; keys from env "
        "TUNEYARD_OBJECT_STORAGE_ACCESS_KEY / TUNEYARD_OBJECT_STORAGE_SECRET_KEY or the "
        "AWS_* variables (env TUNEYARD_BUCKET; default: none, all on local disk)",
    )
    serve.add_argument(
        "--object-storage-prefix",
        help="prefix of every key written in --bucket (env TUNEYARD_OBJECT_STORAGE_PREFIX)",
    )
    serve.add_argument(
        "--worker-scratch-dir",
        help="with --bucket: local workers train in DIR/jobs/<job id> and read and write "
        "the bucket, as a worker on another node does (env TUNEYARD_WORKER_SCRATCH_DIR; "
        "default: the job's folder in the data dir)",
    )
    serve.add_argument(
        "--executor",
        choices=["local", "ray"],
        help="where workers train: local subprocesses, or actors on a Ray cluster (needs "
        "`pip install 'tuneyard[ray]'`) (env TUNEYARD_EXECUTOR; default local)",
    )
    serve.add_argument(
        "--ray-address",
        help="the Ray cluster for --executor ray: HOST:PORT of its head, or ray://HOST:10001 "
        "(env TUNEYARD_RAY_ADDRESS; default: the cluster this machine is in)",
    )
    serve.add_argument(
        "--role",
        choices=list(ROLES),
        help="what this replica runs: api (HTTP and inference, never a training worker), "
        "scheduler (validates, claims and trains jobs, takes over those whose lease lapsed; "
        "serves only /healthz and /metrics), or all; replicas share one --database-url "
        "(env TUNEYARD_ROLE; default all)",
    )
    serve.add_argument(
        "--lease-seconds",
        type=float,
        help="a running job's lease: its scheduler renews it every third of this; a job "
        "whose scheduler died is taken over once it lapses (env TUNEYARD_LEASE_SECONDS; "
        "default 15)",
    )
    serve.add_argument(
        "--log-level",
        choices=["critical", "error", "warning", "info", "debug"],
        help="env TUNEYARD_LOG_LEVEL; default info",
    )
    serve.add_argument(
        "--log-format",
        choices=["text", "json"],
        help="text, or json: one JSON object a line (time, level, logger, message), with an "
        "access line per request (method, path, status, duration_ms, dialect, request_id) "
        "(env TUNEYARD_LOG_FORMAT; default text)",
    )
    serve.add_argument(
        "--metrics",
        action=argparse.BooleanOptionalAction,
        help="serve Prometheus metrics at GET /metrics, no key needed (env TUNEYARD_METRICS "
        "on|off; default on)",
    )

    keys = commands.add_parser("keys", help="manage API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = key_commands.add_parser(
        "create",
        help="create a key; prints it as the only line on stdout (shown once): the bearer "
        "key, or with --kind aksk the pair as `AK SK`",
    )
    create.add_argument(
        "--kind",
        choices=["bearer", "aksk"],
        default="bearer",
        help="bearer (Authorization: Bearer …, default) or aksk (an access key ID and secret "
        "key for bce-auth-v1 signatures, Qianfan); the secret key is stored encrypted",
    )
    create.add_argument(
        "--workspace",
        action="append",
        help="workspace the key works in (default: default); repeat for more: the first is "
        "its own, the others it may name (DashScope's X-DashScope-WorkSpace header)",
    )
    create.add_argument(
        "--account",
        help="main account the key acts for (DashScope user_identity; default: the workspace)",
    )
    create.add_argument(
        "--subaccount",
        help="sub-account of --account that acts with the key (DashScope creator/modifier)",
    )
    _data_dir_flag(create)

    models = commands.add_parser("models", help="base models")
    model_commands = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    listing = model_commands.add_parser("list", help="list the base models jobs can name")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    _data_dir_flag(listing)

    jobs = commands.add_parser("jobs", help="a job's checkpoints and exports")
    job_commands = jobs.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")
    listed = job_commands.add_parser(
        "checkpoints", help="list a job's checkpoints (step, epoch, losses, path) as JSON"
    )
    listed.add_argument("job_id", help="the job's id")
    _data_dir_flag(listed)
    exporting = job_commands.add_parser(
        "export",
        help="write a job's final model or a checkpoint as a Hugging Face directory; "
        "prints its path",
    )
    exporting.add_argument("job_id", help="the job's id")
    exporting.add_argument(
        "--step", type=int, help="the checkpoint's step (default: the final model)"
    )
    exporting.add_argument(
        "--merged",
        action="store_true",
        help="merge a LoRA adapter into its base weights (a whole model, no PEFT needed)",
    )
    _data_dir_flag(exporting)

    validate.add_parser(commands)
    estimate.add_parser(commands)
    files.add_parser(commands)
    buckets.add_parser(commands)
    chat.add_parser(commands)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    names = (
        "host",
        "port",
        "data_dir",
        "max_running_jobs",
        "max_active_jobs",
        "max_job_seconds",
        "max_job_memory",
        "database_url",
        "database_pool_size",
        "max_dataset_bytes",
        "max_json_bytes",
        "max_upload_files",
        "max_streams_per_workspace",
        "stream_idle_seconds",
        "inference_threads",
        "max_loaded_adapters",
        "inference_slots",
        "max_queued_requests",
        "inference_idle_seconds",
        "object_storage_endpoint",
        "bucket",
        "object_storage_prefix",
        "worker_scratch_dir",
        "executor",
        "ray_address",
        "log_level",
        "role",
        "lease_seconds",
        "log_format",
        "metrics",
        "url",
        "api_key",
    )
    return Settings.load({name: getattr(args, name, None) for name in names})


def _serve(settings: Settings, executor: Executor | None = None) -> int:
    """`serve --role all|api|scheduler`: the API (with inference) unless `scheduler`, the
    scheduler and its workers unless `api` (a scheduler-only replica serves /healthz and
    /metrics alone)."""
    import uvicorn
    from fastapi import FastAPI

    from tuneyard.api import inference, probe
    from tuneyard.api.app import create_app
    from tuneyard.api.metrics import Metrics

    logs.setup(settings)
    metrics = Metrics() if settings.metrics else None
    live = runtime.build(settings, executor=executor, meter=metrics or NO_METER)
    live.service.estimates.warm()  # calibrate this machine in the background (cached)
    schedules = settings.role != "api"
    engine = None
    app: FastAPI
    if settings.role == "scheduler":
        app = probe.create_probe_app(
            live.scheduler.owner, live.scheduler.running_jobs, metrics=metrics
        )
    else:
        engine = inference.worker_client(settings)  # started by the first chat request
        app = create_app(settings, live.service, inference=engine, metrics=metrics)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            lifespan="on",  # its shutdown stops the inference worker cleanly
            **logs.uvicorn_options(settings),
        )
    )
    # uvicorn shuts HTTP down gracefully, then re-raises the signal it caught: make SIGTERM
    # (systemd, docker stop) take the same path as Ctrl-C so the workers are always stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    if schedules:
        live.scheduler.start()
    logging.getLogger("tuneyard").info(
        "tuneyard %s serving on http://%s:%d (role %s%s, data dir %s)",
        __version__,
        settings.host,
        settings.port,
        settings.role,
        f", scheduler {live.scheduler.owner}" if schedules else "",
        settings.data_dir.resolve(),
    )
    # Everything built so far lives as long as the process: moved out of the collector's
    # reach, a full collection scans only what requests made since (measured: 50 ms of a
    # stalled event loop per full collection before, under 0.1 ms after; p99 of GETs)
    gc.collect()
    gc.freeze()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        if schedules:
            logging.getLogger("tuneyard").info("stopping workers; running jobs will run again")
            live.scheduler.stop()
        if engine is not None:
            engine.kill()  # if the lifespan could not stop it (a second Ctrl-C)
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _models(settings: Settings, as_json: bool) -> int:
    from tuneyard.basemodels import catalog

    models = catalog.load(settings.data_dir).all()
    rows: list[dict[str, Any]] = [
        {
            "name": m.name,
            "task_types": [t.value.upper() for t in m.task_types],
            "source": m.source,
            "description": m.description,
        }
        for m in models
    ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["name"]) for r in rows)
    for row in rows:
        kinds = ",".join(row["task_types"])
        print(f"{row['name']:<{width}}  {kinds:<14}  {row['description']}")
    return 0


def _jobs(settings: Settings, args: argparse.Namespace) -> int:
    """`jobs checkpoints` / `jobs export`: the operator's view, any workspace."""
    service = runtime.build(settings).service
    job = service.ports.jobs.get(args.job_id)
    if job is None or job.deleted:
        raise errors.JobNotFound(f"job {args.job_id} not found")
    if args.jobs_command == "checkpoints":
        found = service.weights.checkpoints(job.workspace_id, job.id)
        print(json.dumps([c.to_dict() for c in found], indent=2))
        return 0
    exported = service.weights.export(job.workspace_id, job.id, step=args.step, merged=args.merged)
    print(exported.path)
    return 0


def main(argv: Sequence[str] | None = None, *, executor: Executor | None = None) -> int:
    """Run the CLI; domain errors become one line on stderr and exit status 2. `executor`
    replaces the one `serve` would build from the settings (for embedding and tests)."""
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
        if args.command == "serve":
            return _serve(settings, executor)
        if args.command == "validate":
            return validate.run(args, settings)
        if args.command == "estimate":
            return estimate.run(args, settings)
        if args.command == "keys":
            live = runtime.build(settings)
            first, *others = args.workspace or ["default"]
            owner = {"account": args.account, "subaccount": args.subaccount, "workspaces": others}
            if args.kind == "aksk":
                print(" ".join(live.service.credentials.create_access_key(first, **owner)))
            else:
                print(live.service.credentials.create_key(first, **owner))
            return 0
        if args.command == "jobs":
            return _jobs(settings, args)
        if args.command == "files":
            return files.run(args, settings)
        if args.command == "buckets":
            return buckets.run(args, settings)
        if args.command == "chat":
            return chat.run(args, settings)
        return _models(settings, args.json)
    except errors.TuneyardError as exc:
        print(f"tuneyard: error: {exc.message}", file=sys.stderr)
        return 2
