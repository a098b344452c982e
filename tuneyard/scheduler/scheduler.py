"""The scheduler loop: reap → validate → cancel → renew → claim and launch; one watcher per worker.

One thread ticks every `poll_seconds`; each launched worker gets a watcher thread that feeds
its protocol lines to `Lifecycle.record` and settles the job when the worker exits. Leases
make a crashed server's jobs recoverable: a job is VALIDATING, RUNNING, CANCELLING or
PAUSING only under a lease its scheduler renews, and whoever ticks after the lease runs out
(or finds a job with none) settles it: validation starts again, a run is requeued (a lost
worker: one attempt used), a cancel or pause completes. CREATED and QUEUED jobs are picked
up by the next tick of any scheduler, so a restarted server resumes everything it left.
`stop()` terminates the workers and requeues their jobs, so nothing is left RUNNING.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import logging
import threading
import time
import uuid

from tuneyard.core import protocol
from tuneyard.core.jobs import Job
from tuneyard.core.lifecycle import Lifecycle
from tuneyard.core.ports import Executor, WorkerHandle
from tuneyard.core.states import JobStatus

__all__ = ["Scheduler"]

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
    ) -> None:
        self.lifecycle = lifecycle
        self.ports = lifecycle.ports
        self.executor = executor
        self.max_running = max_running
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.owner = f"scheduler-{uuid.uuid4().hex[:12]}"
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
                self.lifecycle.reap(job)

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
                self.lifecycle.fail(fresh, "file.error", f"The dataset could not be read: {exc}")
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
            ours = [*self._running, *self._validating]
        for job_id in ours:
            self.ports.jobs.renew_lease(job_id, self.owner, until)

    def _launch_queued(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                if len(self._running) >= self.max_running:
                    return
            job = self.lifecycle.claim(self.owner, self.ports.clock.now() + self.lease)
            if job is None:
                return
            self._launch(job)

    def _launch(self, job: Job) -> None:
        try:
            spec = self.lifecycle.training_spec(job)
            handle = self.executor.launch(spec)
        except Exception as exc:
            log.exception("could not start a worker for job %s", job.id)
            self.lifecycle.fail(job, "train.unknown", f"Could not start the training worker: {exc}")
            return
        run = _Running(job.id, handle)
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
                self.lifecycle.record(run.job_id, event)
                if isinstance(event, protocol.FINAL):
                    final = event
            exit_code = run.handle.wait(30.0)
            if exit_code is None:
                run.handle.kill()
                exit_code = run.handle.wait(5.0)
            self.lifecycle.finish(
                run.job_id,
                final,
                exit_code,
                run.handle.log_tail(),
                shutting_down=self._stopping.is_set(),
            )
        except Exception:
            log.exception("watching job %s failed", run.job_id)
            job = self.ports.jobs.get(run.job_id)
            if job is not None and job.status in (
                JobStatus.RUNNING,
                JobStatus.CANCELLING,
                JobStatus.PAUSING,
            ):
                self.lifecycle.fail(job, "train.unknown", "The scheduler lost track of the worker")
        finally:
            with self._lock:
                self._running.pop(run.job_id, None)
            job = self.ports.jobs.get(run.job_id)
            if job is not None and job.deleted:
                self.lifecycle.dirs.purge(job.id)
            log.info("job %s finished: %s", run.job_id, job.status.value if job else "?")
