"""The scheduler-side use-cases: validate → queue → claim → record progress → finish.

The scheduler decides *when*; this module decides *what* each step does to a job, so the
same rules hold whatever executor runs the worker.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime

from tuneyard.core import artifacts, protocol, recording, results, validation
from tuneyard.core.catalog import Models
from tuneyard.core.jobs import Job, TrainingSpec
from tuneyard.core.ports import Fence, Ports
from tuneyard.core.states import JobStatus
from tuneyard.core.timeline import Timeline
from tuneyard.core.transitions import Transitions
from tuneyard.core.uploads import Uploads
from tuneyard.core.validation import Validation
from tuneyard.core.weights import Weights
from tuneyard.core.workdirs import WorkDirs

__all__ = ["Lifecycle"]

_S = JobStatus
_MAX_ATTEMPTS = 3


class Lifecycle:
    """What happens to a job from validation to its final status."""

    def __init__(
        self,
        ports: Ports,
        *,
        transitions: Transitions,
        validation: Validation,
        models: Models,
        weights: Weights,
        dirs: WorkDirs,
        uploads: Uploads,
        events: Timeline,
    ) -> None:
        self.ports = ports
        self.transitions = transitions
        self.validation = validation
        self.models = models
        self.weights = weights
        self.dirs = dirs
        self.uploads = uploads
        self.events = events

    def validate(
        self, job: Job, *, owner: str | None = None, lease_until: datetime | None = None
    ) -> None:
        """CREATED -> VALIDATING -> QUEUED, or FAILED (see `Validation.validate`)."""
        self.validation.validate(job, owner=owner, lease_until=lease_until)

    # -- running ------------------------------------------------------------------------
    def claim(self, owner: str, lease_until: datetime) -> Job | None:
        """QUEUED -> RUNNING for the oldest queued job, under `owner`'s lease (logged with
        its attempt); None when none is queued."""
        return self.transitions.claim(owner, lease_until)

    def training_spec(self, job: Job) -> TrainingSpec:
        """The worker's spec for a claimed job, written to `<job dir>/spec.json`; with a
        bucket its inputs are object keys there (see `TrainingSpec.storage`)."""
        stored = self.ports.files.get(job.training_file_id or "")
        if stored is None:
            raise FileNotFoundError(f"file {job.training_file_id} of job {job.id} is gone")
        work_dir = self.dirs.job(job.id)
        path, fmt, _ = validation.locate(self.ports, job, stored)
        parent = (
            self.weights.start_point(job.workspace_id, job.parent, param="parent")
            if job.parent is not None
            else None
        )
        held_out = self.ports.files.get(job.validation_file_id or "")
        validation_path, validation_format, _ = (
            validation.locate(self.ports, job, held_out) if held_out else (None, None, None)
        )
        spec = TrainingSpec(
            job_id=job.id,
            task_type=job.task_type,
            method=job.method,
            base_model=self.models.get(job.base_model).ref(),
            dataset_path=str(path),
            dataset_filename=stored.filename,
            dataset_format=fmt,
            hyperparameters=job.hyperparameters,
            output_dir=str(work_dir / "output"),
            work_dir=str(work_dir),
            objective=job.objective,
            start_from=str(parent.path) if parent else None,
            start_from_method=parent.method if parent else None,
            validation_path=str(validation_path) if validation_path else None,
            validation_filename=held_out.filename if held_out else None,
            validation_format=validation_format,
        )
        where = self.ports.artifacts.location()
        if where is not None:  # the worker may be elsewhere: name the objects, not paths
            start = None
            if parent is not None:
                part = (
                    artifacts.OUTPUT
                    if parent.step is None
                    else artifacts.checkpoint_part(parent.step)
                )
                start = artifacts.job_object(where, parent.job.id, part)
            spec = dataclasses.replace(
                spec,
                storage=where,
                dataset_path=artifacts.blob_object(where, stored.blob_key),
                validation_path=(
                    artifacts.blob_object(where, held_out.blob_key) if held_out else None
                ),
                start_from=start,
            )
        work_dir.mkdir(parents=True, exist_ok=True)
        tmp = work_dir / "spec.json.tmp"
        tmp.write_text(json.dumps(spec.to_dict(), indent=2))
        tmp.replace(work_dir / "spec.json")
        return spec

    def record(self, job_id: str, event: protocol.Event) -> None:
        """Apply one worker event to the job's progress and timeline."""
        recording.record(self.ports, job_id, event)

    def finish(
        self,
        job_id: str,
        final: protocol.Event | None,
        exit_code: int | None,
        log_tail: str,
        *,
        shutting_down: bool,
        owner: str | None = None,
    ) -> None:
        """Settle a job whose worker has exited, from its last event and exit status; with
        `owner`, only while that scheduler still holds the job's lease (one that lost it
        to another scheduler changes nothing)."""
        job = self.ports.jobs.get(job_id)
        if job is None or job.status not in (_S.RUNNING, _S.CANCELLING, _S.PAUSING):
            return
        fence = Fence(held_by=owner) if owner is not None else None
        now = self.ports.clock.now()
        if job.status is _S.CANCELLING:
            self.transitions.move(job, _S.CANCELLED, fence, finished_at=now, lease_owner=None)
            return
        if job.status is _S.PAUSING and not isinstance(final, protocol.Succeeded | protocol.Failed):
            self._paused(job, final, fence)
            return
        match final:
            case protocol.Succeeded() if exit_code == protocol.EXIT_OK:
                metrics_file = results.store(job, events=self.events, uploads=self.uploads)
                progress = dataclasses.replace(
                    job.progress, weights_saved=True, result_files=[metrics_file.id]
                )
                self.ports.jobs.save_progress(job.id, progress, now)
                self.transitions.move(
                    job,
                    _S.SUCCEEDED,
                    fence,
                    finished_at=now,
                    lease_owner=None,
                    output_path=str(self.dirs.job(job.id) / "output"),
                )
            case _ if shutting_down or isinstance(final, protocol.Cancelled):
                self.requeue(
                    job, "The server stopped; the job will run again", lost=False, fence=fence
                )
            case protocol.Failed():
                self.fail(job, final.code, final.message, fence=fence)
            case None if exit_code is not None and exit_code < 0:
                self.requeue(
                    job,
                    f"The training worker was killed (signal {-exit_code}); the job will run "
                    "again from its last checkpoint",
                    lost=True,
                    fence=fence,
                )
            case _:
                tail = log_tail.strip().splitlines()[-1:] or ["no output"]
                self.fail(
                    job,
                    "train.unknown",
                    f"The training worker exited with status {exit_code}: {tail[0][:500]}",
                    fence=fence,
                )

    def requeue(
        self,
        job: Job,
        reason: str,
        *,
        lost: bool,
        fence: Fence | None = None,
    ) -> None:
        """RUNNING -> QUEUED to run again (fenced as `Transitions.move` is). Only a `lost`
        worker (killed, or its lease lapsed) counts in `job.attempts`, and the third one
        FAILs the job; a clean stop (`lost=False`) is not an attempt: the run simply goes
        on where it stopped."""
        attempts = job.attempts + 1 if lost else job.attempts
        if lost and attempts >= _MAX_ATTEMPTS:
            message = f"{reason}; gave up after {attempts} attempts"
            self.fail(job, "train.unknown", message, attempts=attempts, fence=fence)
            return
        now = self.ports.clock.now()
        if not self.transitions.move(
            job,
            _S.QUEUED,
            fence,
            queued_at=now,
            lease_owner=None,
            attempts=attempts,
        ):
            return
        self.ports.events.append(
            job.id,
            created_at=self.ports.clock.now(),
            level="warn",
            type="message",
            message=reason,
        )

    def _paused(
        self,
        job: Job,
        final: protocol.Event | None,
        fence: Fence | None = None,
    ) -> None:
        """PAUSING -> PAUSED once the worker is gone (fenced as `Transitions.move` is);
        resuming starts from the newest checkpoint (the one the worker saved as it paused,
        if it got to)."""
        if not self.transitions.move(job, _S.PAUSED, fence, lease_owner=None):
            return
        step = final.step if isinstance(final, protocol.Paused) else None
        self.ports.events.append(
            job.id,
            created_at=self.ports.clock.now(),
            level="info",
            type="message",
            message=(
                f"Paused at step {step}; resuming continues from there"
                if step is not None
                else "Paused; resuming continues from the newest checkpoint"
            ),
            data={"step": step},
        )

    def reap(self, job: Job, now: datetime | None = None) -> None:
        """Settle a job whose lease had expired by `now` (or that has none): its owner is
        gone. Each move is fenced on the lease still being lapsed, so a job another
        scheduler has taken since it was read (reaped and claimed again) is left alone."""
        fence = Fence(lapsed_by=self.ports.clock.now() if now is None else now)
        if job.status is _S.VALIDATING:
            moved = self.transitions.move(
                job, _S.CREATED, fence, lease_owner=None, lease_expires_at=None
            )
            if moved:
                self.ports.events.append(
                    job.id,
                    created_at=self.ports.clock.now(),
                    level="warn",
                    type="message",
                    message="Validation was interrupted (its server stopped); checking the "
                    "dataset again",
                )
        elif job.status is _S.CANCELLING:
            moved = self.transitions.move(
                job, _S.CANCELLED, fence, finished_at=self.ports.clock.now()
            )
            if moved and job.deleted:  # its owner died before it could clear the folder
                self.dirs.purge(job.id)
        elif job.status is _S.PAUSING:
            self._paused(job, None, fence)
        else:
            self.requeue(
                job,
                "The worker was lost (lease expired); the job will run again",
                lost=True,
                fence=fence,
            )

    # -- helpers ------------------------------------------------------------------------
    def fail(
        self,
        job: Job,
        code: str,
        message: str,
        *,
        kind: str | None = None,
        param: str | None = None,
        attempts: int | None = None,
        fence: Fence | None = None,
    ) -> bool:
        """Move a job to FAILED with a failure reason and message (see `Transitions.fail`)."""
        return self.transitions.fail(
            job,
            code,
            message,
            kind=kind,
            param=param,
            attempts=attempts,
            fence=fence,
        )
