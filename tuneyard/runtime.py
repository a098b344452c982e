"""The composition root: builds the ports, service and scheduler from Settings, once."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from tuneyard import calibration
from tuneyard.basemodels import catalog, counting, shapes
from tuneyard.core import dtype
from tuneyard.core.artifacts import LocalArtifacts
from tuneyard.core.estimates import Policy, Sizing
from tuneyard.core.ids import SystemClock
from tuneyard.core.jobs import StorageRef
from tuneyard.core.lifecycle import Lifecycle
from tuneyard.core.meter import NO_METER, Meter
from tuneyard.core.ports import (
    Artifacts,
    BlobStore,
    BucketRepository,
    Executor,
    ObjectStorage,
    Ports,
    Sealer,
)
from tuneyard.core.service import Service
from tuneyard.core.validation import Validation
from tuneyard.datasets.report import Limits
from tuneyard.scheduler.executors import scratch
from tuneyard.scheduler.executors.local import LocalExecutor
from tuneyard.scheduler.export import SubprocessExporter
from tuneyard.scheduler.scheduler import Scheduler
from tuneyard.settings import Settings
from tuneyard.storage import (
    artifacts,
    blobs,
    database,
    objects,
    s3,
    s3blobs,
    secrets,
    sql,
    sql_deployments,
    sql_published,
)

__all__ = [
    "Runtime",
    "build",
    "byte_stores",
    "executor_of",
    "lifecycle_of",
    "private_dir",
    "sizing_of",
]


@dataclasses.dataclass(frozen=True, slots=True)
class Runtime:
    """The live parts of one tuneyard process."""

    settings: Settings
    service: Service
    lifecycle: Lifecycle
    scheduler: Scheduler


def object_storage(settings: Settings, buckets: BucketRepository, sealer: Sealer) -> ObjectStorage:
    """S3-compatible when an endpoint is configured, else the local stand-in folder (which
    opens a bucket only with the key pair recorded for it)."""
    if settings.object_storage_endpoint:
        return objects.S3ObjectStorage(settings.object_storage_endpoint)
    return objects.LocalObjectStorage(settings.object_storage_root, buckets=buckets, sealer=sealer)


def executor_of(settings: Settings) -> Executor:
    """Local subprocesses, or Ray actors (`--executor ray`; Ray is imported only then)."""
    if settings.executor == "ray":
        from tuneyard.scheduler.executors import ray

        return ray.RayExecutor(settings.ray_address)
    if settings.worker_scratch_dir is not None:  # as a worker on another node would
        return scratch.ScratchExecutor(settings.worker_scratch_dir, LocalExecutor())
    return LocalExecutor()


def lifecycle_of(service: Service) -> Lifecycle:
    """The scheduler-side use-cases over the same ports and collaborators as `service`."""
    validation = Validation(
        service.ports,
        transitions=service.transitions,
        models=service.models,
        limits=service.limits,
        estimates=service.estimates,
    )
    return Lifecycle(
        service.ports,
        transitions=service.transitions,
        validation=validation,
        models=service.models,
        weights=service.weights,
        dirs=service.dirs,
        uploads=service.uploads,
        events=service.events,
    )


def sizing_of(settings: Settings, data_dir: Path) -> Sizing:
    """What estimates need: this machine's calibration (cached in the data dir), the base
    models' shapes and the server's policy."""
    return Sizing(
        machine=calibration.Calibration(data_dir, shared=calibration.shared_cache()),
        shape=shapes.shape_of,
        policy=Policy(
            max_job_seconds=settings.max_job_seconds,
            max_job_memory=settings.max_job_memory,
            running_jobs=settings.max_running_jobs,
        ),
        precision_setting=os.environ.get(dtype.SETTING_ENV, "auto"),  # what workers inherit
    )


def byte_stores(settings: Settings, data_dir: Path) -> tuple[BlobStore, Artifacts]:
    """Where uploaded datasets and jobs' folders live: in --bucket (the data dir keeping a
    cache) when it and an endpoint are set, else on local disk alone."""
    if not (settings.object_storage_endpoint and settings.bucket):
        return blobs.LocalBlobStore(data_dir / "blobs"), LocalArtifacts()
    where = StorageRef(settings.object_storage_endpoint, settings.bucket, settings.key_prefix)
    client = s3.client(
        where.endpoint,
        access_key=settings.object_storage_access_key,
        secret_key=settings.object_storage_secret_key,
    )
    return (
        s3blobs.S3BlobStore(client, where, data_dir / "blobs"),
        artifacts.S3Artifacts(client, where, data_dir / "jobs"),
    )


def private_dir(path: Path, *, tighten: bool = True) -> None:
    """Create a folder only its owner may enter (0700, whatever the umask); an existing
    one is made so too unless `tighten` is False."""
    if not path.is_dir():
        path.mkdir(parents=True, mode=0o700, exist_ok=True)
    elif not tighten:
        return
    path.chmod(0o700)


def build(
    settings: Settings, *, executor: Executor | None = None, meter: Meter = NO_METER
) -> Runtime:
    """Open the database (migrating it), the blob store and the catalogue; wire the scheduler
    (reporting to `meter`)."""
    # Absolute once and for all: workers run with their job folder as working directory.
    data_dir = settings.data_dir.resolve()
    private_dir(data_dir, tighten=False)  # a folder the operator chose is left as it is
    for folder in ("blobs", "jobs"):  # tenants' datasets and outputs
        private_dir(data_dir / folder)
    engine = database.connect(settings.db_url, pool_size=settings.database_pool_size)
    database.migrate(engine)
    sealer = secrets.FernetSealer(data_dir / "secret.key")
    buckets = sql.SqlBuckets(engine)
    if settings.object_storage_endpoint and settings.bucket:  # fail now, not on an upload
        s3.check_bucket(
            settings.object_storage_endpoint,
            settings.bucket,
            access_key=settings.object_storage_access_key,
            secret_key=settings.object_storage_secret_key,
        )
    blob_store, job_store = byte_stores(settings, data_dir)
    ports = Ports(
        jobs=sql.SqlJobs(engine),
        files=sql.SqlFiles(engine),
        keys=sql.SqlKeys(engine),
        events=sql.SqlEvents(engine),
        blobs=blob_store,
        objects=object_storage(settings, buckets, sealer),
        catalog=catalog.load(data_dir),
        clock=SystemClock(),
        counters=counting.Counters(),
        exporter=SubprocessExporter(),
        sealer=sealer,
        groups=sql.SqlGroups(engine),
        buckets=buckets,
        deployments=sql_deployments.SqlDeployments(engine),
        published=sql_published.SqlPublished(engine),
        artifacts=job_store,
        inline_reads=engine.dialect.name == "sqlite",
    )
    limits = Limits(max_bytes=settings.max_dataset_bytes, min_rows=settings.min_dataset_rows)
    service = Service(
        ports,
        data_dir=data_dir,
        limits=limits,
        max_active_jobs=settings.max_active_jobs,
        inference_slots=settings.inference_slots,
        sizing=sizing_of(settings, data_dir),
    )
    lifecycle = lifecycle_of(service)
    scheduler = Scheduler(
        lifecycle,
        executor or executor_of(settings),
        max_running=settings.max_running_jobs,
        lease_seconds=settings.lease_seconds,
        meter=meter,
    )
    return Runtime(settings=settings, service=service, lifecycle=lifecycle, scheduler=scheduler)
