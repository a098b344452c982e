"""A tuneyard runtime for tests: memory or SQLite repositories, real files, a fake executor."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support import postgres
from tuneyard import runtime
from tuneyard.basemodels import catalog, counting
from tuneyard.core.jobs import Hyperparameters, Job, JobSpec, Progress, TrainingSpec
from tuneyard.core.ports import Executor, Ports
from tuneyard.core.service import Service
from tuneyard.core.states import JobStatus
from tuneyard.datasets.report import Limits
from tuneyard.kinds import Method, TaskType
from tuneyard.scheduler.executors.fake import successful_run
from tuneyard.scheduler.export import CopyExporter
from tuneyard.scheduler.scheduler import Scheduler
from tuneyard.storage import (
    blobs,
    database,
    memory,
    memory_deployments,
    memory_published,
    objects,
    secrets,
    sql,
    sql_deployments,
    sql_published,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class ManualClock:
    """A clock tests move by hand."""

    def __init__(self) -> None:
        self.current = dt.datetime(2026, 11, 23, 4, 7, 6, tzinfo=dt.UTC)

    def now(self) -> dt.datetime:
        """The current fake time."""
        return self.current

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.current += dt.timedelta(seconds=seconds)


def make_ports(backend: str, root: Path, clock: object | None = None) -> Ports:
    """Ports over the memory fakes, a fresh SQLite database under `root`, or ("postgres")
    a fresh database on the session's PostgreSQL server (tests/support/postgres.py)."""
    clock = clock or ManualClock()
    if backend == "memory":
        repos: tuple[object, ...] = (
            memory.MemoryJobs(),
            memory.MemoryFiles(),
            memory.MemoryKeys(),
            memory.MemoryEvents(),
            memory.MemoryGroups(),
            memory.MemoryBuckets(),
        )
        deployments: object = memory_deployments.MemoryDeployments()
        published: object = memory_published.MemoryPublished()
    else:
        if backend == "postgres":  # migrated already: a copy of the migrated template
            engine = postgres.fresh_engine()
        else:
            engine = database.connect(f"sqlite:///{root / 'test.db'}")
            database.migrate(engine)
        repos = (
            sql.SqlJobs(engine),
            sql.SqlFiles(engine),
            sql.SqlKeys(engine),
            sql.SqlEvents(engine),
            sql.SqlGroups(engine),
            sql.SqlBuckets(engine),
        )
        deployments = sql_deployments.SqlDeployments(engine)
        published = sql_published.SqlPublished(engine)
    jobs, files, keys, events, groups, buckets = repos
    sealer = secrets.FernetSealer(root / "secret.key")
    return Ports(
        jobs=jobs,  # type: ignore[arg-type]
        files=files,  # type: ignore[arg-type]
        keys=keys,  # type: ignore[arg-type]
        events=events,  # type: ignore[arg-type]
        blobs=blobs.LocalBlobStore(root / "blobs"),
        objects=objects.LocalObjectStorage(
            root / "object-storage",
            buckets=buckets,  # type: ignore[arg-type]
            sealer=sealer,
        ),
        catalog=catalog.load(root),
        clock=clock,  # type: ignore[arg-type]
        counters=counting.Counters(),
        exporter=CopyExporter(),
        sealer=sealer,
        groups=groups,  # type: ignore[arg-type]
        buckets=buckets,  # type: ignore[arg-type]
        deployments=deployments,  # type: ignore[arg-type]
        published=published,  # type: ignore[arg-type]
        inline_reads=backend != "postgres",
    )


