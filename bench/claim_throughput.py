"""Claim throughput: several scheduler replica processes claiming queued jobs from one
database, and proof that none was claimed twice.

    .venv/bin/python bench/claim_throughput.py [--databases sqlite,postgresql]
        [--jobs 10000] [--replicas 3] [--workspaces 10]

For each database (SQLite in WAL mode in a temporary folder; PostgreSQL started by the
bench itself as a non-root user, as the tests start it — `tests/support/postgres.py`):

1. `--jobs` QUEUED jobs are inserted directly (executemany), spread over `--workspaces`
   workspaces, one millisecond apart.
2. `--replicas` processes each build the real runtime on that database (as
   `tuneyard serve --role scheduler` does) and, all released at once, claim as fast as
   they can through the scheduler's own call (`Lifecycle.claim`: the repository's claim
   plus the QUEUED -> RUNNING status event), until the queue is empty.
3. jobs/s = jobs claimed ÷ (last replica done − first replica started), the per-claim
   p50/p99, the share each replica got, and double claims counted twice over: ids that
   two claims returned, and jobs with more than one QUEUED -> RUNNING event in the
   database. Both must be 0; any job left QUEUED is reported too.

`measure(url, jobs=…, replicas=…)` is the importable core (bench/scale.py calls `main`).
The last line is `double claims: N` (the total over the databases measured).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import fixtures  # noqa: E402
from tests.support import postgres  # noqa: E402
from tuneyard import runtime  # noqa: E402
from tuneyard.core.states import JobStatus  # noqa: E402
from tuneyard.settings import Settings  # noqa: E402
from tuneyard.storage import database, sql, tables  # noqa: E402

__all__ = ["Result", "main", "measure"]

_LEASE = dt.timedelta(minutes=10)


@dataclasses.dataclass(frozen=True)
class Result:
    """One database's figures."""

    database: str
    jobs: int
    claimed: int
    seconds: float
    per_replica: list[int]
    claim_p50_ms: float
    claim_p99_ms: float
    double_claims: int
    """Ids two claims returned, plus jobs with more than one QUEUED -> RUNNING event."""
    left_queued: int

    @property
    def jobs_per_s(self) -> float:
        """Claims per second over all replicas."""
        return self.claimed / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """One line for the report."""
        shares = "/".join(str(n) for n in self.per_replica)
        return (
            f"{self.database:10} {self.claimed:,} of {self.jobs:,} claimed in "
            f"{self.seconds:.1f} s: {self.jobs_per_s:,.0f} jobs/s (per replica {shares}); "
            f"claim p50 {self.claim_p50_ms:.1f} ms, p99 {self.claim_p99_ms:.1f} ms; "
            f"double claims {self.double_claims}, left queued {self.left_queued}"
        )


def _rows(count: int, workspaces: int) -> Iterator[dict[str, Any]]:
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    template = sql._row(fixtures.job("x", "w", start, status=JobStatus.QUEUED))
    for i in range(count):
        when = start + dt.timedelta(milliseconds=i)
        yield {
            **template,
            "id": f"c{i:09d}",
            "workspace_id": f"claims-{i % workspaces}",
            "created_at": when,
            "updated_at": when,
            "queued_at": when,
        }


def insert_queued(engine: sa.Engine, count: int, workspaces: int) -> None:
    """Insert `count` QUEUED jobs directly, in batches of 5,000."""
    batch: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for row in _rows(count, workspaces):
            batch.append(row)
            if len(batch) == 5000:
                conn.execute(tables.jobs.insert(), batch)
                batch = []
        if batch:
            conn.execute(tables.jobs.insert(), batch)


def _replica(
    url: str, data_dir: str, barrier: Barrier, results: Any, index: int
) -> None:  # pragma: no cover - runs in a child process
    """One scheduler replica: claim until the queue is empty; report what it claimed."""
    settings = Settings.load({"data_dir": data_dir, "database_url": url})
    live = runtime.build(settings)
    lifecycle, owner, clock = live.lifecycle, live.scheduler.owner, live.service.ports.clock
    jobs = live.service.ports.jobs
    claimed: list[str] = []
    latencies: list[float] = []
    barrier.wait()
    started = time.monotonic()
    while True:
        before = time.monotonic()
        job = lifecycle.claim(owner, clock.now() + _LEASE)
        if job is None:
            if not jobs.with_status(JobStatus.QUEUED, limit=1):
                break
            continue  # lost every race of this call: try again
        latencies.append(time.monotonic() - before)
        claimed.append(job.id)
    results.put((index, started, time.monotonic(), claimed, latencies))


