"""Settings: the only place that reads the environment. Every flag has a TUNEYARD_* twin.

Built once in the entry point (`Settings.load`) and passed down; nothing reads
`os.environ` anywhere else.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tuneyard import errors

__all__ = ["ROLES", "Settings"]

ROLES = ("all", "api", "scheduler")
"""What a `tuneyard serve` replica may run (`Settings.role`)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """Service configuration; flags override environment variables, which override defaults."""

    host: str = "127.0.0.1"
    """Address to listen on (TUNEYARD_HOST)."""
    port: int = 8000
    """Port to listen on (TUNEYARD_PORT)."""
    data_dir: Path = Path("tuneyard-data")
    """Database, uploaded files, job outputs and built models (TUNEYARD_DATA_DIR)."""
    database_url: str | None = None
    """SQLAlchemy URL; default SQLite at <data-dir>/tuneyard.db (TUNEYARD_DATABASE_URL)."""
    database_pool_size: int = 40
    """Database connections this process keeps open (plus up to 10 opened for a burst and
    closed after it): a busy API replica uses about one per request in flight, up to
    AnyIO's 40 worker threads; a scheduler-only replica a handful. On PostgreSQL the
    replicas' pools together must fit the server's `max_connections`
    (TUNEYARD_DATABASE_POOL_SIZE)."""
    max_running_jobs: int = 1
    """Jobs training at once; the rest wait in a FIFO queue (TUNEYARD_MAX_RUNNING_JOBS)."""
    max_active_jobs: int = 20
    """Jobs a workspace may have queued or running at once; more is refused (429
    Throttling in DashScope) until one finishes; 0: no limit (TUNEYARD_MAX_ACTIVE_JOBS)."""
    max_job_seconds: float = 0.0
    """Longest estimated whole-job time accepted; a job estimated over it is refused at
    create, or fails at validation (estimate.exceeded); 0: no limit (TUNEYARD_MAX_JOB_SECONDS)."""
    max_job_memory: int = 0
    """Largest estimated peak memory (bytes) accepted, below the worker's share of the
    machine; refused as --max-job-seconds is; 0: the machine's share alone
    (TUNEYARD_MAX_JOB_MEMORY)."""
    max_dataset_bytes: int = 1_000_000_000
    """Largest dataset file accepted; an upload request's body stops being received past it
    plus the multipart framing (413 file.size) (TUNEYARD_MAX_DATASET_BYTES)."""
    max_json_bytes: int = 1_048_576
    """Largest JSON (any non-upload) request body; more is refused with 413 before it is
    read (TUNEYARD_MAX_JSON_BYTES)."""
    max_upload_files: int = 10
    """Most file parts one upload request may carry; more is refused with 400
    (TUNEYARD_MAX_UPLOAD_FILES)."""
    max_streams_per_workspace: int = 4
    """Event streams a workspace may hold open at once; more is refused with 429
    (TUNEYARD_MAX_STREAMS_PER_WORKSPACE)."""
    stream_idle_seconds: float = 300.0
    """An event stream that has had no new event for this long ends
    (TUNEYARD_STREAM_IDLE_SECONDS)."""
    min_dataset_rows: int = 100
    """Fewest data rows a CLOVA dataset may have (TUNEYARD_MIN_DATASET_ROWS)."""
    object_storage_endpoint: str | None = None
    """S3-compatible endpoint for CLOVA's Object Storage dataset fields
    (TUNEYARD_OBJECT_STORAGE_ENDPOINT); unset means <data-dir>/object-storage/<bucket>/<path>."""
    executor: str = "local"
    """Where training workers run: local subprocesses, or ray actors on a Ray cluster
    (TUNEYARD_EXECUTOR; ray needs `pip install 'tuneyard[ray]'`)."""
    ray_address: str | None = None
    """The Ray cluster for `executor = ray`, as `ray.init` takes it (`HOST:PORT`,
    `ray://HOST:10001`); unset: the cluster this machine belongs to (TUNEYARD_RAY_ADDRESS)."""
    bucket: str | None = None
    """Bucket at --object-storage-endpoint that holds every byte of the jobs: uploaded
    datasets, checkpoints, tuned models and exports, so a worker on another node needs no
    share of the data dir, which keeps a cache (TUNEYARD_BUCKET)."""
    object_storage_prefix: str = ""
    """Prefix of every key tuneyard writes in --bucket (TUNEYARD_OBJECT_STORAGE_PREFIX)."""
    object_storage_access_key: str | None = dataclasses.field(default=None, repr=False)
    """Access key for --bucket (TUNEYARD_OBJECT_STORAGE_ACCESS_KEY only; else boto3's own
    AWS_* variables); passed on to workers, never printed."""
    object_storage_secret_key: str | None = dataclasses.field(default=None, repr=False)
    """Secret key for --bucket (TUNEYARD_OBJECT_STORAGE_SECRET_KEY only); never printed."""
    worker_scratch_dir: Path | None = None
    """With --bucket: local workers train in <dir>/jobs/<job id>, taking their inputs from
    and putting their results into the bucket, as a worker on another node does
    (TUNEYARD_WORKER_SCRATCH_DIR); unset: in the job's folder in the data dir."""
    role: str = "all"
    """What this replica runs (TUNEYARD_ROLE): "api" serves HTTP (and inference) but never
    starts a training worker; "scheduler" runs the scheduler (validates, claims, trains,
    reaps lapsed leases) and serves only /healthz and /metrics; "all" both. Any number of
    replicas of each may share one database."""
    lease_seconds: float = 15.0
    """How long a running job's lease lasts without a heartbeat (TUNEYARD_LEASE_SECONDS)."""
    inference_threads: int = 1
    """CPU threads the inference worker may use, so that serving and training do not
    starve each other (TUNEYARD_INFERENCE_THREADS)."""
    max_loaded_adapters: int = 8
    """Adapters the inference worker keeps loaded; past it the least recently used one is
    evicted and reloaded when asked for again (TUNEYARD_MAX_LOADED_ADAPTERS)."""
    inference_slots: int = 64
    """Sequences the inference engine decodes at once (its batch), and so the concurrent
    decoding slots deployments may reserve together: a deployment's `capacity` comes out
    of these, and more than are free is refused (TUNEYARD_INFERENCE_SLOTS)."""
    max_queued_requests: int = 64
    """Inference requests outstanding at once; more is refused with 429 and Retry-After
    (TUNEYARD_MAX_QUEUED_REQUESTS)."""
    inference_idle_seconds: float = 300.0
    """The inference worker stops after this long without a request and starts again on
    the next (TUNEYARD_INFERENCE_IDLE_SECONDS)."""
    log_level: str = "info"
    """Log level of the server (TUNEYARD_LOG_LEVEL)."""
    log_format: str = "text"
    """Server log lines: "text" for people, or "json": one JSON object a line, with an
    access line per request carrying its request id (TUNEYARD_LOG_FORMAT)."""
    metrics: bool = True
    """Serve Prometheus metrics at GET /metrics, without a key (TUNEYARD_METRICS: on|off)."""
    url: str = "http://127.0.0.1:8000"
    """The running server that client commands (`tuneyard chat`) talk to (TUNEYARD_URL)."""
    api_key: str | None = dataclasses.field(default=None, repr=False)
    """The bearer key client commands send (TUNEYARD_API_KEY); never printed."""

    @property
    def db_url(self) -> str:
        """The database URL in force."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'tuneyard.db').resolve()}"

    @property
    def key_prefix(self) -> str:
        """`object_storage_prefix` as keys use it: empty, or ending in one "/"."""
        prefix = self.object_storage_prefix.strip("/")
        return f"{prefix}/" if prefix else ""

    @property
    def object_storage_root(self) -> Path:
        """The local stand-in for Object Storage when no endpoint is configured."""
        return self.data_dir.resolve() / "object-storage"

    @classmethod
    def load(
        cls, overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> Settings:
        """Defaults, then TUNEYARD_* variables, then non-None `overrides`; all checked at once."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        problems: list[str] = []
        for field in dataclasses.fields(cls):
            raw = env.get(f"TUNEYARD_{field.name.upper()}")
            if raw is not None and raw != "":
                try:
                    values[field.name] = _convert(field.type, raw)
                except ValueError:
                    problems.append(f"TUNEYARD_{field.name.upper()}={raw!r} is not valid")
        for name, value in (overrides or {}).items():
            if value is not None:
                values[name] = value
        for name in ("data_dir", "worker_scratch_dir"):
            if name in values:
                values[name] = Path(values[name])
        settings = cls(**values)
        problems += settings.problems()
        if problems:
            raise errors.InvalidRequest("; ".join(problems))
        return settings

    def problems(self) -> list[str]:
        """Every invalid value."""
        found = []
        if not 0 < self.port < 65536:
            found.append("port must be between 1 and 65535")
        if self.max_running_jobs < 1:
            found.append("max-running-jobs must be at least 1")
        if not 1 <= self.database_pool_size <= 1000:
            found.append("database-pool-size must be between 1 and 1000")
        if self.max_active_jobs < 0:
            found.append("max-active-jobs must be 0 (no limit) or more")
        if not self.max_job_seconds >= 0:
            found.append("max-job-seconds must be 0 (no limit) or more")
        if self.max_job_memory < 0:
            found.append("max-job-memory must be 0 (no limit) or more")
        if self.max_dataset_bytes < 1:
            found.append("max-dataset-bytes must be positive")
        if self.max_json_bytes < 1024:
            found.append("max-json-bytes must be at least 1024")
        if self.max_upload_files < 1:
            found.append("max-upload-files must be at least 1")
        if self.max_streams_per_workspace < 1:
            found.append("max-streams-per-workspace must be at least 1")
        if not self.stream_idle_seconds > 0:
            found.append("stream-idle-seconds must be positive")
        if self.min_dataset_rows < 1:
            found.append("min-dataset-rows must be at least 1")
        if self.bucket and not self.object_storage_endpoint:
            found.append("bucket needs object-storage-endpoint (the S3-compatible store it is in)")
        if self.worker_scratch_dir is not None and not self.bucket:
            found.append("worker-scratch-dir needs bucket (workers away from the data dir read it)")
        if self.role not in ROLES:
            found.append(f"role must be one of {', '.join(ROLES)}")
        if self.lease_seconds < 1:
            found.append("lease-seconds must be at least 1")
        if not 1 <= self.inference_threads <= 1024:
            found.append("inference-threads must be between 1 and 1024")
        if self.max_loaded_adapters < 1:
            found.append("max-loaded-adapters must be at least 1")
        if not 1 <= self.inference_slots <= 4096:
            found.append("inference-slots must be between 1 and 4096")
        if self.max_queued_requests < 1:
            found.append("max-queued-requests must be at least 1")
        if not self.inference_idle_seconds > 0:
            found.append("inference-idle-seconds must be positive")
        if self.log_level not in ("critical", "error", "warning", "info", "debug"):
            found.append("log-level must be one of critical, error, warning, info, debug")
        if self.executor not in ("local", "ray"):
            found.append("executor must be local or ray")
        if self.ray_address and self.executor != "ray":
            found.append("ray-address needs executor ray")
        if self.log_format not in ("text", "json"):
            found.append("log-format must be text or json")
        return found


def _convert(kind: Any, raw: str) -> Any:
    text = str(kind)
    if text == "bool":
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(raw)
    if "int" in text:
        return int(raw)
    if "float" in text:
        return float(raw)
    if "Path" in text:
        return Path(raw)
    return raw