def job_record(ports: Ports, job_id: str, workspace: str = "ws", **changes: object) -> Job:
    """A CREATED tiny-chat LoRA job record (for repository tests), with `changes` applied."""
    now = ports.clock.now()
    job = Job(
        id=job_id,
        workspace_id=workspace,
        display_name="n",
        base_model="tiny-chat",
        task_type=TaskType.GENERATION,
        method=Method.LORA,
        training_file_id="file-1",
        hyperparameters=Hyperparameters(),
        dialect="clova",
        created_via="API",
        status=JobStatus.CREATED,
        progress=Progress(),
        created_at=now,
        updated_at=now,
    )
    return dataclasses.replace(job, **changes)  # type: ignore[arg-type]


def run_with_checkpoints(spec: TrainingSpec) -> list[dict[str, Any]]:
    """A successful run that also leaves its weights on disk: checkpoints 2 and 4, output."""
    events = successful_run(spec)
    written = []
    for step in (2, 4):
        path = Path(spec.work_dir) / "checkpoints" / f"step-{step:08d}"
        path.mkdir(parents=True)
        (path / "adapter_config.json").write_text("{}")
        written.append({"event": "checkpoint", "step": step, "epoch": step // 2, "path": str(path)})
    Path(spec.output_dir).mkdir(parents=True)
    (Path(spec.output_dir) / "adapter_config.json").write_text("{}")
    return [*events[:-2], *written, *events[-2:]]


class World:
    """Service, lifecycle and scheduler over one set of ports."""

    def __init__(
        self,
        ports: Ports,
        root: Path,
        executor: Executor,
        *,
        max_running: int = 1,
        min_rows: int = 100,
        max_bytes: int = 10_000_000,
        max_active: int = 0,
    ) -> None:
        self.ports = ports
        self.root = root
        limits = Limits(max_bytes=max_bytes, min_rows=min_rows)
        self.service = Service(ports, data_dir=root, limits=limits, max_active_jobs=max_active)
        self.lifecycle = runtime.lifecycle_of(self.service)
        self.scheduler = Scheduler(
            self.lifecycle,
            executor,
            max_running=max_running,
            lease_seconds=15,
            poll_seconds=0.05,
        )

    def spec(self, workspace: str = "ws", **changes: object) -> JobSpec:
        """A CLOVA-style generation spec on tiny-chat."""
        fields: dict[str, object] = dict(
            workspace_id=workspace,
            display_name="job",
            base_model="tiny-chat",
            task_type=TaskType.GENERATION,
            method=Method.LORA,
            hyperparameters=Hyperparameters(n_epochs=2),
            dialect="clova",
        )
        fields.update(changes)
        return JobSpec(**fields)  # type: ignore[arg-type]

    def submit_sample(self, workspace: str = "ws") -> Job:
        """Upload the sample generation CSV and create a job on it."""
        from tuneyard.core.submission import UploadSource

        data = (EXAMPLES / "clova-generation.csv").read_bytes()
        clock = self.ports.clock
        if isinstance(clock, ManualClock):
            clock.advance(1)  # distinct creation times, as real submissions have
        return self.service.submission.submit(
            self.spec(workspace), UploadSource(filename="train.csv", chunks=[data])
        )

    def make_bucket(
        self, name: str, objects: dict[str, bytes], *, workspace: str = "ws"
    ) -> tuple[str, str]:
        """Create a bucket owned by `workspace` with these objects in the local store; its
        (access key, secret key)."""
        pair = self.service.buckets.create(workspace, name)
        for path, data in objects.items():
            target = self.root / "object-storage" / name / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return pair

    def wait_for(self, job_id: str, done: Callable[[Job], bool], *, timeout: float = 10.0) -> Job:
        """Tick the scheduler until `done(job)` holds."""
        deadline = time.monotonic() + timeout
        while True:
            self.scheduler.tick()
            job = self.ports.jobs.get(job_id)
            assert job is not None
            if done(job):
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job stuck in {job.status}: {job}")
            time.sleep(0.02)

    def wait_status(self, job_id: str, status: JobStatus, timeout: float = 10.0) -> Job:
        """Tick until the job reaches `status`."""
        return self.wait_for(job_id, lambda j: j.status is status, timeout=timeout)
