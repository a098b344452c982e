"""The scheduler loop: reap → validate → cancel → renew → claim and launch; one watcher per worker.

One thread ticks every `poll_seconds`; each launched worker gets a watcher thread that feeds
its protocol lines to `Lifecycle.record` and settles the job when the worker exits. Leases
make a crashed server's jobs recoverable: a job is VALIDATING, RUNNING, CANCELLING or
PAUSING only under a lease its scheduler renews, and whoever ticks after the lease runs out
(or finds a job with none) settles it: validation starts again, a run is requeued (a lost
worker: one attempt used), a cancel or pause completes. CREATED and QUEUED jobs are picked
up by the next tick of any scheduler, so a restarted server resumes everything it left.
`stop()` terminates the workers and requeues their jobs, so nothing is left RUNNING.

Several schedulers (replicas, `tuneyard serve --role scheduler`) may share one database;
each has its own `owner` id. Every move they make is a compare-and-set fenced on the lease:
a claim or the move to VALIDATING has one winner; a scheduler settles (or validates on)
a job only while it still holds the job's lease, and reaps one only while its lease is
still lapsed at the moment of the write. A scheduler whose heartbeat finds that it lost
a lease (it stalled past the lease and another took the job over) kills its worker, so
one job never has two.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid

from tuneyard.core import protocol
from tuneyard.core.jobs import Job
from tuneyard.core.lifecycle import Lifecycle
from tuneyard.core.meter import NO_METER, Meter
from tuneyard.core.ports import Executor, Fence, WorkerHandle
from tuneyard.core.states import LEASED, JobStatus, is_terminal

__all__ = ["Scheduler", "owner_id"]

log = logging.getLogger(__name__)

_KILL_AFTER_S = 10.0
_PAUSE_KILL_AFTER_S = 600.0
"""How long a pausing worker may take to save its checkpoint before it is killed."""


class _Running:
    def __init__(self, job_id: str, handle: WorkerHandle) -> None:
        self.job_id = job_id
        self.handle = handle
        self.terminated_at: float | None = None
        self.paused_only = False
        """The worker was asked to pause (SIGUSR1) and has not been told to stop since."""
        self.thread: threading.Thread | None = None
        self.lost = False
        """Another scheduler took the job over (this one's lease lapsed): its worker was
        killed and nothing it reports is recorded."""
        self.trained_tokens = 0
        """The job's trained tokens last reported (the meter counts what is new)."""


def owner_id() -> str:
    """A lease owner name no other scheduler shares, and that tells an operator where it
    runs: `<host>-<pid>-<random>`."""
    return f"{socket.gethostname()[:32]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class Scheduler:
    """Runs queued jobs through an executor, at most `max_running` at a time, FIFO."""

    def __init__(
        self,
        lifecycle: Lifecycle,
        executor: Executor,
        *,
        max_running: int = 1,
        lease_seconds: float = 15.0,
        poll_seconds: float = 0.5,
        meter: Meter = NO_METER,
    ) -> None:
        self.lifecycle = lifecycle
        self.meter = meter
        self.ports = lifecycle.ports
        self.executor = executor
        self.max_running = max_running
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.owner = owner_id()
        """This scheduler's name on the leases it holds, unique among replicas."""
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._validators = concurrent.futures.ThreadPoolExecutor(
            max_workers=2, thread_name_prefix="tuneyard-validate"
        )
        self._validating: set[str] = set()
        self._renewed_at = -float("inf")

    # -- life of the scheduler ----------------------------------------------------------
    def start(self) -> None:
        """Tick in a background thread until `stop()`."""
        self._thread = threading.Thread(target=self._loop, name="tuneyard-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop ticking, stop every worker and requeue its job (or cancel a cancelling one)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            running = list(self._running.values())
        for run in running:
            run.handle.terminate()
        deadline = time.monotonic() + timeout
        for run in running:
            if run.handle.wait(max(0.0, deadline - time.monotonic())) is None:
                run.handle.kill()
            if run.thread is not None:
                run.thread.join(max(1.0, deadline - time.monotonic()))
        self._validators.shutdown(wait=True, cancel_futures=True)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.tick()
            except Exception:  # a tick must never kill the scheduler
                log.exception("scheduler tick failed")
            self._stopping.wait(self.poll_seconds)

    # -- one pass -----------------------------------------------------------------------
    def tick(self) -> None:
        """One pass over the queue: every step is idempotent."""
        self._reap()
        self._validate_new()
        self._stop_cancelled()
        self._renew_leases()
        self._launch_queued()

    def running_jobs(self) -> list[str]:
        """Ids of the jobs this scheduler's workers are training."""
        with self._lock:
            return list(self._running)

    def _reap(self) -> None:
        now = self.ports.clock.now()
        for job in self.ports.jobs.expired_leases(now):
            with self._lock:
                mine = job.id in self._running or job.id in self._validating
            if not mine:
                log.warning("job %s lost its owner (lease expired); settling it", job.id)
                if job.status is not JobStatus.VALIDATING:  # a worker was running it
                    self.meter.worker_lost("lease_expired")
                self.lifecycle.reap(job, now)

    def _validate_new(self) -> None:
        for job in self.ports.jobs.with_status(JobStatus.CREATED, limit=10):
            with self._lock:
                if job.id in self._validating:
                    continue
                self._validating.add(job.id)
            self._validators.submit(self._validate, job)

    def _validate(self, job: Job) -> None:
        try:
            until = self.ports.clock.now() + self.lease
            self.lifecycle.validate(job, owner=self.owner, lease_until=until)
        except Exception as exc:
            log.exception("validating job %s failed", job.id)
            fresh = self.ports.jobs.get(job.id)
            if fresh is not None and fresh.status in (JobStatus.CREATED, JobStatus.VALIDATING):
                # A VALIDATING job is failed only under our own lease, never another's.
                ours = fresh.status is JobStatus.VALIDATING
                message = f"The dataset could not be read: {exc}"
                self.lifecycle.fail(fresh, "file.error", message, fence=self._fence(ours))
        finally:
            with self._lock:
                self._validating.discard(job.id)

    def _stop_cancelled(self) -> None:
        """Stop the workers of CANCELLING jobs (SIGTERM, then SIGKILL) and PAUSING ones
        (SIGUSR1: save a checkpoint and exit; SIGKILL if that takes far too long)."""
        with self._lock:
            running = list(self._running.values())
        for run in running:
            job = self.ports.jobs.get(run.job_id)
            if job is None or job.status not in (JobStatus.CANCELLING, JobStatus.PAUSING):
                continue
            pausing = job.status is JobStatus.PAUSING
            if run.terminated_at is None or (not pausing and run.paused_only):
                log.info("%s job %s", "pausing" if pausing else "cancelling", run.job_id)
                if pausing:
                    run.handle.pause()
                else:
                    run.handle.terminate()
                run.terminated_at = time.monotonic()
                run.paused_only = pausing
            elif time.monotonic() - run.terminated_at > (
                _PAUSE_KILL_AFTER_S if pausing else _KILL_AFTER_S
            ):
                run.handle.kill()

    def _renew_leases(self) -> None:
        """Heartbeat: extend the leases of our jobs (validating or running) every third
        of the lease time."""
        if time.monotonic() - self._renewed_at < self.lease.total_seconds() / 3:
            return
        self._renewed_at = time.monotonic()
        until = self.ports.clock.now() + self.lease
        with self._lock:
            running = dict(self._running)
            validating = list(self._validating)
        for job_id in validating:
            self.ports.jobs.renew_lease(job_id, self.owner, until)
        for job_id, run in running.items():
            if not self.ports.jobs.renew_lease(job_id, self.owner, until):
                self._lost(run)

    def _lost(self, run: _Running) -> None:
        """A renewal failed: unless the job was just settled (its worker is gone), another
        scheduler took it over after our lease lapsed. Kill our worker at once (the new
        owner's runs from the last checkpoint) and record nothing more of it."""
        job = self.ports.jobs.get(run.job_id)
        if job is None or run.lost or run.handle.wait(0) is not None:
            return
        if job.status in LEASED or job.status is JobStatus.QUEUED:
            log.warning("job %s was taken over by another scheduler; killing its worker", job.id)
            run.lost = True
            run.handle.kill()

    def _fence(self, ours: bool = True) -> Fence | None:
        """The fence of a move made on a job this scheduler holds (None: not fenced)."""
        return Fence(held_by=self.owner) if ours else None

    def _launch_queued(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                if len(self._running) >= self.max_running:
                    return
            job = self.lifecycle.claim(self.owner, self.ports.clock.now() + self.lease)
            if job is None:
                return
            if job.started_at is not None and job.queued_at is not None:
                self.meter.job_claimed((job.started_at - job.queued_at).total_seconds())
            self._launch(job)

    def _launch(self, job: Job) -> None:
        try:
            spec = self.lifecycle.training_spec(job)
            handle = self.executor.launch(spec)
        except Exception as exc:
            log.exception("could not start a worker for job %s", job.id)
            message = f"Could not start the training worker: {exc}"
            self.lifecycle.fail(job, "train.unknown", message, fence=self._fence())
            return
        self.meter.worker_started()
        run = _Running(job.id, handle)
        run.trained_tokens = job.progress.trained_tokens or 0
        run.thread = threading.Thread(
            target=self._watch, args=(run,), name=f"tuneyard-watch-{job.id}", daemon=True
        )
        with self._lock:
            self._running[job.id] = run
        log.info("job %s started (attempt %d)", job.id, job.attempts + 1)
        run.thread.start()

    def _watch(self, run: _Running) -> None:
        final: protocol.Event | None = None
        try:
            for line in run.handle.lines():
                event = protocol.decode(line)
                if event is None:
                    continue
                if run.lost:
                    continue
                self.lifecycle.record(run.job_id, event)
                if isinstance(event, protocol.Step):
                    new = max(0, event.trained_tokens - run.trained_tokens)
                    run.trained_tokens = max(run.trained_tokens, event.trained_tokens)
                    self.meter.trained(run.job_id, new, event.tokens_per_s)
                if isinstance(event, protocol.FINAL):
                    final = event
            stopped = run.terminated_at is not None or run.lost or self._stopping.is_set()
            if final is None and not stopped:  # (a job taken over: its new owner counted it)
                self.meter.worker_lost("exited")
            exit_code = run.handle.wait(30.0)
            if exit_code is None:
                run.handle.kill()
                exit_code = run.handle.wait(5.0)
            if not run.lost:
                self.lifecycle.finish(
                    run.job_id,
                    final,
                    exit_code,
                    run.handle.log_tail(),
                    shutting_down=self._stopping.is_set(),
                    owner=self.owner,
                )
        except Exception:
            log.exception("watching job %s failed", run.job_id)
            job = self.ports.jobs.get(run.job_id)
            if job is not None and job.status in (
                JobStatus.RUNNING,
                JobStatus.CANCELLING,
                JobStatus.PAUSING,
            ):
                message = "The scheduler lost track of the worker"
                self.lifecycle.fail(job, "train.unknown", message, fence=self._fence())
        finally:
            with self._lock:
                self._running.pop(run.job_id, None)
            self.meter.worker_exited(run.job_id)
            job = self.ports.jobs.get(run.job_id)
            if job is not None and job.deleted and is_terminal(job.status):
                self.lifecycle.dirs.purge(job.id)
            log.info("job %s finished: %s", run.job_id, job.status.value if job else "?")