def measure(
    url: str, *, jobs: int = 10_000, replicas: int = 3, workspaces: int = 10, name: str = ""
) -> Result:
    """Insert `jobs` queued jobs into the (migrated, empty) database at `url` and let
    `replicas` processes claim them all; the figures."""
    engine = database.connect(url)
    try:
        database.migrate(engine)
        insert_queued(engine, jobs, workspaces)
    finally:
        engine.dispose()
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(replicas)
    results = context.Queue()
    with tempfile.TemporaryDirectory(prefix="tuneyard-claims-") as data_dir:
        processes = [
            context.Process(target=_replica, args=(url, data_dir, barrier, results, i))
            for i in range(replicas)
        ]
        for process in processes:
            process.start()
        reports = [results.get(timeout=3600) for _ in processes]
        for process in processes:
            process.join(60)
    reports.sort()
    seconds = max(r[2] for r in reports) - min(r[1] for r in reports)
    ids = Counter(job_id for r in reports for job_id in r[3])
    latencies = sorted(x for r in reports for x in r[4])
    twice_returned = sum(n - 1 for n in ids.values() if n > 1)
    engine = database.connect(url)
    try:
        twice_logged, left = _check(engine)
    finally:
        engine.dispose()
    return Result(
        database=name or engine.dialect.name,
        jobs=jobs,
        claimed=len(ids),
        seconds=seconds,
        per_replica=[len(r[3]) for r in reports],
        claim_p50_ms=1000 * statistics.median(latencies) if latencies else 0.0,
        claim_p99_ms=1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else 0.0,
        double_claims=twice_returned + twice_logged,
        left_queued=left,
    )


def _check(engine: sa.Engine) -> tuple[int, int]:
    """(jobs with more than one QUEUED -> RUNNING event, jobs still QUEUED)."""
    events, jobs = tables.job_events, tables.jobs
    starts = (
        sa.select(events.c.job_id, sa.func.count().label("n"))
        .where(events.c.type == "status", events.c.message == "Status queued -> running")
        .group_by(events.c.job_id)
        .subquery()
    )
    with engine.connect() as conn:
        twice = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(starts.c.n - 1), 0)).where(starts.c.n > 1)
        ).scalar()
        left = conn.execute(
            sa.select(sa.func.count())
            .select_from(jobs)
            .where(jobs.c.status == JobStatus.QUEUED.value)
        ).scalar()
    return int(twice or 0), int(left or 0)


def main(argv: list[str] | None = None) -> int:
    """Measure on each database named; print one line each, then the double claims."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--databases", default="sqlite,postgresql", help="which, comma-separated")
    parser.add_argument("--jobs", type=int, default=10_000, help="queued jobs to claim")
    parser.add_argument("--replicas", type=int, default=3, help="scheduler processes")
    parser.add_argument("--workspaces", type=int, default=10, help="workspaces the jobs are in")
    args = parser.parse_args(argv)
    print(
        f"claim throughput: {args.replicas} scheduler replicas, {args.jobs:,} jobs, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    doubles = 0
    with tempfile.TemporaryDirectory(prefix="tuneyard-claims-db-") as tmp:
        try:
            for kind in (k.strip() for k in args.databases.split(",")):
                if kind == "sqlite":
                    url = f"sqlite:///{Path(tmp) / 'claims.db'}"
                elif kind in ("postgresql", "postgres"):
                    url = postgres.fresh_url()
                else:
                    parser.error(f"unknown database {kind}")
                result = measure(
                    url,
                    jobs=args.jobs,
                    replicas=args.replicas,
                    workspaces=args.workspaces,
                    name=kind,
                )
                doubles += result.double_claims
                print("  " + result.line(), flush=True)
        finally:
            postgres.stop()
    print(f"double claims: {doubles}")
    return 0 if doubles == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
