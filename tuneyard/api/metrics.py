"""`Metrics`: the process's Prometheus metrics, served at `GET /metrics` (no key, like most
exporters; `--no-metrics` turns it off).

Each `Metrics` has its own `CollectorRegistry` (never the library's global one), so apps
built side by side in one process do not collide. It is also the scheduler's
`tuneyard.core.meter.Meter`: the scheduler calls it as workers start, train and go, and
never sees Prometheus. Jobs by state and open streams are read when scraped (a `GROUP BY`
on the jobs table, a look at the stream counter), not kept in step: the unfinished states
at every scrape (an index range: few rows, however many jobs have finished), the finished
ones (succeeded, failed, cancelled: nearly every row at a million jobs) at most once every
`finished_max_age_s`.

| name | type | labels |
|---|---|---|
| tuneyard_jobs | gauge | workspace, state |
| tuneyard_queue_wait_seconds | histogram | |
| tuneyard_worker_starts_total | counter | |
| tuneyard_worker_losses_total | counter | reason (exited, lease_expired) |
| tuneyard_trained_tokens_total | counter | |
| tuneyard_training_tokens_per_second | gauge | job_id (this process's running workers) |
| tuneyard_http_requests_total | counter | method, route, status, dialect |
| tuneyard_http_request_duration_seconds | histogram | method, route, status, dialect |
| tuneyard_open_streams | gauge | workspace |

plus the library's `process_*`, `python_gc_*` and `python_info`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from tuneyard import errors
from tuneyard.core.ports import JobRepository
from tuneyard.core.states import TERMINAL, JobStatus

__all__ = ["LATENCY_BUCKETS", "QUEUE_WAIT_BUCKETS", "Metrics"]

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
"""Request latency buckets (seconds): fine below 25 ms, where a healthy GET lands."""
QUEUE_WAIT_BUCKETS = (1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200, 21600, 86400)
"""Queue wait buckets (seconds): from a free slot at once to a day behind others."""

_LABELS = ("method", "route", "status", "dialect")
_UNFINISHED = frozenset(JobStatus) - TERMINAL


class Metrics:
    """The process's metrics in their own registry; also the scheduler's `Meter`."""

    def __init__(self, *, finished_max_age_s: float = 60.0) -> None:
        registry = CollectorRegistry()
        self.registry = registry
        self.finished_max_age_s = finished_max_age_s
        """How long a count of finished jobs is reported before it is counted again."""
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        self.queue_wait = Histogram(
            "tuneyard_queue_wait_seconds",
            "Time a job waited queued before a scheduler claimed it.",
            buckets=QUEUE_WAIT_BUCKETS,
            registry=registry,
        )
        self.worker_starts = Counter(
            "tuneyard_worker_starts", "Training workers launched.", registry=registry
        )
        self.worker_losses = Counter(
            "tuneyard_worker_losses",
            "Training workers lost: ended with no final event though not stopped (exited), "
            "or their job's lease lapsed (lease_expired).",
            ["reason"],
            registry=registry,
        )
        for reason in ("exited", "lease_expired"):  # shown as 0 before the first loss
            self.worker_losses.labels(reason)
        self.trained_tokens = Counter(
            "tuneyard_trained_tokens",
            "Tokens trained by this process's workers (rate() of it: tokens per second).",
            registry=registry,
        )
        self.tokens_per_second = Gauge(
            "tuneyard_training_tokens_per_second",
            "Training speed each running worker of this process last reported.",
            ["job_id"],
            registry=registry,
        )
        self.requests = Counter(
            "tuneyard_http_requests",
            "HTTP requests answered, by route template, method, status and dialect.",
            _LABELS,
            registry=registry,
        )
        self.latency = Histogram(
            "tuneyard_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response.",
            _LABELS,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._per_request: dict[tuple[str, str, int, str], tuple[Any, Any]] = {}
        self._watching = False

    def watch(self, jobs: JobRepository, open_streams: Callable[[], Mapping[str, int]]) -> None:
        """Report jobs by state and open streams, read at each scrape (once per Metrics)."""
        if not self._watching:
            self.registry.register(_State(jobs, open_streams, self.finished_max_age_s))
            self._watching = True

    # -- requests (called by tuneyard.api.observe) ---------------------------------------
    def request(self, method: str, route: str, status: int, dialect: str, seconds: float) -> None:
        """Count one answered request and its latency."""
        key = (method, route, status, dialect)
        children = self._per_request.get(key)
        if children is None:
            values = (method, route, str(status), dialect)
            children = (self.requests.labels(*values), self.latency.labels(*values))
            self._per_request[key] = children
        children[0].inc()
        children[1].observe(seconds)

    # -- the scheduler's Meter -----------------------------------------------------------
    def job_claimed(self, waited_s: float) -> None:
        """Observe a claimed job's time in the queue."""
        self.queue_wait.observe(max(0.0, waited_s))

    def worker_started(self) -> None:
        """Count a worker launched."""
        self.worker_starts.inc()

    def worker_lost(self, reason: str) -> None:
        """Count a worker lost."""
        self.worker_losses.labels(reason).inc()

    def trained(self, job_id: str, tokens: int, tokens_per_s: float) -> None:
        """Count new tokens trained; set the job's current rate."""
        if tokens > 0:
            self.trained_tokens.inc(tokens)
        self.tokens_per_second.labels(job_id).set(tokens_per_s)

    def worker_exited(self, job_id: str) -> None:
        """Drop the job's rate: it has no running worker here any more."""
        with contextlib.suppress(KeyError):
            self.tokens_per_second.remove(job_id)

    # -- exposition ----------------------------------------------------------------------
    def endpoint(self) -> Response:
        """`GET /metrics`: every metric in Prometheus' text format (run in a thread: it
        queries the database)."""
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class _State(Collector):
    """Jobs by state and workspace and open streams by workspace, read when scraped."""

    def __init__(
        self,
        jobs: JobRepository,
        open_streams: Callable[[], Mapping[str, int]],
        finished_max_age_s: float,
    ) -> None:
        self.jobs = jobs
        self.open_streams = open_streams
        self.finished_max_age_s = finished_max_age_s
        self._finished: tuple[float, dict[tuple[str, JobStatus], int]] | None = None

    def describe(self) -> Iterable[GaugeMetricFamily]:
        """The families' names, without reading anything (no query at registration)."""
        return [_jobs_family(), _streams_family()]

    def collect(self) -> Iterable[GaugeMetricFamily]:
        """Every workspace with jobs, with a sample for each state (0 where it has none);
        no `tuneyard_jobs` at all when the database cannot be read."""
        families = []
        try:
            counts = {**self.jobs.count_by_state(_UNFINISHED), **self._count_finished()}
        except errors.StorageError as exc:
            log.warning("metrics: could not count jobs: %s", exc)
        else:
            jobs = _jobs_family()
            for workspace in sorted({w for w, _ in counts}):
                for state in JobStatus:
                    jobs.add_metric([workspace, state.value], counts.get((workspace, state), 0))
            families.append(jobs)
        streams = _streams_family()
        for workspace, count in sorted(self.open_streams().items()):
            streams.add_metric([workspace], count)
        families.append(streams)
        return families

    def _count_finished(self) -> dict[tuple[str, JobStatus], int]:
        """Finished jobs per (workspace, state), counted again once the last count is
        older than `finished_max_age_s`."""
        now = time.monotonic()
        if self._finished is None or now - self._finished[0] >= self.finished_max_age_s:
            self._finished = (now, self.jobs.count_by_state(TERMINAL))
        return self._finished[1]


def _jobs_family() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "tuneyard_jobs",
        "Jobs (not deleted) in each state, per workspace.",
        labels=["workspace", "state"],
    )


def _streams_family() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "tuneyard_open_streams", "Event streams open now, per workspace.", labels=["workspace"]
    )
