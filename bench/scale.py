"""Scale figures for issue 23: GET one job against a bare route, listing at a million
jobs, claim throughput.

    .venv/bin/python bench/scale.py [--databases sqlite,postgresql] [--seconds 10]
        [--connections 100] [--generators 2] [--jobs 1000000] [--no-training]
        [--skip-get] [--skip-listing] [--skip-claims]

For each database (SQLite in WAL mode; PostgreSQL started by the bench itself as a
non-root user, as the tests start it):

1. `--jobs` jobs are inserted directly into one workspace (executemany in batches, with
   their `job_counts` row), so the listing and the GET run against a full table.
2. A real `tuneyard serve` starts on that database (uvicorn, as a user starts it), and a
   bare Starlette route returning byte for byte the body of CLOVA's
   `GET /tuning/v2/tasks/{id}` starts under the same uvicorn settings.
3. Unless `--no-training`, a real training job (tiny-chat, LoRA, many epochs) is created
   through CLOVA and the measurement waits until it is RUNNING: the box trains while it
   serves.
4. `--connections` keep-alive connections GET the job for `--seconds`, spread over
   `--generators` load processes (raw asyncio sockets; `bench/loadgen.py`), first the bare
   route, then tuneyard: requests/s, p50 and p99 each, and the server's CPU per request.
5. The training job is cancelled (its worker gone), then one client lists the bulk
   workspace's jobs, 60 calls per case: the first page and a page
   deep in the listing (offset 800,000 of 1,000,000) of each dialect's list route (CLOVA
   page/size with totals, DashScope page_no/page_size with total, OpenAI's cursor,
   Qianfan's DescribeFineTuningTasks marker): p50 and p99.

Then claim throughput (bench/claim_throughput.py, on the same databases). The CPU model and the load
average before and after are printed; the last line is `ratio: N.NN` (tuneyard ÷ bare
requests/s on PostgreSQL, during training; on the last database measured if PostgreSQL
was not).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import fixtures, loadgen  # noqa: E402
from tests.support import postgres  # noqa: E402
from tests.support.clients import Qianfan  # noqa: E402
from tests.support.server import Server, free_port  # noqa: E402
from tuneyard import runtime  # noqa: E402
from tuneyard.kinds import Objective  # noqa: E402
from tuneyard.settings import Settings  # noqa: E402
from tuneyard.storage import database, sql, tables  # noqa: E402

WORKSPACE = "bench"
BULK = "bulk"
DEEP_OFFSET = 800_000
PAGE = 20
LIST_CALLS = 60


@dataclasses.dataclass
class Seeded:
    """What the bench made before the server started: keys, a job to GET, a group."""

    key: str
    bulk_key: str
    access_key: str
    secret_key: str
    job_id: str
    group_id: str
    deep_id: str | None


def _cpu() -> str:
    out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def _server_stack() -> str:
    """What uvicorn runs both servers on (its "auto" choices: uvloop and httptools when
    installed, as tuneyard's dependencies install them; else asyncio and h11)."""
    from importlib import metadata, util

    def version(name: str) -> str:
        return f"{name} {metadata.version(name)}"

    loop = version("uvloop") if util.find_spec("uvloop") else "asyncio"
    http = version("httptools") if util.find_spec("httptools") else version("h11")
    return f"{version('uvicorn')}, loop {loop}, HTTP parser {http} (both servers)"


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def _bulk_rows(count: int, group_id: str, start: dt.datetime) -> Iterator[dict[str, Any]]:
    """The bulk workspace's jobs as table rows, one millisecond apart."""
    template = sql._row(fixtures.job("x", BULK, start, group_id=group_id))
    for i in range(count):
        when = start + dt.timedelta(milliseconds=i)
        yield {**template, "id": f"b{i:09d}", "display_name": f"b{i}", "created_at": when,
               "updated_at": when}  # fmt: skip


def insert_bulk(engine: sa.Engine, count: int, group_id: str) -> str | None:
    """Insert `count` jobs into the bulk workspace directly (batches of 5,000) and their
    count; the id of the job DEEP_OFFSET from the newest (None if there are fewer)."""
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    batch: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for row in _bulk_rows(count, group_id, start):
            batch.append(row)
            if len(batch) == 5000:
                conn.execute(tables.jobs.insert(), batch)
                batch = []
        if batch:
            conn.execute(tables.jobs.insert(), batch)
        conn.execute(
            tables.job_counts.insert().values(workspace_id=BULK, base_model="tiny-chat", live=count)
        )
    if engine.dialect.name == "postgresql":
        vacuum(engine.url)
    # SQLite is left un-ANALYZEd, as tuneyard leaves it: its statistics have no histogram,
    # and with one status on a million rows they make the scheduler's status lookups scan
    position = count - 1 - DEEP_OFFSET  # newest first
    return f"b{position:09d}" if position >= 0 else None


def vacuum(url: str | sa.URL) -> None:
    """VACUUM ANALYZE the jobs on PostgreSQL, as autovacuum would soon after a bulk load:
    statistics, and the visibility map that index-only scans rely on. Seen here: run right
    after the load, it left the pages not all-visible (every index-only scan then read the
    heap), so the listing runs it again first. Then a CHECKPOINT, so that the bulk load's
    gigabyte of WAL is not flushed in the middle of the measurement (a one-off of the load,
    seen as single 50–90 ms calls among fast ones)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("VACUUM ANALYZE jobs")
        conn.exec_driver_sql("CHECKPOINT")
    engine.dispose()


def seed(data_dir: Path, url: str, jobs: int) -> Seeded:
    """Migrate the database, make the keys, the job to GET and the bulk workspace."""
    settings = Settings.load({"data_dir": data_dir, "database_url": url})
    live = runtime.build(settings)
    service = live.service
    key = service.credentials.create_key(WORKSPACE)
    bulk_key = service.credentials.create_key(BULK)
    access_key, secret_key = service.credentials.create_access_key(BULK)
    group = service.groups.create(
        BULK, name="bulk", description="", base_model="tiny-chat",
        objective=Objective.SFT, created_by=None, echo={},
    )  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    service.ports.jobs.add(fixtures.job("getme0001", WORKSPACE, now))
    live.service.ports.jobs.engine.dispose()  # type: ignore[attr-defined]
    engine = database.connect(url)
    started = time.monotonic()
    deep_id = insert_bulk(engine, jobs, group.id) if jobs else None
    engine.dispose()
    if jobs:
        print(f"  inserted {jobs:,} jobs in {time.monotonic() - started:.0f} s", flush=True)
    return Seeded(key, bulk_key, access_key, secret_key, "getme0001", group.id, deep_id)


def start_bare(body: bytes, root: Path) -> tuple[subprocess.Popen[bytes], int]:
    """The bare Starlette route, under the same uvicorn settings as `tuneyard serve`."""
    path = root / "bare-body.json"
    path.write_bytes(body)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__)), "--bare-server", str(port), str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/job").status_code == 200:
                return process, port
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("the bare server did not start")


def serve_bare(port: int, body_path: str) -> None:
    """Run the bare route (the child process `start_bare` starts)."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    body = Path(body_path).read_bytes()

    async def one(request: Request) -> Response:
        return Response(body, media_type="application/json")

    app = Starlette(routes=[Route("/job", one)])
    settings = Settings.load({})  # the log level `tuneyard serve` runs with by default
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level=settings.log_level, lifespan="on"
    )
    gc.collect()  # as `tuneyard serve` does before serving
    gc.freeze()
    uvicorn.Server(config).run()


def start_training(server: Server, key: str) -> str:
    """A real CLOVA training job that outlasts the measurement (the sample dataset 50
    times over, 20 epochs; cancelled at the end); its id once RUNNING."""
    header, *rows = (ROOT / "examples" / "clova-generation.csv").read_bytes().splitlines()
    csv = b"\n".join([header, *(rows * 50)]) + b"\n"
    response = server.client.post(
        "/tuning/v2/tasks",
        headers={"Authorization": f"Bearer {key}"},
        data={"model": "tiny-chat", "trainEpochs": "20", "learningRate": "1e-4"},
        files={"file": ("train.csv", csv, "text/csv")},
    )
    response.raise_for_status()
    task_id = str(response.json()["result"]["id"])
    server.poll_task(key, task_id, {"RUNNING", "SUCCEEDED", "FAILED"}, timeout=600)
    return task_id


def stop_training(server: Server, key: str, task_id: str) -> None:
    """Delete (cancel) the training job and wait until its worker process is gone, so the
    listing is measured on a box that does not train."""
    server.client.delete(f"/tuning/v2/tasks/{task_id}", headers={"Authorization": f"Bearer {key}"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and psutil.Process(server.process.pid).children():
        time.sleep(0.2)


def measure(
    name: str, pid: int, port: int, path: str, headers: dict[str, str], args: Any
) -> loadgen.Result:
    """One load run, printed with the server's CPU time per request."""
    process = psutil.Process(pid)
    before = sum(process.cpu_times()[:2])
    result = loadgen.run(
        "127.0.0.1", port, path, headers=headers, connections=args.connections,
        seconds=args.seconds, processes=args.generators,
    )  # fmt: skip
    used = sum(process.cpu_times()[:2]) - before
    per = used / result.requests * 1e6 if result.requests else 0.0
    print(f"  {result.line(name)}  server CPU {per:.0f} us/req", flush=True)
    return result


def _timed(call: Callable[[], httpx.Response]) -> tuple[float, float]:
    """p50 and p99 (ms) of LIST_CALLS calls, after 5 unmeasured ones."""
    times = []
    for i in range(LIST_CALLS + 5):
        start = time.perf_counter()
        response = call()
        took = time.perf_counter() - start
        if response.status_code != 200:
            raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
        if i >= 5:
            times.append(took * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def listing(server: Server, seeded: Seeded, jobs: int) -> None:
    """p50/p99 of the first and a deep page of each dialect's list route."""
    client = server.client
    bearer = {"Authorization": f"Bearer {seeded.bulk_key}"}
    deep_page = DEEP_OFFSET // PAGE if jobs > DEEP_OFFSET else max(0, jobs // PAGE - 1)
    qianfan = Qianfan(seeded.access_key, seeded.secret_key)

    def get(path: str) -> Callable[[], httpx.Response]:
        return lambda: client.get(path, headers=bearer)

    def describe(marker: str | None) -> Callable[[], httpx.Response]:
        body: dict[str, Any] = {"jobId": seeded.group_id, "maxKeys": PAGE}
        if marker:
            body["marker"] = marker

        def call() -> httpx.Response:
            qianfan.call(client, "DescribeFineTuningTasks", body)
            return httpx.Response(200)

        return call

    deep_marker = seeded.deep_id
    cases = [
        ("clova page 0", get(f"/tuning/v2/tasks?page=0&size={PAGE}")),
        (f"clova page {deep_page}", get(f"/tuning/v2/tasks?page={deep_page}&size={PAGE}")),
        ("dashscope page_no 1", get(f"/api/v1/fine-tunes?page_no=1&page_size={PAGE}")),
        (
            f"dashscope page_no {deep_page + 1}",
            get(f"/api/v1/fine-tunes?page_no={deep_page + 1}&page_size={PAGE}"),
        ),
        ("openai first page", get(f"/v1/fine_tuning/jobs?limit={PAGE}")),
        ("qianfan first page", describe(None)),
    ]
    if deep_marker:
        after = f"/v1/fine_tuning/jobs?after=ftjob-{deep_marker}&limit={PAGE}"
        cases += [
            ("openai after a deep job", get(after)),
            ("qianfan marker deep", describe(deep_marker)),
        ]
    for name, call in cases:
        p50, p99 = _timed(call)
        print(f"  list {name:<38} p50 {p50:6.1f} ms  p99 {p99:6.1f} ms", flush=True)


def run_database(kind: str, args: Any, root: Path) -> float | None:
    """Everything for one database; tuneyard ÷ bare requests/s (None if GET skipped)."""
    print(f"\n== {kind} ==", flush=True)
    data_dir = root / kind
    data_dir.mkdir()
    if kind == "postgresql":
        url = postgres.server().url(postgres.server().create_database())
    else:
        url = f"sqlite:///{data_dir / 'tuneyard.db'}"
    seeded = seed(data_dir, url, 0 if args.skip_listing else args.jobs)
    server = Server(data_dir, "--database-url", url)
    ratio = None
    bare: subprocess.Popen[bytes] | None = None
    training = None
    try:
        if not args.skip_get:
            headers = {"Authorization": f"Bearer {seeded.key}"}
            path = f"/tuning/v2/tasks/{seeded.job_id}"
            body = server.client.get(path, headers=headers).content
            bare, bare_port = start_bare(body, data_dir)
            if not args.no_training:
                training = start_training(server, seeded.key)
                print(f"  training job {training} is RUNNING", flush=True)
            during = "during training" if training else "no training"
            bare_result = measure(
                f"bare Starlette route ({during})", bare.pid, bare_port, "/job", {}, args
            )
            pid = server.process.pid
            ours = measure(f"tuneyard CLOVA GET ({during})", pid, server.port, path, headers, args)
            ratio = ours.rps / bare_result.rps if bare_result.rps else 0.0
            print(f"  {kind} ratio {ratio:.2f}", flush=True)
        if training:
            stop_training(server, seeded.key, training)
            training = None
        if not args.skip_listing:
            if kind == "postgresql":
                vacuum(url)
            listing(server, seeded, args.jobs)
    finally:
        if training:
            stop_training(server, seeded.key, training)
        if bare is not None:
            bare.terminate()
            bare.wait(30)
        server.close()
    return ratio


def claims(args: Any) -> None:
    """Claim throughput of several scheduler replicas (bench/claim_throughput.py)."""
    from bench import claim_throughput

    print("\n== claims ==", flush=True)
    claim_throughput.main(["--databases", args.databases])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--databases", default="sqlite,postgresql", help="which, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="each load run's length")
    parser.add_argument("--connections", type=int, default=100, help="keep-alive connections")
    parser.add_argument("--generators", type=int, default=2, help="load generator processes")
    parser.add_argument("--jobs", type=int, default=1_000_000, help="jobs in the bulk workspace")
    parser.add_argument("--no-training", action="store_true", help="no training job meanwhile")
    parser.add_argument("--skip-get", action="store_true", help="no GET measurement")
    parser.add_argument("--skip-listing", action="store_true", help="no bulk jobs, no listing")
    parser.add_argument("--skip-claims", action="store_true", help="no claim throughput")
    parser.add_argument("--bare-server", nargs=2, metavar=("PORT", "BODY"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare_server:
        serve_bare(int(args.bare_server[0]), args.bare_server[1])
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(f"CPU: {_cpu()}; {_load()}", flush=True)
    print(f"server: {_server_stack()}", flush=True)
    ratios: dict[str, float | None] = {}
    with tempfile.TemporaryDirectory(prefix="tuneyard-scale-") as tmp:
        try:
            for kind in args.databases.split(","):
                ratios[kind] = run_database(kind.strip(), args, Path(tmp))
        finally:
            postgres.stop()
    if not args.skip_claims:
        claims(args)
    print(f"\nafter: {_load()}")
    measured = [r for r in ratios.values() if r is not None]
    final = ratios.get("postgresql") or (measured[-1] if measured else 0.0)
    print(f"ratio: {final:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
